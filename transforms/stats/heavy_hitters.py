"""Bounded-memory heavy hitters: Misra-Gries candidates ranked by a Count-Min sketch.

For a stream of N items (here: word n-grams, given by 64-bit hashes), with capacity m:

- `MisraGries` keeps at most m counters. Mergeable form (Agarwal et al., "Mergeable Summaries",
  PODS 2012): add the counters of both sides, then subtract the (m+1)-th largest count from all and
  drop those <= 0. Guarantees, for any merge tree: f(x) - N/(m+1) <= c(x) <= f(x), so every item
  with f(x) > N/(m+1) is present. Which light items survive depends on the merge order.
- `CountMinSketch` (Cormode & Muthukrishnan 2005) is linear: merging adds tables, so it is
  identical for every partitioning. Its estimate est(x) >= f(x), and est(x) <= f(x) + e*N/width
  with probability >= 1 - exp(-depth).

`HeavyHitters` reports the Misra-Gries candidates whose Count-Min estimate exceeds
T = N/(m+1) + e*N/width, with that estimate as the count. When the Count-Min error of x is within
its bound, est(x) > T implies f(x) > N/(m+1), so x is a candidate under every partitioning: the
report is then the same however the input was split (the width is set to e*(m+1), so T = 2N/(m+1)).
Items below T are not reported, even if fewer than k pass. Memory: m keys, labels and counts plus
depth*width int64, fixed by the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from transforms.stats.hashing import splitmix64


def _prune(keys: np.ndarray, counts: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """The Misra-Gries reduction to at most `capacity` counters."""
    if keys.size <= capacity:
        return keys, counts
    cut = counts.size - (capacity + 1)
    threshold = np.partition(counts, cut)[cut]  # the (capacity+1)-th largest count
    counts = counts - threshold
    keep = counts > 0
    return keys[keep], counts[keep]


class MisraGries:
    """Mergeable Misra-Gries summary over uint64 keys, with a display label per kept key."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.keys = np.zeros(0, dtype=np.uint64)
        self.counts = np.zeros(0, dtype=np.int64)
        self.labels: dict[int, str] = {}
        self.total = 0

    def add_unique(
        self, keys: np.ndarray, counts: np.ndarray, labels: Callable[[np.ndarray], list[str]]
    ) -> None:
        """Adds distinct `keys` with their exact counts; `labels(idx)` names keys[idx]."""
        keys = np.asarray(keys, dtype=np.uint64)
        counts = np.asarray(counts, dtype=np.int64)
        self.total += int(counts.sum())
        order = np.arange(keys.size)
        if keys.size > self.capacity:  # prune the batch first: labels only for survivors
            cut = counts.size - (self.capacity + 1)
            threshold = np.partition(counts, cut)[cut]
            order = np.nonzero(counts > threshold)[0]
            counts = counts[order] - threshold
            keys = keys[order]
        names = labels(order) if order.size else []
        self._merge_arrays(
            keys, counts, {int(k): s for k, s in zip(keys.tolist(), names, strict=True)}
        )

    def _merge_arrays(self, keys: np.ndarray, counts: np.ndarray, labels: dict[int, str]) -> None:
        all_keys = np.concatenate([self.keys, keys])
        all_counts = np.concatenate([self.counts, counts])
        uniq, inverse = np.unique(all_keys, return_inverse=True)
        summed = np.zeros(uniq.size, dtype=np.int64)
        np.add.at(summed, inverse, all_counts)
        self.keys, self.counts = _prune(uniq, summed, self.capacity)
        merged = {**self.labels, **labels}
        self.labels = {k: merged[k] for k in self.keys.tolist()}

    def merge(self, other: MisraGries) -> MisraGries:
        """Merges `other` into this summary (in place); returns self."""
        if other.capacity != self.capacity:
            raise ValueError(f"capacities differ: {other.capacity} vs {self.capacity}")
        self.total += other.total
        self._merge_arrays(other.keys, other.counts, other.labels)
        return self

    @property
    def error_bound(self) -> float:
        return self.total / (self.capacity + 1)


class CountMinSketch:
    """A depth x width Count-Min sketch over uint64 keys (linear: merge adds tables)."""

    def __init__(self, width: int, depth: int, seed: int = 0) -> None:
        self.width, self.depth, self.seed = width, depth, seed
        self.table = np.zeros((depth, width), dtype=np.int64)
        self.total = 0

    def _buckets(self, keys: np.ndarray) -> np.ndarray:
        salts = splitmix64(np.arange(self.depth, dtype=np.uint64) + np.uint64(self.seed))
        mixed = splitmix64(keys[None, :] ^ salts[:, None])
        return (mixed % np.uint64(self.width)).astype(np.int64)

    def add(self, keys: np.ndarray, counts: np.ndarray) -> None:
        """Adds `counts[i]` to key `keys[i]`."""
        keys = np.asarray(keys, dtype=np.uint64)
        counts = np.asarray(counts, dtype=np.int64)
        buckets = self._buckets(keys)
        for row in range(self.depth):
            np.add.at(self.table[row], buckets[row], counts)
        self.total += int(counts.sum())

    def estimate(self, keys: np.ndarray) -> np.ndarray:
        """Upper estimates of the counts of `keys`."""
        keys = np.asarray(keys, dtype=np.uint64)
        if keys.size == 0:
            return np.zeros(0, dtype=np.int64)
        buckets = self._buckets(keys)
        return self.table[np.arange(self.depth)[:, None], buckets].min(axis=0)

    def merge(self, other: CountMinSketch) -> CountMinSketch:
        if (other.width, other.depth, other.seed) != (self.width, self.depth, self.seed):
            raise ValueError("Count-Min sketches of different shapes or seeds cannot merge")
        self.table += other.table
        self.total += other.total
        return self

    @property
    def error_bound(self) -> float:
        return math.e * self.total / self.width


class HeavyHitters:
    """Top-k frequent items in bounded memory, with stated error bounds (see module doc)."""

    def __init__(self, capacity: int = 4096, depth: int = 4, seed: int = 0) -> None:
        self.candidates = MisraGries(capacity)
        self.cms = CountMinSketch(math.ceil(math.e * (capacity + 1)), depth, seed)

    def add_unique(
        self, keys: np.ndarray, counts: np.ndarray, labels: Callable[[np.ndarray], list[str]]
    ) -> None:
        """Adds distinct keys with exact counts; `labels(idx)` gives display names of keys[idx]."""
        self.cms.add(keys, counts)
        self.candidates.add_unique(keys, counts, labels)

    def merge(self, other: HeavyHitters) -> HeavyHitters:
        self.cms.merge(other.cms)
        self.candidates.merge(other.candidates)
        return self

    @property
    def threshold(self) -> float:
        return self.candidates.error_bound + self.cms.error_bound

    def top(self, k: int) -> list[tuple[str, int]]:
        """Up to k (label, estimated count) with estimate > threshold, by count then label."""
        keys = self.candidates.keys
        est = self.cms.estimate(keys)
        sure = est > self.threshold
        labels = self.candidates.labels
        items = [
            (labels[int(key)], int(c))
            for key, c in zip(keys[sure].tolist(), est[sure], strict=True)
        ]
        items.sort(key=lambda item: (-item[1], item[0]))
        return items[:k]
