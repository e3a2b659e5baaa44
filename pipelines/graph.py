"""Assembles the curation graph from the config and a driver-prepared `RunPlan`. No algorithms here.

One chain of named stages, one line each: each is a composite PTransform in its own module that
takes one settings object and hands on a typed `StageOutput` (main output, drops, tallies, stats
sections, accumulators) to the `Funnel`:

    read -> score -> reference filters -> spill -> dedup decisions (routed by spill run)
    -> apply and tokenize -> sample -> plan shards -> write shards -> finalize -> train

Full texts never cross a shuffle: stage 1 parks records in spill runs and emits small `DocMeta`;
decisions are made on metadata and reach stage 2 keyed by spill run. No step gathers
per-document data into one worker, element or side input: every gather in the stages carries a
`# bounded:` comment saying why it is small, and `tests/spine/test_graph_structure.py` enforces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam

from pipelines.config import CurateConfig
from transforms.dedup.wiring import Deduplicate, DedupSettings, NearAudit
from transforms.infra import fs
from transforms.infra.disk_group import set_group_dir
from transforms.infra.sinks import WriteJsonLines
from transforms.infra.stage_output import Funnel
from transforms.sampling.stage import Sample
from transforms.stages.apply_decisions import ApplyAndTokenize, ApplySettings
from transforms.stages.read import Read, ReadSettings
from transforms.stages.readers import ReadTask
from transforms.stages.score import Score
from transforms.stages.shard_plan import PlanShards
from transforms.stages.shards import ShardWriteSettings, WriteShards
from transforms.stages.tokenize import TokenizerInfo


@dataclass
class RunPlan:
    """What the driver prepared before the graph: tasks, tokenizer, paths, versions."""

    cfg: CurateConfig
    output: str
    tasks: list[ReadTask]
    tokenizer: TokenizerInfo  # saved as OUTPUT/tokenizer/tokenizer.json (stage 2 reads it there)
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


def write_drops(funnel: Funnel, out: str) -> None:
    """Every drop written to its JSONL folder and counted, all places through one writer."""
    drops = {}
    for place, parts in (
        ("dead_letter", funnel.dead),
        ("rejected", funnel.rejected),
        ("removed", funnel.removed),
    ):
        drops[place] = parts | f"All_{place}" >> beam.Flatten() if len(parts) > 1 else parts[0]
    funnel.tallies.extend(drops | "WriteDrops" >> WriteJsonLines(out))


def build_graph(p: beam.Pipeline, plan: RunPlan) -> beam.PCollection:
    """Adds every stage to `p`; returns the single-element PCollection of the manifest dict."""
    from pipelines.finalize import FinalizeRun

    cfg, funnel = plan.cfg, Funnel()
    # On an in-process runner, the large shuffles group through files here instead of in the
    # runner's memory (transforms/infra/disk_group.py); other runners shuffle as usual.
    if cfg.run.local_shuffle == "disk":
        set_group_dir(p, fs.join(plan.tmp, "groups"))

    # Stage 1 (fused, parallel over read tasks): read, score, reference filters, spill; then
    # the dedup decisions on metadata only, routed to the spill run that holds each record.
    records = funnel.take(p | "Read" >> Read(plan.tasks, ReadSettings.from_config(cfg)))
    records = funnel.take(records | "Score" >> Score(cfg.quality, plan.dsir))
    dedup = records | "Dedup" >> Deduplicate(DedupSettings.from_config(cfg, plan))
    funnel.take(dedup)

    # Stage 2 (parallel over spill runs): apply the run's decisions, tokenize, write sorted runs.
    apply = ApplyAndTokenize(ApplySettings.from_config(cfg, plan, dedup.rewriters))
    tokenized = dedup.apply_inputs() | "ApplyAndTokenize" >> apply
    runs = funnel.take(tokenized)
    if dedup.audit is not None:  # the audited near-dup members' texts come back from stage 2
        funnel.take({"pairs": dedup.audit, "texts": tokenized.audit} | "NearAudit" >> NearAudit())
    write_drops(funnel, plan.output)

    # Sample, plan shards from bounded aggregates, write shards, finalize.
    fates = funnel.take(tokenized.candidates | "Sample" >> Sample(cfg.sampling, cfg.run.seed))
    plan_shards = PlanShards(cfg.run.seed, cfg.shards.rows_per_shard)
    assignments = funnel.take(fates | "PlanShards" >> plan_shards)
    write = WriteShards(ShardWriteSettings.from_config(cfg, plan))
    written = {"assignments": assignments, "runs": runs} | "WriteShards" >> write
    shard_infos = funnel.take(written)
    keys = written.keys if cfg.dedup.cross_release.write_filter else None
    manifest = shard_infos | "Finalize" >> FinalizeRun(plan, funnel, release_keys=keys)
    if cfg.train.enabled:
        from pipelines.trigger import TrainAfterShards

        manifest = manifest | "Train" >> TrainAfterShards(cfg.train)
    return manifest
