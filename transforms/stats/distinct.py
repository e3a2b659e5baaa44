"""Distinct-count estimates with datasketch's HyperLogLog++, fed by vectorised stable hashes.

`datasketch.HyperLogLogPlusPlus.update` hashes one Python object at a time (SHA-1 by default, and
its pickled form forgets a custom hash function). We keep datasketch's register layout and
estimator (`count()`, `merge()`: register-wise max), but fill the registers from uint64 hashes in
numpy, so a shard of n-grams is one `np.maximum.at` call. Merging takes the max of registers, so
the estimate is identical whatever the partitioning. Memory: 2**p bytes, fixed; relative standard
error about 1.04 / sqrt(2**p) (0.8% at p = 14), better for small counts (linear counting).
"""

from __future__ import annotations

import numpy as np
from datasketch import HyperLogLogPlusPlus

from transforms.stats.hashing import bit_length, hash_bytes, splitmix64


class DistinctCounter:
    """A HyperLogLog++ distinct counter over 64-bit hashes (or strings/bytes)."""

    def __init__(self, precision: int = 14) -> None:
        self.precision = precision
        self.registers = np.zeros(1 << precision, dtype=np.int8)

    def add_hashes(self, hashes: np.ndarray) -> None:
        """Adds items given by their uint64 hashes (re-mixed, so weak hashes are fine)."""
        h = splitmix64(np.asarray(hashes, dtype=np.uint64).ravel())
        if h.size == 0:
            return
        p = np.uint64(self.precision)
        index = (h & np.uint64((1 << self.precision) - 1)).astype(np.int64)
        # datasketch's rank: (64 - p) - bit_length(rest) + 1, the position of the leading 1.
        rank = (64 - self.precision) - bit_length(h >> p) + 1
        np.maximum.at(self.registers, index, rank.astype(np.int8))

    def add(self, item: str | bytes) -> None:
        """Adds one item (strings as UTF-8)."""
        data = item.encode("utf-8", "surrogatepass") if isinstance(item, str) else item
        self.add_hashes(np.array([hash_bytes(data)], dtype=np.uint64))

    def merge(self, other: DistinctCounter) -> DistinctCounter:
        """Register-wise max with `other` (in place); returns self."""
        if other.precision != self.precision:
            raise ValueError(f"cannot merge HLL p={other.precision} into p={self.precision}")
        np.maximum(self.registers, other.registers, out=self.registers)
        return self

    def count(self) -> int:
        """The HyperLogLog++ estimate (datasketch's bias-corrected estimator), rounded."""
        return int(round(HyperLogLogPlusPlus(reg=self.registers.copy()).count()))

    @property
    def relative_error(self) -> float:
        return 1.04 / float(np.sqrt(1 << self.precision))
