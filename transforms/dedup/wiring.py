"""The dedup stage as the graph sees it: records in, decisions routed to their spill runs out.

`Deduplicate` wires the dedup steps that `pipelines/graph.py` would otherwise spell out: the
reference filters (when a previous release's filter or an eval set is configured), the spill
runs that park every record with its dedup features (`transforms/infra/spill.py`), and the
decisions made on metadata only (`transforms/dedup/stage.py`). `NearAudit` finishes the
near-dup audit once stage 2 has sent back the audited members' texts. The methods themselves
live in their own modules; this file only connects them.
"""

from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam

from transforms.dedup.config import DedupConfig
from transforms.dedup.stage import DedupDecisions, DedupOutcome
from transforms.infra import fs
from transforms.infra.spill import Spill
from transforms.infra.stage_output import StageOutput


@dataclass(frozen=True)
class DedupSettings:
    """What the dedup stage needs (`from_config` builds it for a run).

    Attributes:
        dedup: the `dedup` config section.
        seed: the run seed (MinHash permutations, the audit sample).
        spill_dir: where the spill runs go (the run's `_tmp/spill`).
    """

    dedup: DedupConfig
    seed: int
    spill_dir: str
    methods: tuple = ()

    @classmethod
    def from_config(cls, cfg, plan) -> DedupSettings:
        """From the run's `CurateConfig` and its prepared `RunPlan` (pipelines/graph.py); the
        enabled dedup methods are built here, once (plugins included)."""
        from transforms.dedup.methods import dedup_methods

        methods = tuple(dedup_methods(cfg.dedup, cfg.run.seed))
        return cls(cfg.dedup, cfg.run.seed, fs.join(plan.tmp, "spill"), methods)

    @property
    def has_reference_filters(self) -> bool:
        return bool(
            self.dedup.cross_release.previous_filter or self.dedup.decontamination.eval_sets
        )

    def featurizer(self):
        """The enabled methods' spill columns (MinHash signatures, line hashes, plugins'); None
        when no enabled method has one (exact dedup reads the content key in `DocMeta`)."""
        from transforms.dedup.features import DedupFeaturizer

        featurizer = DedupFeaturizer(self.dedup, self.seed, list(self.methods))
        return featurizer if featurizer.columns else None


@dataclass
class DedupStageOutput(DedupOutcome):
    """Main: the decisions keyed by spill run; `runs`: every spill run (`SpillRun`)."""

    runs: beam.PCollection | None = None

    def apply_inputs(self) -> dict[str, beam.PCollection]:
        """What stage 2 (`ApplyAndTokenize`) joins: the runs, their decisions, the methods'
        apply-time states (e.g. the boilerplate line set)."""
        return {"runs": self.runs, "decisions": self.main, "states": self.states}


class Deduplicate(beam.PTransform):
    """Stage: Records -> reference filters -> spill runs -> dedup decisions (`DedupStageOutput`).

    `removed`: the reference filters' removals; `tally`: the spilled records; `sections`: the
    reference filters' and the dedup decisions' stats sections.
    """

    def __init__(self, settings: DedupSettings) -> None:
        super().__init__()
        self._settings = settings

    def expand(self, records):
        s = self._settings
        removed, sections, decontam = None, {}, None
        if s.has_reference_filters:
            from transforms.dedup.reference import ReferenceFilters

            ref = records | "ReferenceFilters" >> ReferenceFilters(s.dedup)
            records, removed, sections = ref.main, ref.removed, dict(ref.sections)
            # removals decided after the corpus-wide count of common eval n-grams
            decontam = ref.decontam
        spill = records | "Spill" >> Spill(s.spill_dir, s.featurizer())
        # Decisions on metadata only, routed to the spill run that holds each record.
        parts = {"metas": spill.main, "runs": spill.runs}
        if decontam is not None:
            parts["decontam"] = decontam
        decided = parts | "Decisions" >> DedupDecisions(s.dedup, s.seed, list(s.methods))
        return DedupStageOutput(
            decided.main,
            removed=removed,
            tally=spill.tally,
            sections=_merged(sections, decided.sections),
            states=decided.states,
            rewriters=decided.rewriters,
            audit=decided.audit,
            runs=spill.runs,
        )


def _merged(a: dict, b: dict) -> dict:
    if set(a) & set(b):
        raise ValueError(f"two dedup steps write the stats sections {sorted(set(a) & set(b))}")
    return {**a, **b}


def exact_audit(texts, audit) -> list[dict]:
    """The sampled near-dup pairs with exact word-5-gram Jaccard and an LCS ratio from the texts."""
    from transforms.dedup.audit import audit_pairs

    exact = {
        (r["a"], r["b"]): r for r in audit_pairs(dict(texts), [(a["a"], a["b"]) for a in audit])
    }
    return [
        {**a, **exact.get((a["a"], a["b"]), {})}
        for a in sorted(audit, key=lambda a: (a["cluster"], a["a"], a["b"]))
    ]


class NearAudit(beam.PTransform):
    """{"pairs": audited near-dup pairs, "texts": (id, text) of their members} -> `StageOutput`.

    Main and section `dedup.near_audit`: the pairs with their exact similarity.
    """

    SECTION = "dedup.near_audit"

    def expand(self, parts):
        audit = (
            parts["texts"]
            # bounded: texts of the audited sample (dedup.near.audit_clusters clusters, 6 each)
            | "AuditTexts" >> beam.combiners.ToList()
            # bounded: the same audited sample's pairs
            | "ExactAudit" >> beam.Map(exact_audit, beam.pvalue.AsList(parts["pairs"]))
        )
        return StageOutput(audit, sections={self.SECTION: audit})
