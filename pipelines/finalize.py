"""The last curation step: manifest, stats.json, validation, report; checks the accounting.

Runs once, after every shard is final (its main input is the list of all shard infos). Its
inputs are typed: the merged tally, the stats sections every stage computed (dotted path ->
value), the merged corpus accumulators, and this release's Bloom filter. `FinalizeRun` merges
them from the `Funnel` (each bounded) and runs the `Finalize` step. A broken accounting
fails the run loudly after the manifest is written (for inspection).
"""

from __future__ import annotations

import json
import time

import apache_beam as beam

from quality.report.summary import decontamination_share
from transforms.infra import fs
from transforms.infra.accounting import (
    MergeTallies,
    Tally,
    accounting_from_tally,
    accounting_problems,
)
from transforms.infra.keyed_combine import (
    AccumulateInBundle,
    CombineByTag,
    CombineEachKey,
    MergeAccumulatorsOf,
)
from transforms.infra.stage_output import Funnel, set_section
from transforms.stages.corpus_stats import finish_stats
from transforms.stages.text_features import MergeAccumulators

FORMAT_VERSION = 1


class AccountingError(RuntimeError):
    pass


class Finalize(beam.DoFn):
    def __init__(self, plan) -> None:
        self._plan = plan

    def process(self, gathered: dict):
        """`gathered`: shard infos, tally, sections and accumulators, merged (`FinalizeRun`)."""
        yield from self._finalize(**gathered)

    def _finalize(self, shard_infos, tally, sections, accumulators, release_filter=None):
        plan, cfg = self._plan, self._plan.cfg
        t = Tally.from_state(tally)
        accounting = accounting_from_tally(t)
        problems = accounting_problems(accounting)
        shards = sorted((i for i in shard_infos if i["split"] == "train"), key=lambda i: i["path"])
        eval_shards = sorted(
            (i for i in shard_infos if i["split"] != "train"), key=lambda i: i["path"]
        )
        strip = lambda infos: [{k: v for k, v in i.items() if k != "split"} for i in infos]  # noqa: E731
        stats = {
            "funnel": accounting,
            "tokens": {
                "written": sum(i["tokens"] for i in shard_infos),
                "by_split": {
                    s: sum(i["tokens"] for i in shard_infos if i["split"] == s)
                    for s in sorted({i["split"] for i in shard_infos})
                },
            },
            "worker_seconds": {
                k: round(v, 3) for k, v in sorted(t.seconds.items())
            },  # per stage: wall time summed over workers; tokenizer_cpu: CPU seconds of the
            # process (every thread) during the tokenizer's encode calls, the bare tokenizer's
            # cost of the run (over-counted where a worker runs several bundles at once)
            "dedup": {"exact_cluster_sizes": {}},
        }
        for path, value in sorted(sections.items()):
            set_section(stats, path, value)
        manifest = {
            "format_version": FORMAT_VERSION,
            "name": cfg.run.name,
            "created_unix": int(time.time()),
            "config_sha256": plan.config_sha256,
            "config": plan.config_dict,
            "code_version": plan.code_version,
            "arrow_format": "ipc_stream",
            "tokenizer": plan.tokenizer.to_manifest("tokenizer/tokenizer.json"),
            "schema": {
                "score_columns": plan.score_columns,
                "label_columns": plan.label_columns,
                "text": cfg.shards.include_text,
            },
            "shards": strip(shards),
            "eval_shards": strip(eval_shards),
            "accounting": accounting,
            "accounting_ok": not problems,
            "stats": "stats.json",
            # Pass as dedup.cross_release.previous_filter to the next release's run.
            "bloom_filter": "bloom_filter.bin" if release_filter is not None else None,
            "report": None,
            # What a later run into this folder may delete (pipelines/output_folder.py).
            "outputs": plan.outputs,
            "validation": {"success": None, "skipped": True},
            "timings": {
                "prepare_s": round(plan.prepared_unix - plan.started_unix, 2),
                "pipeline_s": round(time.time() - plan.prepared_unix, 2),
                "total_s": round(time.time() - plan.started_unix, 2),
            },
        }
        # Shown in the report and warned about at the end of the run (quality/report/summary.py).
        manifest["decontamination"] = decontamination_share(accounting, plan.config_dict)
        stats = finish_stats(cfg, stats, accumulators or {}, plan.dsir)
        audit = stats["dedup"].get("near_audit")
        if audit:  # also as its own small file, one pair per line, for a quick look at precision
            lines = "".join(json.dumps(a, sort_keys=True) + "\n" for a in audit)
            fs.atomic_write_bytes(fs.join(plan.output, "dedup_audit.jsonl"), lines.encode())
        fs.atomic_write_bytes(
            fs.join(plan.output, "stats.json"), json.dumps(stats, indent=1, sort_keys=True).encode()
        )
        if release_filter is not None:
            fs.atomic_write_bytes(
                fs.join(plan.output, "bloom_filter.bin"), release_filter.to_bytes()
            )
        manifest = self._validate_and_report(manifest, stats)
        # total_s covers validation and the report too (they can take a third of a small run).
        manifest["timings"]["total_s"] = round(time.time() - plan.started_unix, 2)
        fs.atomic_write_bytes(
            fs.join(plan.output, "manifest.json"), json.dumps(manifest, indent=1).encode()
        )
        if problems:
            raise AccountingError("accounting does not add up: " + "; ".join(problems))
        fs.delete_tree(plan.tmp)
        yield {**manifest, "_output": plan.output}

    def _validate_and_report(self, manifest: dict, stats: dict) -> dict:
        """The Great Expectations gate and the HTML report, on local and remote outputs alike."""
        from pipelines.gate import validate_and_report

        return validate_and_report(self._plan.cfg, self._plan.output, manifest, stats)


