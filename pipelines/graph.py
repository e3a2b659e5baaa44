"""Assembles the curation graph from the config and a driver-prepared `RunPlan`. No algorithms here.

Stage 1 (fused, parallel over read tasks): read -> normalize -> score/filter -> reference filters
-> spill runs + small DocMeta. Decisions on metadata: duplicate ids, exact dedup, near dedup,
boilerplate lines. Stage 2 (parallel over spill runs): apply decisions, tokenize, write sorted runs.
Then: sample -> plan shards -> write shards (parallel) -> finalize (manifest, stats, validation,
report) -> optional training trigger. Every drop goes to a JSONL sink that also counts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from pipelines.config import CurateConfig
from transforms import fs
from transforms.accounting import TALLY, MergeTallies
from transforms.apply_decisions import ApplyDecisionsAndTokenize, Decisions
from transforms.exact_dedup import ExactDedup, ResolveDuplicateIds
from transforms.normalize import Normalizer
from transforms.read_stage import ReadAndNormalize
from transforms.readers import ReadTask
from transforms.shards import WriteShard
from transforms.sinks import WriteJsonLines
from transforms.spill import SpillRecords
from transforms.text_features import MergeAccumulators
from transforms.tokenize import BatchEncoder, TokenizerInfo


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
    plugins: Any = None  # pipelines.plugins.Plugins: optional stages from other packages
    config_dict: dict | None = None  # resolved config, computed once in the driver
    config_sha256: str = ""
    started_unix: float = 0.0  # when the driver started preparing (for the manifest's timings)
    prepared_unix: float = 0.0  # when the graph started
    outputs: list[str] | None = None  # top-level names this run writes in `output` (manifest)

    @property
    def tmp(self) -> str:
        return fs.join(self.output, "_tmp")


def _make_decisions(_, losers, removed, clusters, audit) -> Decisions:
    return Decisions(
        dup_losers={pos: kept for pos, _id, _src, kept in losers},
        removed={r.id: r for r in sorted(removed, key=lambda r: (r.id, r.stage))},
        clusters=dict(sorted(clusters)),
        audit_ids=frozenset(i for a in audit for i in (a["a"], a["b"])),
    )


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


def _size_histogram(sizes) -> dict[str, int]:
    hist: dict[str, int] = {}
    for size in sizes:
        hist[str(size)] = hist.get(str(size), 0) + 1
    return dict(sorted(hist.items(), key=lambda kv: int(kv[0])))


class _PlanShards(beam.DoFn):
    """All (id, source, split | None) -> ShardTasks; unselected candidates are sampled_out."""

    def __init__(self, seed: int, rows_per_shard: int) -> None:
        self._seed, self._rows = seed, rows_per_shard

    def process(self, rows):
        from transforms.accounting import Tally
        from transforms.shards import plan_shards

        tally = Tally()
        selected = []
        for doc_id, source, split in rows:
            if split is None:
                tally.add("sampled_out", "", source)
            else:
                selected.append((doc_id, split))
        yield beam.pvalue.TaggedOutput(TALLY, tally.to_state())
        yield from plan_shards(selected, self._seed, self._rows)


def _join_selection(kv):
    doc_id, grouped = kv
    sources, splits = list(grouped["cand"]), list(grouped["sel"])
    return doc_id, sources[0], (splits[0] if splits else None)


def build_graph(p: beam.Pipeline, plan: RunPlan) -> beam.PCollection:
    """Adds every stage to `p`; returns the single-element PCollection of the manifest dict."""
    from pipelines.finalize import Finalize
    from pipelines.plugins import Plugins

    cfg, out = plan.cfg, plan.output
    plugins: Plugins = plan.plugins or Plugins.from_config(cfg, plan)
    tallies, dead, rejected, removed_with_text, summaries = [], [], [], [], {}

    # Stage 1: read, normalize, score, filter, reference filters, spill.
    read = (
        p
        | "ReadTasks" >> beam.Create(plan.tasks)
        | "ReadAndNormalize"
        >> beam.ParDo(
            ReadAndNormalize(
                Normalizer.from_config(cfg.normalize), cfg.input.max_doc_bytes, cfg.run.progress
            )
        ).with_outputs(ReadAndNormalize.DEAD, ReadAndNormalize.REJECTED, TALLY, main="records")
    )
    records = read.records
    dead.append(read.dead)
    rejected.append(read.rejected)
    tallies.append(read[TALLY])
    records = plugins.score(records, rejected, summaries)
    records = plugins.reference_filters(records, removed_with_text, summaries)

    spill = records | "Spill" >> beam.ParDo(
        SpillRecords(fs.join(plan.tmp, "spill"), plugins.featurizer())
    ).with_outputs(SpillRecords.META, SpillRecords.RUNS, TALLY, main="unused")
    tallies.append(spill[TALLY])

    # Decisions on metadata only.
    ids = spill.meta | "DuplicateIds" >> ResolveDuplicateIds()
    kept, removals, clusters = ids["kept"], [], []
    if cfg.dedup.exact.enabled:
        exact = kept | "ExactDedup" >> ExactDedup(cfg.dedup.exact.keep)
        kept = exact["kept"]
        removals.append(exact["removed"])
        clusters.append(exact["clusters"] | "ExactClusterIds" >> beam.Map(lambda t: (t[0], t[1])))
        summaries["exact_cluster_sizes"] = (
            exact["clusters"]
            | "ExactSizes" >> beam.Map(lambda t: t[2])
            | "ExactSizeList" >> beam.combiners.ToList()
            | "ExactHist" >> beam.Map(_size_histogram)
        )
    plugins.release_filter(kept, summaries)
    # Boilerplate lines are counted over exact-dedup survivors (copies would inflate the counts).
    boilerplate = plugins.boilerplate(kept, summaries)
    kept, near_removed, near_clusters = plugins.near_dedup(kept, summaries)
    removals += near_removed
    clusters += near_clusters

    decisions = (
        p
        | "DecisionsSeed" >> beam.Create([None])
        | "Decisions"
        >> beam.Map(
            _make_decisions,
            beam.pvalue.AsList(ids["losers"]),
            beam.pvalue.AsList(
                removals | "AllRemovals" >> beam.Flatten()
                if removals
                else p | "NoRemovals" >> beam.Create([])
            ),
            beam.pvalue.AsList(
                clusters | "AllClusters" >> beam.Flatten()
                if clusters
                else p | "NoClusters" >> beam.Create([])
            ),
            beam.pvalue.AsList(
                plugins.audit if plugins.audit is not None else p | "NoAudit" >> beam.Create([])
            ),
        )
    )

    # Stage 2: apply decisions, tokenize, write key-sorted runs.
    encoder = BatchEncoder(
        plan.tokenizer_json, plan.tokenizer.eos_id if cfg.tokenizer.add_eos else None
    )
    side = {"decisions": beam.pvalue.AsSingleton(decisions)}
    if boilerplate is not None:
        side["boilerplate"] = beam.pvalue.AsSingleton(boilerplate)
    stage2 = spill.runs | "ApplyAndTokenize" >> beam.ParDo(
        ApplyDecisionsAndTokenize(
            fs.join(plan.tmp, "tokenized"),
            encoder,
            cfg.run.seed,
            plan.score_columns,
            cfg.shards.min_tokens,
            cfg.tokenizer.batch_size,
            plugins.strip_boilerplate(),
            plugins.pool_accumulator(),
        ),
        **side,
    ).with_outputs("candidates", "dead", "removed", "rejected", "pool", "audit", TALLY, main="runs")
    tallies.append(stage2[TALLY])
    if plugins.audit is not None:
        summaries["dedup_near_audit"] = (
            stage2.audit
            | "AuditTexts" >> beam.combiners.ToList()
            | "ExactAudit" >> beam.Map(_exact_audit, beam.pvalue.AsList(plugins.audit))
        )
    dead.append(stage2.dead)
    rejected.append(stage2.rejected)
    removed_with_text.append(stage2.removed)

    # Sinks: every drop written and counted.
    for place, parts in (
        ("dead_letter", dead),
        ("rejected", rejected),
        ("removed", removed_with_text),
    ):
        merged = parts | f"All_{place}" >> beam.Flatten() if len(parts) > 1 else parts[0]
        tallies.append(merged | f"Write_{place}" >> WriteJsonLines(out, place))

    # Sampling, shard planning, shard writing.
    selected = plugins.select(stage2.candidates, summaries)
    joined = (
        {
            "cand": stage2.candidates | "CandSource" >> beam.Map(lambda c: (c[0], c[1])),
            "sel": selected,
        }
        | "JoinSelection" >> beam.CoGroupByKey()
        | "Fate" >> beam.Map(_join_selection)
        | "AllFates" >> beam.combiners.ToList()
    )
    planned = joined | "PlanShards" >> beam.ParDo(
        _PlanShards(cfg.run.seed, cfg.shards.rows_per_shard)
    ).with_outputs(TALLY, main="tasks")
    tallies.append(planned[TALLY])
    written = (
        planned.tasks
        | "SpreadShards" >> beam.Reshuffle()
        | "WriteShards"
        >> beam.ParDo(
            WriteShard(
                out, plan.score_columns, cfg.shards.include_text, plugins.writer_accumulators()
            ),
            runs=beam.pvalue.AsList(stage2.runs),
        ).with_outputs(WriteShard.STATS, TALLY, main="infos")
    )
    tallies.append(written[TALLY])
    merged = (
        (written.stats, stage2.pool | "PoolKey" >> beam.Map(lambda acc: ("pool", acc)))
        | "AllAccumulators" >> beam.Flatten()
        | "MergeAccumulators" >> beam.CombinePerKey(MergeAccumulators())
        | "AccumulatorDict" >> beam.combiners.ToDict()
    )
    summaries["_accumulators"] = merged

    tally = (
        tallies
        | "AllTallies" >> beam.Flatten()
        | "MergeTallies" >> beam.CombineGlobally(MergeTallies())
    )
    side_summaries = {k: beam.pvalue.AsSingleton(v) for k, v in summaries.items()}
    manifest = (
        written.infos
        | "ShardList" >> beam.combiners.ToList()
        | "Finalize"
        >> beam.ParDo(Finalize(plan), tally=beam.pvalue.AsSingleton(tally), **side_summaries)
    )
    return plugins.train_trigger(manifest)
