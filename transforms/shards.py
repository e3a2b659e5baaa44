"""Globally shuffled Arrow shards: an external sort by a seeded key, cut into exact-size shards.

Every selected document has a key = seeded hash of its id. The tokenized runs are each sorted by
key; `plan_shards` sorts the selected keys (small: ids only) and cuts them every
`rows_per_shard`; each `ShardTask` then reads its key range from every run (memory-mapped,
binary search), keeps its own ids, and writes one shard. Shard contents depend only on the set
of selected documents and the seed: never on workers, bundles or run files.

Shards are Arrow IPC *stream* files (`datasets.Dataset.from_file` reads only that format;
pyarrow reads them zero-copy with `pa.ipc.open_stream(pa.memory_map(path))`), written to a
temporary name and renamed, so a crashed run never leaves a half shard under a final name.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quality.stage import label_columns
from transforms import fs
from transforms.accounting import TallyingDoFn
from transforms.hashing import shuffle_key
from transforms.spill import read_run


class ShardTask(NamedTuple):
    split: str  # train | eval
    index: int
    ids: list[str]  # in shard order (key, id)
    lo: int  # smallest key, inclusive
    hi: int  # largest key, inclusive


def plan_shards(selected: list[tuple[str, str]], seed: int, rows_per_shard: int) -> list[ShardTask]:
    """(id, split) pairs -> shard tasks of exactly `rows_per_shard` rows (the last may be short)."""
    tasks: list[ShardTask] = []
    for split in sorted({s for _, s in selected}):
        keyed = sorted((shuffle_key(doc_id, seed), doc_id) for doc_id, s in selected if s == split)
        for index, start in enumerate(range(0, len(keyed), rows_per_shard)):
            chunk = keyed[start : start + rows_per_shard]
            tasks.append(ShardTask(split, index, [d for _, d in chunk], chunk[0][0], chunk[-1][0]))
    return tasks


def shard_schema(score_columns: list[str], include_text: bool) -> pa.Schema:
    fields = [
        ("id", pa.string()),
        ("source", pa.string()),
        ("input_ids", pa.list_(pa.int32())),
        ("n_tokens", pa.int32()),
    ]
    fields += [(c, pa.float32()) for c in score_columns]
    fields += [(c, pa.string()) for c in label_columns(score_columns)]
    fields += [("dedup_cluster", pa.string())]
    if include_text:
        fields.append(("text", pa.large_string()))
    return pa.schema(fields)


def gather_shard_rows(task: ShardTask, run_paths: list[str]) -> pa.Table:
    """The task's rows from every run, in (key, id) order; raises if any selected row is missing."""
    wanted = pa.array(task.ids, pa.string())
    parts = []
    for path in sorted(run_paths):
        table = read_run(path)
        keys = table.column("key").to_numpy()
        lo, hi = np.searchsorted(keys, task.lo, "left"), np.searchsorted(keys, task.hi, "right")
        if hi <= lo:
            continue
        part = table.slice(lo, hi - lo)
        part = part.filter(pc.is_in(part.column("id"), value_set=wanted))
        if part.num_rows:
            parts.append(part)
    if not parts:
        raise RuntimeError(f"shard {task.split}-{task.index}: no rows found")
    rows = pa.concat_tables(parts).combine_chunks()
    rows = rows.sort_by([("key", "ascending"), ("id", "ascending")])
    if rows.num_rows != len(task.ids):
        found = set(rows.column("id").to_pylist())
        missing = [d for d in task.ids if d not in found][:5]
        raise RuntimeError(
            f"shard {task.split}-{task.index}: {rows.num_rows} rows for {len(task.ids)} ids (missing e.g. {missing})"
        )
    return rows


class WriteShard(TallyingDoFn):
    """ShardTask -> shard info dict (main) + (name, accumulator) pairs on the "stats" output."""

    stage = "shards"
    timed = True
    STATS = "stats"

    def __init__(
        self, output: str, score_columns: list[str], include_text: bool, accumulators=None
    ) -> None:
        self._output = output
        self._schema = shard_schema(score_columns, include_text)
        self._accumulators = dict(accumulators or {})  # name -> factory of a mergeable accumulator

    def process(self, task: ShardTask, runs):
        import apache_beam as beam

        rows = gather_shard_rows(task, [r.path for r in runs])
        table = rows.select(self._schema.names).cast(self._schema)
        rel = f"shards/{task.split}-{task.index:05d}.arrow"
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
        sources = rows.column("source").to_pylist()
        texts = rows.column("text").to_pylist()
        for src, text in zip(sources, texts, strict=True):
            self.count("written", "", src, len(text.encode("utf-8", "surrogatepass")))
        tokens = int(pc.sum(rows.column("n_tokens")).as_py() or 0)
        for name, factory in sorted(self._accumulators.items()):
            acc = factory()
            acc.add_table(rows)  # every row with its text, even when shards omit the text
            yield beam.pvalue.TaggedOutput(self.STATS, (name, acc))
        yield {
            "split": task.split,
            "path": rel,
            "rows": table.num_rows,
            "tokens": tokens,
            "bytes": n_bytes,
            "sha256": digest,
        }


def open_shard(path: str) -> pa.Table:
    """Reads a shard zero-copy (memory-mapped Arrow IPC stream)."""
    return pa.ipc.open_stream(pa.memory_map(path)).read_all()
