"""Stage: every dedup decision, made on small per-record metadata and routed to its spill run.

`DedupDecisions` takes the `DocMeta` of every spilled record and the spill runs (whose files hold
the records' MinHash signatures and line hashes, see transforms/dedup/run_features.py) and
returns a `DedupOutcome`:
its main output is the decisions keyed by spill run (`transforms.dedup.decisions.RouteDecisions`),
plus the boilerplate line hashes (stage 2 strips them), the near-dup audit sample, and the
`stats.json` sections (cluster-size histograms, boilerplate line count). In order:

1. duplicate ids: the first record in input order keeps the id; then, when given
   (`parts["decontam"]`), eval-set contamination removes its documents before any dedup;
2. exact dedup on the 128-bit content key (`dedup.exact.keep`);
3. boilerplate lines, counted over exact-dedup survivors (copies would inflate the counts);
4. MinHash-LSH near dedup over exact-dedup survivors, ranked by the same `keep` rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam

from transforms.dedup.decisions import RouteDecisions, flatten_or_empty
from transforms.dedup.exact import (
    ExactDedup,
    ResolveDuplicateIds,
    SizeHistogram,
)
from transforms.infra.stage_output import StageOutput


@dataclass
class DedupOutcome(StageOutput):
    boilerplate: beam.PCollection | None = None  # singleton: sorted uint64 line hashes
    audit: beam.PCollection | None = None  # audited near-dup pairs (a bounded sample)


def _loser_drop(loser):
    pos, _id, _source, _kept_pos, run = loser
    return run, pos


def _cluster_of(t):
    return t[0], t[1]


def _size_of(t):
    return t[2]


class DedupDecisions(beam.PTransform):
    """{"metas": DocMeta, "runs": SpillRun[, "decontam": (pos, Removal)]} -> `DedupOutcome`
    (see the module docstring).

    Args:
        cfg: the `dedup` config section.
        seed: the run seed (audit sample).
    """

    def __init__(self, cfg, seed: int) -> None:
        super().__init__()
        self.cfg, self.seed = cfg, seed

    def expand(self, parts):
        cfg = self.cfg
        metas = parts["metas"]
        ids = metas | "DuplicateIds" >> ResolveDuplicateIds()
        kept, removed, clusters, sections = ids["kept"], [], [], {}
        drops = [ids["losers"] | "LoserDrops" >> beam.Map(_loser_drop)]
        if "decontam" in parts:  # eval-set contamination, decided in ReferenceFilters
            from transforms.dedup.decontam_beam import DropContaminated

            clean = {"kept": kept, "removals": parts["decontam"]} | "Decontam" >> DropContaminated()
            kept = clean["kept"]
            drops.append(clean["dropped"])
            removed.append(clean["removed"])
        if cfg.exact.enabled:
            exact = kept | "Exact" >> ExactDedup(cfg.exact.keep)
            kept = exact["kept"]
            drops.append(exact["dropped"])
            removed.append(exact["removed"])
            clusters.append(exact["clusters"] | "ExactClusterIds" >> beam.Map(_cluster_of))
            sections["dedup.exact_cluster_sizes"] = (
                exact["clusters"]
                | "ExactSizes" >> beam.Map(_size_of)
                # bounded: one counter per distinct cluster size
                | "ExactHistogram" >> beam.CombineGlobally(SizeHistogram())
            )
        p = metas.pipeline
        work = None
        if cfg.boilerplate.enabled or cfg.near.enabled:
            from transforms.dedup.run_features import RunsWithDrops

            # The survivors' features, read from their spill runs (no per-record join).
            work = {
                "runs": parts["runs"],
                "drops": flatten_or_empty(drops, p, "Drops"),
            } | "SurvivingRuns" >> RunsWithDrops()
        boilerplate = None
        if cfg.boilerplate.enabled:
            from transforms.dedup.boilerplate import BoilerplateLines
            from transforms.dedup.run_features import RunLineHashes

            boilerplate = (
                work
                | "LineHashes" >> RunLineHashes()
                | "Boilerplate" >> BoilerplateLines(cfg.boilerplate)
            )
            sections["dedup.boilerplate_lines"] = boilerplate | "CountBoilerplate" >> beam.Map(len)
        audit = None
        if cfg.near.enabled:
            from transforms.dedup.run_features import NearDedupOverRuns

            near = work | "Near" >> NearDedupOverRuns(cfg.near, self.seed, cfg.exact.keep)
            removed.append(near["removed"])
            clusters.append(near["clusters"])
            sections["dedup.near_cluster_sizes"] = near["cluster_sizes"]
            audit = near["audit"]
        decisions = {
            "kept": ids["kept"],
            "losers": ids["losers"],
            "removed": flatten_or_empty(removed, p, "Removals"),
            "clusters": flatten_or_empty(clusters, p, "Clusters"),
            "audit": flatten_or_empty([audit], p, "Audit"),
        } | "Route" >> RouteDecisions()
        return DedupOutcome(decisions, sections=sections, boilerplate=boilerplate, audit=audit)
