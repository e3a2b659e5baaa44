"""Thin Beam wrappers around the Beam-free sketches (the only module here importing Beam).

- `MergeShardStats`: CombineFn merging a PCollection of `ShardStats` into stats.json["corpus"].
- `DistinctCountFn`: CombineFn, HyperLogLog++ distinct count of strings or bytes.
- `ExactTopNGrams`: PTransform, exact word n-gram counts through `CombinePerKey(sum)` then the
  top k. Exact and simple, but the shuffle carries every distinct n-gram: for demo-scale corpora;
  large corpora use the bounded `HeavyHitters` sketch inside `ShardStats`.
"""

from __future__ import annotations

from collections.abc import Iterable

import apache_beam as beam

from quality.report_config import StatsConfig
from transforms.stats.distinct import DistinctCounter
from transforms.stats.ngrams import text_ngrams
from transforms.stats.shard_stats import ShardStats


class MergeShardStats(beam.CombineFn):
    """Merges `ShardStats` accumulators; the output is the JSON dict of `ShardStats.to_json`."""

    def __init__(self, cfg: StatsConfig, vocab_size: int) -> None:
        super().__init__()
        self._cfg = cfg
        self._vocab_size = vocab_size

    def create_accumulator(self) -> ShardStats:
        return ShardStats(self._cfg, self._vocab_size)

    def add_input(self, acc: ShardStats, stats: ShardStats) -> ShardStats:
        return acc.merge(stats)  # merge() reads `stats`, never mutates it

    def merge_accumulators(self, accs: Iterable[ShardStats]) -> ShardStats:
        accs = iter(accs)
        out = next(accs)
        for acc in accs:
            out.merge(acc)
        return out

    def extract_output(self, acc: ShardStats) -> dict:
        return acc.to_json()


class DistinctCountFn(beam.CombineFn):
    """Estimated number of distinct elements (str or bytes), via HyperLogLog++."""

    def __init__(self, precision: int = 14) -> None:
        super().__init__()
        self._precision = precision

    def create_accumulator(self) -> DistinctCounter:
        return DistinctCounter(self._precision)

    def add_input(self, acc: DistinctCounter, item: str | bytes) -> DistinctCounter:
        acc.add(item)
        return acc

    def merge_accumulators(self, accs: Iterable[DistinctCounter]) -> DistinctCounter:
        accs = iter(accs)
        out = next(accs)
        for acc in accs:
            out.merge(acc)
        return out

    def extract_output(self, acc: DistinctCounter) -> int:
        return acc.count()


def _tie_key(text: str) -> tuple[int, ...]:
    """A key that sorts strings in reverse order (so Top.Of prefers the smaller on equal counts)."""
    return tuple(0x10FFFF - ord(c) for c in text) + (0x110000,)


class ExactTopNGrams(beam.PTransform):
    """PCollection[str] of texts -> one list of the k most frequent (n-gram, count), exact."""

    def __init__(self, n: int = 2, k: int = 50, lowercase: bool = True) -> None:
        super().__init__()
        if n < 1 or k < 1:
            raise ValueError(f"n and k must be >= 1, got n={n}, k={k}")
        self._n, self._k, self._lowercase = n, k, lowercase

    def expand(self, texts):
        n, lowercase = self._n, self._lowercase
        return (
            texts
            | "NGrams"
            >> beam.FlatMap(lambda text: [(g, 1) for g in text_ngrams(text, n, lowercase)])
            | "Count" >> beam.CombinePerKey(sum)
            | "TopK" >> beam.combiners.Top.Of(self._k, key=lambda kv: (kv[1], _tie_key(kv[0])))
        )
