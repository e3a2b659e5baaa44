"""Stage: every dedup decision, made on small per-record metadata and routed to its spill run.

`DedupDecisions` takes the `DocMeta` of every spilled record and the spill runs (whose files hold
the dedup methods' feature columns, see transforms/dedup/features.py) and returns a
`DedupOutcome`: its main output is the decisions keyed by spill run
(`transforms.dedup.decisions.RouteDecisions`), plus the methods' apply-time states (the
boilerplate line set: stage 2 strips those lines), the near-dup audit sample, and the
`stats.json` sections (cluster-size histograms, boilerplate line count). In order:

1. duplicate ids: the first record in input order keeps the id; then, when given
   (`parts["decontam"]`), eval-set contamination removes its documents before any dedup;
2. every enabled `DedupMethod` (transforms/dedup/methods.py: exact, boilerplate, near, then the
   plugins), each over the records that survived the ones before it: their `DocMeta` for a
   method that reads metadata, else each spill run with the positions already dropped
   (`RunsWithDrops`: one CoGroupByKey of the runs with the dropped positions, built again only
   when a method dropped more).

Nothing here names a method: a method's removals, clusters, sections and state are collected
whatever it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import apache_beam as beam

from transforms.dedup.decisions import RouteDecisions, flatten_or_empty
from transforms.dedup.exact import ResolveDuplicateIds
from transforms.dedup.method import DedupMethod, MethodDecisions
from transforms.infra.disk_group import CoGroupByKeyOnDisk
from transforms.infra.stage_output import StageOutput


@dataclass
class DedupOutcome(StageOutput):
    # method name -> singleton PCollection of its apply-time state (`DedupMethod.rewrite`)
    states: dict[str, beam.PCollection] = field(default_factory=dict)
    rewriters: list[DedupMethod] = field(default_factory=list)  # methods with a `rewrite`
    audit: beam.PCollection | None = None  # audited near-dup pairs (a bounded sample)


def _loser_drop(loser):
    pos, _id, _source, _kept_pos, run = loser
    return run, pos


def _by_id(m):
    return m.id, m


def _removed_id(r):
    return r.id, None


def _survivor(keyed):
    _, grouped = keyed
    if not grouped["gone"]:
        yield from grouped["meta"]


def _dropped_row(keyed):
    _, grouped = keyed
    if grouped["gone"]:
        for m in grouped["meta"]:
            yield m.run, m.pos


class _Survivors:
    """The records still in play after each method: their metas and their spill-run rows.

    A method that returns `kept` narrows the metas and one that returns `dropped` the rows; a
    method that only returns removals (by id) is joined with the metas when a later method
    needs them (one CoGroupByKey per such need, none in the default chain).
    """

    def __init__(self, kept, runs, losers) -> None:
        self.ids_kept = kept  # every duplicate-id winner (id -> run, position)
        self.kept = kept
        self.runs = runs
        self.drops = [losers]
        self.meta_pending: list = []  # removals not reflected in `kept` yet
        self.drop_pending: list = []  # removals not reflected in `drops` yet
        self._work = None  # (number of drops, RunWork) of the last `RunsWithDrops`

    def metas(self, label: str):
        if self.meta_pending:
            self.kept = self._join(self.kept, self.meta_pending, label + "Survivors", _survivor)
            self.meta_pending = []
        return self.kept

    def run_work(self, label: str):
        from transforms.dedup.run_features import RunsWithDrops

        if self.drop_pending:
            gone = self._join(self.ids_kept, self.drop_pending, label + "Dropped", _dropped_row)
            self.drops.append(gone)
            self.drop_pending = []
        if self._work is None or self._work[0] != len(self.drops):
            first = self._work is None
            prefix = "" if first else label
            p = self.runs.pipeline
            work = {
                "runs": self.runs,
                "drops": flatten_or_empty(self.drops, p, prefix + "Drops"),
            } | (prefix + "SurvivingRuns") >> RunsWithDrops()
            self._work = (len(self.drops), work)
        return self._work[1]

    def narrow(self, out: MethodDecisions) -> None:
        if out.kept is not None:
            self.kept = out.kept
        elif out.removed is not None:
            self.meta_pending.append(out.removed)
        if out.dropped is not None:
            self.drops.append(out.dropped)
        elif out.removed is not None:
            self.drop_pending.append(out.removed)

    def _join(self, metas, removed: list, label: str, pick):
        p = metas.pipeline
        return (
            {
                "meta": metas | f"{label}ById" >> beam.Map(_by_id),
                "gone": flatten_or_empty(removed, p, label + "Removed")
                | f"{label}RemovedIds" >> beam.Map(_removed_id),
            }
            | f"{label}Join" >> CoGroupByKeyOnDisk()
            | label >> beam.FlatMap(pick)
        )


class DedupDecisions(beam.PTransform):
    """{"metas": DocMeta, "runs": SpillRun[, "decontam": (pos, Removal)]} -> `DedupOutcome`
    (see the module docstring).

    Args:
        cfg: the `dedup` config section.
        seed: the run seed (MinHash permutations, audit sample).
        methods: the methods, when already built (default: those `cfg` enables).
    """

    def __init__(self, cfg, seed: int, methods: list[DedupMethod] | None = None) -> None:
        super().__init__()
        if methods is None:
            from transforms.dedup.methods import dedup_methods

            methods = dedup_methods(cfg, seed)
        self.cfg, self.seed, self.methods = cfg, seed, methods

    def expand(self, parts):
        metas = parts["metas"]
        p = metas.pipeline
        ids = metas | "DuplicateIds" >> ResolveDuplicateIds()
        survivors = _Survivors(
            ids["kept"], parts["runs"], ids["losers"] | "LoserDrops" >> beam.Map(_loser_drop)
        )
        removed, clusters, audits, sections, states = [], [], [], {}, {}
        if "decontam" in parts:  # eval-set contamination, decided in ReferenceFilters
            from transforms.dedup.decontam_beam import DropContaminated

            clean = {"kept": survivors.kept, "removals": parts["decontam"]} | "Decontam" >> (
                DropContaminated()
            )
            survivors.kept = clean["kept"]
            survivors.drops.append(clean["dropped"])
            removed.append(clean["removed"])
        for method in self.methods:
            label = method.label
            if method.reads == "metas":
                source = survivors.metas(label)
            else:
                source = survivors.run_work(label)
            out: MethodDecisions = source | label >> method.decide()
            survivors.narrow(out)
            removed.append(out.removed)
            clusters.append(out.clusters)
            audits.append(out.audit)
            for path, pcoll in out.sections.items():
                if path in sections:
                    raise ValueError(f"two dedup methods write the stats section {path!r}")
                sections[path] = pcoll
            if out.state is not None:
                states[method.name] = out.state
        audit = flatten_or_empty(audits, p, "Audit") if any(a is not None for a in audits) else None
        decisions = {
            "kept": ids["kept"],
            "losers": ids["losers"],
            "removed": flatten_or_empty(removed, p, "Removals"),
            "clusters": flatten_or_empty(clusters, p, "Clusters"),
            "audit": flatten_or_empty([audit], p, "AuditIds"),
        } | "Route" >> RouteDecisions()
        rewriters = [m for m in self.methods if m.rewrite_unit is not None]
        return DedupOutcome(
            decisions, sections=sections, states=states, rewriters=rewriters, audit=audit
        )
