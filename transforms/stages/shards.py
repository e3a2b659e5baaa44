"""Globally shuffled Arrow shards: exact-size shards in seeded-key order, written two ways.

Every selected document has a key = seeded hash of its id; `transforms.stages.shard_plan.PlanShards`
assigns each one a (split, shard index) from bounded aggregates. The tokenized runs are each
sorted by key. Two writers produce byte-identical shards (both sort a shard's rows by (key, id)
and write them with the same code):

- **local** (the embedded FnApiRunner): the assignments are grouped per shard into a
  `ShardTask` (at most `rows_per_shard` ids) and each shard task reads its key range from every
  run (memory-mapped, binary search): shards x runs range reads, cheap on a local disk, and no
  row data crosses a shuffle (the local runner would hold it in memory).
- **shuffle** (Dataflow, Flink, Spark): the assignments are grouped per tokenized run; each run
  is read once and its selected rows go, as small Arrow slices, through a GroupByKey on the
  shard index; each shard is written once: shards + runs file operations, and the runner's
  shuffle service moves the bytes.

Shard contents depend only on the set of selected documents and the seed: never on workers,
bundles or run files. Shards are Arrow IPC *stream* files (`datasets.Dataset.from_file` reads
only that format; pyarrow reads them zero-copy with `pa.ipc.open_stream(pa.memory_map(path))`),
written to a temporary name and renamed, so a crashed run never leaves a half shard under a
final name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.infra import fs
from transforms.infra.accounting import TALLY, TallyingDoFn
from transforms.infra.disk_group import GroupByKeyOnDisk
from transforms.infra.hashing import shuffle_key
from transforms.infra.progress import report as report_progress
from transforms.infra.runners import is_local_runner
from transforms.infra.spill import read_run
from transforms.infra.stage_output import StageOutput
from transforms.stages.apply_decisions import TEXT_BYTES
from transforms.stages.corpus_stats import writer_accumulators


def choose_write_path(setting: str, runner: str | None) -> str:
    """`shards.write_path`: auto = local external sort on the embedded runner, else shuffle."""
    if setting != "auto":
        return setting
    return "local" if is_local_runner(runner) else "shuffle"


@dataclass(frozen=True)
class ShardWriteSettings:
    """Everything `WriteShards` needs, one object (`from_config` builds it for a run).

    Attributes:
        output: the run's output folder.
        path: "local" (external sort over memory-mapped runs) or "shuffle" (GroupByKey).
        score_columns, label_columns, include_text: the shard schema.
        accumulators: name -> factory of a mergeable accumulator fed every shard's rows.
        emit_keys: emit the content key of every published document (the release filter).
    """

    output: str
    path: str = "local"
    score_columns: tuple[str, ...] = ()
    include_text: bool = False
    accumulators: Mapping[str, Callable] = field(default_factory=dict)
    label_columns: tuple[str, ...] = ()
    emit_keys: bool = False

    def __post_init__(self) -> None:
        if self.path not in ("local", "shuffle"):
            raise ValueError(f"shard write path must be local or shuffle, got {self.path!r}")

    @classmethod
    def from_config(cls, cfg, plan) -> ShardWriteSettings:
        """From the run's `CurateConfig` and its prepared `RunPlan` (pipelines/graph.py)."""
        return cls(
            output=plan.output,
            path=plan.write_path,
            score_columns=tuple(plan.score_columns),
            include_text=cfg.shards.include_text,
            accumulators=writer_accumulators(cfg, plan.tokenizer.vocab_size, plan.dsir),
            label_columns=tuple(plan.label_columns),
            emit_keys=cfg.dedup.cross_release.write_filter,
        )


class ShardTask(NamedTuple):
    split: str  # train | eval
    index: int
    ids: list[str]  # in shard order (key, id)
    lo: int  # smallest key, inclusive
    hi: int  # largest key, inclusive


def plan_shards(selected: list[tuple[str, str]], seed: int, rows_per_shard: int) -> list[ShardTask]:
    """(id, split) pairs -> shard tasks of exactly `rows_per_shard` rows (the last may be short).

    The in-memory reference of `PlanShards` (tests compare the two).
    """
    tasks: list[ShardTask] = []
    for split in sorted({s for _, s in selected}):
        keyed = sorted((shuffle_key(doc_id, seed), doc_id) for doc_id, s in selected if s == split)
        for index, start in enumerate(range(0, len(keyed), rows_per_shard)):
            chunk = keyed[start : start + rows_per_shard]
            tasks.append(ShardTask(split, index, [d for _, d in chunk], chunk[0][0], chunk[-1][0]))
    return tasks


def shard_schema(
    score_columns: list[str], include_text: bool, label_columns: list[str] = ()
) -> pa.Schema:
    fields = [
        ("id", pa.string()),
        ("source", pa.string()),
        ("input_ids", pa.list_(pa.int32())),
        ("n_tokens", pa.int32()),
    ]
    fields += [(c, pa.float32()) for c in score_columns]
    fields += [(c, pa.string()) for c in label_columns]
    fields += [("dedup_cluster", pa.string())]
    if include_text:
        fields.append(("text", pa.large_string()))
    return pa.schema(fields)


