"""Exact token frequencies: one int64 counter per vocabulary id, merged by addition.

Memory is `vocab_size` counters, fixed by the tokenizer and independent of the corpus size; a
shard is one `np.bincount`. Ids outside [0, vocab_size) are counted apart (the validation gate
fails on them) rather than silently dropped or allowed to grow the array.
"""

from __future__ import annotations

import numpy as np


class TokenFrequencies:
    """Exact counts of token ids in [0, vocab_size)."""

    def __init__(self, vocab_size: int) -> None:
        if vocab_size <= 0:
            raise ValueError(f"vocab_size must be > 0, got {vocab_size}")
        self.vocab_size = vocab_size
        self.counts = np.zeros(vocab_size, dtype=np.int64)
        self.out_of_range = 0

    def add(self, ids: np.ndarray) -> None:
        """Counts a flat array of token ids."""
        ids = np.asarray(ids).ravel()
        if ids.size == 0:
            return
        ok = (ids >= 0) & (ids < self.vocab_size)
        n_ok = int(ok.sum())
        self.out_of_range += int(ids.size - n_ok)
        kept = ids if n_ok == ids.size else ids[ok]
        self.counts += np.bincount(kept.astype(np.int64), minlength=self.vocab_size)

    def merge(self, other: TokenFrequencies) -> TokenFrequencies:
        """Adds `other` into this table (in place); returns self."""
        if other.vocab_size != self.vocab_size:
            raise ValueError(f"vocab sizes differ: {other.vocab_size} vs {self.vocab_size}")
        self.counts += other.counts
        self.out_of_range += other.out_of_range
        return self

    def top(self, k: int) -> list[tuple[int, int]]:
        """The k most frequent ids as (id, count), ties broken by the smaller id."""
        nonzero = np.nonzero(self.counts)[0]
        order = np.lexsort((nonzero, -self.counts[nonzero]))[:k]
        return [(int(nonzero[i]), int(self.counts[nonzero[i]])) for i in order]

    def to_json(self, k: int) -> dict:
        return {
            "vocab_size": self.vocab_size,
            "total": int(self.counts.sum()) + self.out_of_range,
            "distinct_ids": int(np.count_nonzero(self.counts)),
            "out_of_range": self.out_of_range,
            "top": [[i, c] for i, c in self.top(k)],
        }
