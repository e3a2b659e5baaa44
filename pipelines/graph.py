"""Assembles the curation graph from the config and a driver-prepared `RunPlan`. No algorithms here.

One chain of named stages, each a composite PTransform in its own module that hands on a typed
`StageOutput` (main output, drops, tallies, stats sections):

    read -> score -> reference filters -> spill -> dedup decisions (routed by spill run)
    -> apply and tokenize -> sample -> plan shards -> write shards -> finalize -> train

Full texts never cross a shuffle: stage 1 parks records in spill runs and emits small `DocMeta`;
decisions are made on metadata and reach stage 2 keyed by spill run. No step gathers
per-document data into one worker, element or side input: every gather below carries a
`# bounded:` comment saying why it is small, and `tests/spine/test_graph_structure.py` enforces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam

from pipelines.config import CurateConfig
from transforms.dedup.features import DedupFeaturizer
from transforms.dedup.methods import dedup_methods
from transforms.dedup.stage import DedupDecisions
from transforms.infra import fs
from transforms.infra.accounting import TALLY, MergeTallies
from transforms.infra.disk_group import set_group_dir
from transforms.infra.sinks import WriteJsonLines
from transforms.infra.spill import Spill
from transforms.infra.stage_output import Funnel, StageOutput
from transforms.sampling.stage import Sample
from transforms.stages.apply_decisions import ApplyAndTokenize, ApplyDecisionsAndTokenize
from transforms.stages.corpus_stats import pool_accumulator, writer_accumulators
from transforms.stages.normalize import Normalizer
from transforms.stages.read import ReadAndNormalize
from transforms.stages.readers import ReadTask
from transforms.stages.score import Score
from transforms.stages.shard_plan import PlanShards
from transforms.stages.shards import WriteShards
from transforms.stages.text_features import MergeAccumulators
from transforms.stages.tokenize import BatchEncoder, TokenizerInfo


@dataclass
class RunPlan:
    """What the driver prepared before the graph: tasks, tokenizer, paths, versions."""

    cfg: CurateConfig
    output: str
    tasks: list[ReadTask]
    tokenizer: TokenizerInfo
    tokenizer_json: str
    score_columns: list[str]
    code_version: str
    label_columns: list[str] = field(default_factory=list)  # string columns from record meta
    dsir: Any = None  # a fitted DsirScorer when sampling.dsir is on
    write_path: str = "local"  # shard writing: local (external sort) or shuffle (GroupByKey)
    config_dict: dict | None = None  # resolved config, computed once in the driver
    config_sha256: str = ""
    started_unix: float = 0.0  # when the driver started preparing (for the manifest's timings)
    prepared_unix: float = 0.0  # when the graph started
    outputs: list[str] | None = None  # top-level names this run writes in `output` (manifest)

    @property
    def tmp(self) -> str:
        return fs.join(self.output, "_tmp")


def _exact_audit(texts, audit) -> list[dict]:
    """The sampled near-dup pairs with exact word-5-gram Jaccard and an LCS ratio from the texts."""
    from transforms.dedup.audit import audit_pairs

    exact = {
        (r["a"], r["b"]): r for r in audit_pairs(dict(texts), [(a["a"], a["b"]) for a in audit])
    }
    return [
        {**a, **exact.get((a["a"], a["b"]), {})}
        for a in sorted(audit, key=lambda a: (a["cluster"], a["a"], a["b"]))
    ]


def _tag(path: str):
    return lambda value: (path, value)


def _read(p, plan: RunPlan) -> StageOutput:
    cfg = plan.cfg
    fn = ReadAndNormalize(
        Normalizer.from_config(cfg.normalize), cfg.input.max_doc_bytes, cfg.run.progress
    )
    read = (
        p
        | "ReadTasks" >> beam.Create(plan.tasks)
        | "ReadAndNormalize"
        >> beam.ParDo(fn).with_outputs(fn.DEAD, fn.REJECTED, TALLY, main="records")
    )
    return StageOutput(read.records, rejected=read.rejected, dead=read.dead, tally=read[TALLY])


def _write_sinks(funnel: Funnel, out: str) -> None:
    """Every drop written to its JSONL folder and counted."""
    for place, parts in (
        ("dead_letter", funnel.dead),
        ("rejected", funnel.rejected),
        ("removed", funnel.removed),
    ):
        merged = parts | f"All_{place}" >> beam.Flatten() if len(parts) > 1 else parts[0]
        funnel.tallies.append(merged | f"Write_{place}" >> WriteJsonLines(out, place))


def build_graph(p: beam.Pipeline, plan: RunPlan) -> beam.PCollection:
    """Adds every stage to `p`; returns the single-element PCollection of the manifest dict."""
    from pipelines.finalize import Finalize

    cfg, out = plan.cfg, plan.output
    funnel = Funnel()
    # On an in-process runner, the large shuffles group through files here instead of in the
    # runner's memory (transforms/infra/disk_group.py); other runners shuffle as usual.
    if cfg.run.local_shuffle == "disk":
        set_group_dir(p, fs.join(plan.tmp, "groups"))

    # Stage 1 (fused, parallel over read tasks): read, score, reference filters, spill.
    records = funnel.take(_read(p, plan))
    records = funnel.take(records | "Score" >> Score(cfg.quality, plan.dsir))
    if cfg.dedup.cross_release.previous_filter or cfg.dedup.decontamination.eval_sets:
        from transforms.dedup.reference import ReferenceFilters

        records = funnel.take(records | "ReferenceFilters" >> ReferenceFilters(cfg.dedup))
    methods = dedup_methods(cfg.dedup, cfg.run.seed)
    features = DedupFeaturizer(cfg.dedup, cfg.run.seed, methods)
    spill = records | "Spill" >> Spill(fs.join(plan.tmp, "spill"), features)
    metas = funnel.take(spill)

    # Decisions on metadata only, routed to the spill run that holds each record.
    dedup = {"metas": metas, "runs": spill.runs} | "Dedup" >> DedupDecisions(
        cfg.dedup, cfg.run.seed, methods
    )
    decisions = funnel.take(dedup)

    # Stage 2 (parallel over spill runs): apply the run's decisions, tokenize, write sorted runs.
    apply_fn = ApplyDecisionsAndTokenize(
        fs.join(plan.tmp, "tokenized"),
        BatchEncoder(plan.tokenizer_json, plan.tokenizer.eos_id if cfg.tokenizer.add_eos else None),
        cfg.run.seed,
        plan.score_columns,
        cfg.shards.min_tokens,
        cfg.tokenizer.batch_size,
        dedup.rewriters,
        pool_accumulator(plan.dsir),
        plan.label_columns,
        # file index -> path for duplicate_id details (an HF dataset's index holds many files)
        files={t.file_index: t.path for t in plan.tasks if t.format != "hf_arrow"},
    )
    stage2_inputs = {"runs": spill.runs, "decisions": decisions, "states": dedup.states}
    tokenized = stage2_inputs | "ApplyAndTokenize" >> ApplyAndTokenize(apply_fn)
    runs = funnel.take(tokenized)
    if dedup.audit is not None:
        funnel.sections["dedup.near_audit"] = (
            tokenized.audit
            # bounded: texts of the audited sample (dedup.near.audit_clusters clusters, 6 each)
            | "AuditTexts" >> beam.combiners.ToList()
            # bounded: the same audited sample's pairs
            | "ExactAudit" >> beam.Map(_exact_audit, beam.pvalue.AsList(dedup.audit))
        )
    _write_sinks(funnel, out)

    # Sample, plan shards from bounded aggregates, write shards.
    fates = funnel.take(tokenized.candidates | "Sample" >> Sample(cfg.sampling, cfg.run.seed))
    plan_out = fates | "PlanShards" >> PlanShards(cfg.run.seed, cfg.shards.rows_per_shard)
    funnel.tallies.append(plan_out["tally"])
    release = cfg.dedup.cross_release
    written = {"assignments": plan_out["assignments"], "runs": runs} | "WriteShards" >> WriteShards(
        out,
        plan.write_path,
        plan.score_columns,
        cfg.shards.include_text,
        writer_accumulators(cfg, plan.tokenizer.vocab_size, plan.dsir),
        plan.label_columns,
        emit_keys=release.write_filter,
    )
    funnel.tallies.append(written["tally"])

    # Finalize: typed inputs, each bounded.
    side = {}
    if release.write_filter:
        from transforms.dedup.reference import BloomUnion

        # Only documents written to this release's shards (train and eval) enter its filter.
        side["release_filter"] = beam.pvalue.AsSingleton(
            written["keys"]
            # bounded: a fixed-size Bloom filter bit array
            | "ReleaseFilter" >> beam.CombineGlobally(BloomUnion(release))
        )
    accumulators = (
        (written["stats"], tokenized.pool | "PoolKey" >> beam.Map(lambda acc: ("pool", acc)))
        | "AllAccumulators" >> beam.Flatten()
        | "MergeAccumulators" >> beam.CombinePerKey(MergeAccumulators())
        # bounded: one fixed-size sketch per accumulator name
        | "AccumulatorDict" >> beam.combiners.ToDict()
    )
    sections = (
        [pc | f"Tag_{path}" >> beam.Map(_tag(path)) for path, pc in funnel.sections.items()]
        or [p | "NoSections" >> beam.Create([])]
    ) | "AllSections" >> beam.Flatten()
    tally = (
        funnel.tallies
        | "AllTallies" >> beam.Flatten()
        # bounded: counts per (place, reason, source)
        | "MergeTallies" >> beam.CombineGlobally(MergeTallies())
    )
    manifest = (
        written["infos"]
        # bounded: one ~200-byte entry per shard, which the manifest lists anyway
        | "ShardList" >> beam.combiners.ToList()
        | "Finalize"
        >> beam.ParDo(
            Finalize(plan),
            # bounded: the merged tally, one entry per stats section, one sketch per name
            tally=beam.pvalue.AsSingleton(tally),
            sections=beam.pvalue.AsDict(sections),
            accumulators=beam.pvalue.AsSingleton(accumulators),
            **side,
        )
    )
    if cfg.train.enabled:
        from pipelines.trigger import TrainAfterShards

        manifest = manifest | "Train" >> TrainAfterShards(cfg.train)
    return manifest