def gather_shard_rows(task: ShardTask, run_paths: list[str], keep_text: bool = True) -> pa.Table:
    """The task's rows from every run, in (key, id) order; raises if any selected row is missing.

    `keep_text=False`: the text column is replaced by `text_bytes` (its UTF-8 sizes, read from the
    Arrow offsets) before any row is copied, for a shard that neither stores nor feeds the texts;
    runs written without their texts (`ApplySettings.keep_text`) hold those sizes already.
    """
    wanted = pa.array(task.ids, pa.string())
    parts = []
    for path in sorted(run_paths):
        table = read_run(path)
        keys = table.column("key").to_numpy()
        lo, hi = np.searchsorted(keys, task.lo, "left"), np.searchsorted(keys, task.hi, "right")
        if hi <= lo:
            continue
        part = table.slice(lo, hi - lo)
        if keep_text and "text" not in part.column_names:
            raise RuntimeError(f"tokenized run {path} was written without its texts")
        if not keep_text and "text" in part.column_names:
            sizes = pc.binary_length(part.column("text")).cast(pa.int64())
            part = part.drop_columns(["text"]).append_column(TEXT_BYTES, sizes)
        part = part.filter(pc.is_in(part.column("id"), value_set=wanted))
        if part.num_rows:
            parts.append(part)
    if not parts:
        raise RuntimeError(f"shard {task.split}-{task.index}: no rows found")
    rows = in_shard_order(pa.concat_tables(parts).combine_chunks())
    if rows.num_rows != len(task.ids):
        found = set(rows.column("id").to_pylist())
        missing = [d for d in task.ids if d not in found][:5]
        raise RuntimeError(
            f"shard {task.split}-{task.index}: {rows.num_rows} rows for {len(task.ids)} ids (missing e.g. {missing})"
        )
    return rows


def in_shard_order(rows: pa.Table) -> pa.Table:
    """`rows` sorted by (key, id); as they are when their keys already strictly increase (rows
    gathered from the sorted runs usually are), so the token lists are not copied again."""
    keys = rows.column("key").to_numpy()
    if len(keys) < 2 or bool(np.all(keys[1:] > keys[:-1])):
        return rows
    return rows.sort_by([("key", "ascending"), ("id", "ascending")])


def _task_of(keyed) -> ShardTask:
    (split, index), members = keyed
    members = sorted(members)
    return ShardTask(split, index, [m[1] for m in members], members[0][0], members[-1][0])


class _ShardWriterFn(TallyingDoFn):
    """Writes one shard's rows; counts them; feeds the accumulators; emits published keys."""

    stage = "shards"
    timed = True
    STATS, KEYS = "stats", "keys"

    def __init__(self, settings: ShardWriteSettings) -> None:
        self._output = settings.output
        self._schema = shard_schema(
            list(settings.score_columns), settings.include_text, list(settings.label_columns)
        )
        self._accumulators = dict(settings.accumulators)  # name -> accumulator factory
        self._emit_keys = settings.emit_keys
        # The texts are copied into a shard's rows only when the shard stores them or an
        # accumulator reads them; otherwise only their sizes (the written-bytes tally) travel.
        self._needs_text = settings.include_text or bool(self._accumulators)

    def _write(self, split: str, index: int, rows: pa.Table):
        rows = in_shard_order(rows)
        # One chunk whatever the path that gathered the rows, so both write identical bytes.
        table = rows.select(self._schema.names).cast(self._schema).combine_chunks()
        rel = f"shards/{split}-{index:05d}.arrow"
        path = fs.join(self._output, rel)
        tmp = fs.temp_name(path)
        with fs.open_write(tmp) as fh:
            with pa.ipc.new_stream(fh, self._schema) as writer:
                writer.write_table(table, max_chunksize=1024)
            if not fs.is_remote(path):
                fh.flush()
                os.fsync(fh.fileno())
        fs.rename(tmp, path)
        digest, n_bytes = fs.sha256_file(path)
        # Documents and UTF-8 bytes written per source, summed in Arrow: the texts never become
        # Python strings here (the tally is the same as counting row by row).
        if "text" in rows.column_names:
            sizes = pc.binary_length(rows.column("text"))
        else:  # gathered without the texts (`gather_shard_rows(keep_text=False)`)
            sizes = rows.column(TEXT_BYTES)
        per_source = (
            pa.table({"source": rows.column("source"), "n": sizes})
            .group_by("source")
            .aggregate([("n", "count"), ("n", "sum")])
        )
        for src, docs, text_bytes in zip(
            *(per_source.column(c).to_pylist() for c in ("source", "n_count", "n_sum")),
            strict=True,
        ):
            self.count("written", "", src, text_bytes, n=docs)
        tokens = int(pc.sum(rows.column("n_tokens")).as_py() or 0)
        for name, factory in sorted(self._accumulators.items()):
            acc = factory()
            acc.add_table(rows)  # every row with its text, even when shards omit the text
            yield beam.pvalue.TaggedOutput(self.STATS, (name, acc))
        if self._emit_keys:
            for key in rows.column("content_key").to_pylist():
                yield beam.pvalue.TaggedOutput(self.KEYS, key)
        report_progress("shards", units=1, docs=table.num_rows)
        yield {
            "split": split,
            "path": rel,
            "rows": table.num_rows,
            "tokens": tokens,
            "bytes": n_bytes,
            "sha256": digest,
        }


