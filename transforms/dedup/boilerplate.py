"""`BoilerplateLines`: line hashes found in more than `min_docs` documents, corpus-wide.

Input: one element per document, the bytes of its sorted distinct line-hash array
(`DocFeatures.line_hashes`). Output: a single element, the sorted uint64 array of boilerplate
line hashes, for `strip_boilerplate` in stage 2 (as a side input).

Counting is vectorised and sharded:
1. per bundle, arrays are buffered and counted with `np.unique` (a document contributes each of
   its lines once, so a count is a number of documents); the counts are split into 4096 shards
   by the hash's top 12 bits and emitted as (shard, (hashes, counts)) array pairs;
2. `CombinePerKey` merges the pairs of one shard (concatenate + `np.unique` + `np.add.reduceat`)
   and keeps hashes whose total exceeds `min_docs`;
3. one final combine concatenates and sorts the (small) boilerplate set.

Memory bound: a worker buffers at most `flush_hashes` (default 4M, 32 MB) hashes before
pre-aggregating; a shard's combiner holds the distinct lines of 1/4096 of the corpus at 16 B
each (10B distinct lines -> ~40 MB per shard); the final set is 8 B per boilerplate line.

`BoilerplateMethod` is the whole method (`transforms/dedup/method.py`): the `line_hashes` spill
column, the count over the records that survive exact dedup, and the line stripping at apply time.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa

from transforms.dedup.config import BoilerplateConfig
from transforms.dedup.method import DedupMethod, MethodDecisions
from transforms.dedup.rolling import line_hashes, strip_boilerplate, strip_boilerplate_batch

_SHARD_BITS = 12  # 4096 count shards: ~40 MB per shard at 10B distinct lines
_NS = "dedup_boilerplate"


def count_hashes(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct hashes, occurrences) over the concatenation of `arrays`."""
    if not arrays:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    values, counts = np.unique(np.concatenate(arrays), return_counts=True)
    return values, counts.astype(np.int64)


def merge_counts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sums the counts of equal hashes over several (hashes, counts) pairs."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    hashes = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    order = np.argsort(hashes, kind="stable")
    hashes, counts = hashes[order], counts[order]
    starts = np.flatnonzero(np.concatenate(([True], hashes[1:] != hashes[:-1])))
    return hashes[starts], np.add.reduceat(counts, starts)


class _CountPerBundleFn(beam.DoFn):
    def __init__(self, flush_hashes: int) -> None:
        self.flush_hashes = flush_hashes
        self.bad = beam.metrics.Metrics.counter(_NS, "bad_line_hash_arrays")

    def start_bundle(self) -> None:
        self._buffer: list[np.ndarray] = []
        self._size = 0

    def process(self, blob: bytes):
        if not isinstance(blob, bytes) or len(blob) % 8:
            self.bad.inc()  # a malformed feature never crashes the count
            return
        arr = np.frombuffer(blob, dtype="<u8")
        self._buffer.append(np.unique(arr))  # a document counts once per line
        self._size += len(arr)
        if self._size >= self.flush_hashes:
            yield from self._flush()

    def finish_bundle(self):
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.windowed_value import WindowedValue

        for kv in self._flush():
            yield WindowedValue(kv, GlobalWindow().max_timestamp(), [GlobalWindow()])

    def _flush(self):
        hashes, counts = count_hashes(self._buffer)
        self._buffer, self._size = [], 0
        shard = (hashes >> np.uint64(64 - _SHARD_BITS)).astype(np.int64)
        bounds = np.searchsorted(shard, np.arange((1 << _SHARD_BITS) + 1))
        for s in np.flatnonzero(np.diff(bounds)):
            a, b = bounds[s], bounds[s + 1]
            yield int(s), (hashes[a:b].tobytes(), counts[a:b].tobytes())


class _ShardCountsFn(beam.CombineFn):
    """Merges (hashes, counts) byte pairs of one shard; outputs hashes with count > min_docs."""

    def __init__(self, min_docs: int) -> None:
        self.min_docs = min_docs

    def create_accumulator(self):
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)

    def add_input(self, acc, pair):
        part = np.frombuffer(pair[0], "<u8"), np.frombuffer(pair[1], "<i8")
        return merge_counts([acc, part])

    def merge_accumulators(self, accs):
        return merge_counts(list(accs))

    def extract_output(self, acc) -> np.ndarray:
        hashes, counts = acc
        return hashes[counts > self.min_docs]


def _concat_sorted(arrays) -> np.ndarray:
    arrays = [a for a in arrays if len(a)]
    return np.sort(np.concatenate(arrays)) if arrays else np.zeros(0, np.uint64)


class BoilerplateLines(beam.PTransform):
    """Per-document line-hash arrays -> one sorted array of boilerplate line hashes.

    Args:
        cfg: the `dedup.boilerplate` section (`min_docs`).
        flush_hashes: hashes buffered per bundle before pre-aggregation (memory bound).
    """

    def __init__(self, cfg: BoilerplateConfig, flush_hashes: int = 1 << 22) -> None:
        super().__init__()
        problems = cfg.validate()
        if problems:
            raise ValueError("invalid dedup.boilerplate config: " + "; ".join(problems))
        self.cfg, self.flush_hashes = cfg, flush_hashes

    def expand(self, line_hash_blobs):
        return (
            line_hash_blobs
            | "CountPerBundle" >> beam.ParDo(_CountPerBundleFn(self.flush_hashes))
            | "CountPerShard" >> beam.CombinePerKey(_ShardCountsFn(self.cfg.min_docs))
            | "DropShardKey" >> beam.Values()
            # bounded: the boilerplate set itself, 8 bytes per line found in > min_docs documents
            | "Collect" >> beam.combiners.ToList()
            | "Sort" >> beam.Map(_concat_sorted)
        )


class BoilerplateDecisions(beam.PTransform):
    """`RunWork` -> `MethodDecisions` whose apply-time state is the boilerplate line set."""

    def __init__(self, cfg: BoilerplateConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def expand(self, work):
        from transforms.dedup.run_features import RunLineHashes

        lines = work | "LineHashes" >> RunLineHashes() | "Count" >> BoilerplateLines(self.cfg)
        return MethodDecisions(
            state=lines, sections={"dedup.boilerplate_lines": lines | "CountLines" >> beam.Map(len)}
        )


class BoilerplateMethod(DedupMethod):
    """Lines found in more than `min_docs` documents are stripped (`dedup.boilerplate`)."""

    name = "boilerplate"
    rewrite_unit = "boilerplate_lines"

    def __init__(self, cfg: BoilerplateConfig, seed: int = 0, keep: str = "longest") -> None:
        super().__init__(seed, keep)
        self.cfg = cfg

    def spill_columns(self) -> list[tuple[str, pa.DataType]]:
        return [("line_hashes", pa.binary())]  # sorted distinct uint64 line hashes

    def featurize(self, texts: list[str]) -> dict[str, list]:
        n = self.cfg.min_line_chars
        return {"line_hashes": [line_hashes(t, n).tobytes() for t in texts]}

    def decide(self) -> beam.PTransform:
        return BoilerplateDecisions(self.cfg)

    def rewrite(self, text: str, state: Any) -> tuple[str, int] | None:
        if state is None or not len(state):
            return None
        return strip_boilerplate(text, state)

    def rewrite_batch(self, texts: list[str], state: Any) -> list[tuple[str, int] | None]:
        if state is None or not len(state):
            return [None] * len(texts)
        return strip_boilerplate_batch(texts, state)