def _section(value, path: str) -> tuple[str, tuple[str, object]]:
    return "sections", (path, value)


class FinalizeRun(beam.PTransform):
    """Shard infos -> the manifest (one element), with what the funnel collected merged.

    Everything `Finalize` reads (the shard list, the tallies, the stats sections, the
    accumulators, the release's Bloom filter) is tagged, flattened and merged in one combine
    (`CombineByTag`): one fused stage or two instead of two or three per input on the embedded
    runner, and each input merged by its own CombineFn as before.

    Args:
        plan: the run's `RunPlan` (pipelines/graph.py).
        funnel: every stage's tallies, stats sections and accumulators.
        release_keys: content keys of the published documents when this release writes its
            Bloom filter (`dedup.cross_release.write_filter`), else None.
    """

    def __init__(self, plan, funnel: Funnel, release_keys: beam.PCollection | None = None) -> None:
        super().__init__()
        self._plan, self._funnel, self._keys = plan, funnel, release_keys

    def expand(self, shard_infos):
        funnel = self._funnel
        fns = {
            # bounded: one ~200-byte entry per shard, which the manifest lists anyway
            "shard_infos": beam.combiners.ToListCombineFn(),
            # bounded: counts per (place, reason, source)
            "tally": MergeTallies(),
            # bounded: one entry per stats section
            "sections": beam.combiners.ToDictCombineFn(),
            # bounded: one fixed-size sketch per accumulator name
            "accumulators": CombineEachKey(MergeAccumulators()),
        }
        parts = [shard_infos | "TagShards" >> beam.WithKeys("shard_infos")]
        parts += [
            t | f"TagTally{i}" >> beam.WithKeys("tally") for i, t in enumerate(funnel.tallies)
        ]
        parts += [
            pc | f"Tag_{path}" >> beam.Map(_section, path) for path, pc in funnel.sections.items()
        ]
        parts += [
            a | f"TagAccumulators{i}" >> beam.WithKeys("accumulators")
            for i, a in enumerate(funnel.accumulators)
        ]
        if self._keys is not None:
            from transforms.dedup.reference import BloomUnion

            # Only documents written to this release's shards (train and eval) enter its filter;
            # one key per document, so each bundle sends its keys folded into one accumulator.
            union = BloomUnion(self._plan.cfg.dedup.cross_release)
            # bounded: a fixed-size Bloom filter bit array
            fns["release_filter"] = MergeAccumulatorsOf(union)
            parts.append(
                self._keys
                | "ReleaseKeys" >> beam.ParDo(AccumulateInBundle(union, "release_filter"))
            )
        return (
            parts
            | "AllInputs" >> beam.Flatten()
            # bounded: each tag merged by its own CombineFn into one small value (see `fns`)
            | "Gather" >> beam.CombineGlobally(CombineByTag(fns))
            | "Finalize" >> beam.ParDo(Finalize(self._plan))
        )