class WriteShard(_ShardWriterFn):
    """Local path: ShardTask (with every tokenized run as a side input) -> one shard."""

    def process(self, task: ShardTask, runs):
        rows = gather_shard_rows(task, [r.path for r in runs], keep_text=self._needs_text)
        yield from self._write(task.split, task.index, rows)


class _RunSlicesFn(beam.DoFn):
    """Shuffle path: (run path, [(split, index, key, id)]) -> ((split, index), Arrow IPC slice)."""

    def process(self, keyed):
        path, wanted = keyed
        table = read_run(path)
        slot_of = {doc_id: (split, index) for split, index, _key, doc_id in wanted}
        ids = table.column("id").to_pylist()
        rows_by_slot: dict[tuple, list[int]] = {}
        for i, doc_id in enumerate(ids):
            slot = slot_of.get(doc_id)
            if slot is not None:
                rows_by_slot.setdefault(slot, []).append(i)
        found = sum(len(v) for v in rows_by_slot.values())
        if found != len(slot_of):
            missing = sorted(set(slot_of) - set(ids))[:5]
            raise RuntimeError(f"tokenized run {path}: selected ids missing (e.g. {missing})")
        for slot in sorted(rows_by_slot):
            part = table.take(pa.array(rows_by_slot[slot], pa.int64()))
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, part.schema) as writer:
                writer.write_table(part)
            yield slot, sink.getvalue().to_pybytes()


class _WriteFromSlicesFn(_ShardWriterFn):
    """Shuffle path: ((split, index), slices) -> one shard."""

    def process(self, keyed):
        (split, index), slices = keyed
        parts = [pa.ipc.open_stream(pa.py_buffer(b)).read_all() for b in slices]
        rows = pa.concat_tables(parts).combine_chunks()
        yield from self._write(split, index, rows)


@dataclass
class ShardsOutcome(StageOutput):
    """Main: one info dict per shard (split, path, rows, tokens, bytes, sha256)."""

    keys: beam.PCollection | None = None  # content keys of the published documents


class WriteShards(beam.PTransform):
    """Shard assignments -> `ShardsOutcome` by the chosen write path (`ShardWriteSettings`).

    To `expand`: a dict with "assignments" (((split, index), (key, id, run path))) and "runs"
    (TokRun, used by the local path only). Out: the shard infos (main), the tally, the
    accumulators fed every shard's rows, and the published content keys (with `emit_keys`).
    """

    def __init__(self, settings: ShardWriteSettings) -> None:
        super().__init__()
        self._settings = settings

    def expand(self, parts):
        outputs = (_ShardWriterFn.STATS, _ShardWriterFn.KEYS, TALLY)
        assignments = parts["assignments"]
        if self._settings.path == "local":
            written = (
                assignments
                | "GroupShardIds" >> GroupByKeyOnDisk()  # at most rows_per_shard ids a shard
                | "ShardTasks" >> beam.Map(_task_of)
                | "SpreadShards" >> beam.Reshuffle()
                | "WriteShards"
                # bounded: local path only (embedded runner): one small TokRun per 64 MB spill run
                >> beam.ParDo(
                    WriteShard(self._settings), runs=beam.pvalue.AsList(parts["runs"])
                ).with_outputs(*outputs, main="infos")
            )
        else:
            written = (
                assignments
                | "ByRun" >> beam.MapTuple(lambda slot, m: (m[2], (slot[0], slot[1], m[0], m[1])))
                | "GroupByRun" >> beam.GroupByKey()  # a run's selected ids: bounded by run size
                | "RunSlices" >> beam.ParDo(_RunSlicesFn())
                | "GroupSlices" >> beam.GroupByKey()  # one shard's rows: rows_per_shard rows
                | "WriteShards"
                >> beam.ParDo(_WriteFromSlicesFn(self._settings)).with_outputs(
                    *outputs, main="infos"
                )
            )
        return ShardsOutcome(
            written.infos,
            tally=written[TALLY],
            accumulators=written[_ShardWriterFn.STATS],
            keys=written[_ShardWriterFn.KEYS],
        )


def open_shard(path: str) -> pa.Table:
    """Reads a shard zero-copy (memory-mapped Arrow IPC stream)."""
    return pa.ipc.open_stream(pa.memory_map(path)).read_all()
