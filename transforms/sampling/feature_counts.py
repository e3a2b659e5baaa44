"""A mergeable accumulator of hashed n-gram counts, with readable labels for display.

Used for DSIR's KL diagnostic (counts of the selected documents vs a random selection) and for
drift (the distribution of this run, stored in stats.json for the next one).

Labels: a bucket mixes many n-grams, so for display each bucket keeps one readable n-gram. It is
the n-gram of the bucket's occurrence with the smallest occurrence hash, where an occurrence is
identified by (hash of its document's text, position, order). That is a min-hash draw over
occurrences: the label is an n-gram picked with probability proportional to its count in the
bucket (so usually the dominant one), and it is exactly the same however the documents are split
into batches or merged, because a minimum is order-free. Memory: one label per bucket at most.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xxhash

from transforms.sampling.ngrams import _K, FEATURES_VERSION, NgramHasher, mix64

_NO_KEY = np.uint64(np.iinfo(np.uint64).max)


class FeatureCounts:
    """Counts of hashed n-grams over the texts added so far.

    Args:
        hasher: the feature definition (buckets, orders, seed).
        labels: also keep one readable n-gram per bucket (costs a little per batch).
    """

    def __init__(self, hasher: NgramHasher, labels: bool = False) -> None:
        self.hasher = hasher
        self.counts = np.zeros(hasher.buckets, dtype=np.int64)
        self.docs = 0
        self.keep_labels = labels
        self.label_keys = np.full(hasher.buckets, _NO_KEY, dtype=np.uint64) if labels else None
        self.labels: dict[int, str] = {}

    def add_texts(self, texts: Sequence[str]) -> FeatureCounts:
        """Adds a batch of documents (non-strings count as empty) and returns self."""
        hasher = self.hasher
        flat, hashes, doc_of = hasher.tokenize_batch(texts)
        self.docs += len(texts)
        if self.keep_labels:
            lengths = np.bincount(doc_of, minlength=len(texts))
            offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            text_hash = np.fromiter(
                (
                    xxhash.xxh3_64_intdigest(t.encode("utf-8", "surrogatepass"))
                    if isinstance(t, str)
                    else 0
                    for t in texts
                ),
                dtype=np.uint64,
                count=len(texts),
            )
        for n in hasher.orders:
            starts, h = hasher.ngram_hashes(hashes, doc_of, n)
            b = (h % np.uint64(hasher.buckets)).astype(np.int64)
            self.counts += np.bincount(b, minlength=hasher.buckets)
            if self.keep_labels and len(starts):
                docs = doc_of[starts]
                pos = (starts - offsets[docs]).astype(np.uint64)
                occ = mix64(text_hash[docs] ^ mix64(pos * _K + np.uint64(n)))
                self._update_labels(b, occ, starts, n, flat)
        return self

    def _update_labels(
        self, b: np.ndarray, occ: np.ndarray, starts: np.ndarray, n: int, flat: list[str]
    ) -> None:
        better = occ < self.label_keys[b]  # after warm-up almost nothing passes: cheap
        if not better.any():
            return
        b, occ, starts = b[better], occ[better], starts[better]
        order = np.lexsort((occ, b))
        b, occ, starts = b[order], occ[order], starts[order]
        first = np.concatenate(([True], b[1:] != b[:-1]))
        for bucket, key, start in zip(
            b[first].tolist(), occ[first].tolist(), starts[first].tolist(), strict=True
        ):
            self.label_keys[bucket] = key
            self.labels[bucket] = " ".join(flat[start : start + n])

    def merge(self, other: FeatureCounts) -> FeatureCounts:
        """Adds another accumulator of the same feature definition into this one; returns self."""
        if other.hasher.signature != self.hasher.signature:
            raise ValueError(
                f"cannot merge counts of {other.hasher.signature} into {self.hasher.signature}"
            )
        self.counts += other.counts
        self.docs += other.docs
        if self.keep_labels and other.keep_labels:
            take = other.label_keys < self.label_keys
            self.label_keys[take] = other.label_keys[take]
            for bucket in np.flatnonzero(take).tolist():
                self.labels[bucket] = other.labels[bucket]
        return self

    def vector(self) -> np.ndarray:
        """The count vector (a copy)."""
        return self.counts.copy()

    def to_json(self) -> dict:
        """A JSON-able form (counts as a dense list; labels keyed by bucket number as text)."""
        return {
            **self.hasher.signature,
            "docs": int(self.docs),
            "counts": self.counts.tolist(),
            "labels": {str(k): v for k, v in sorted(self.labels.items())},
        }

    @staticmethod
    def from_json(data: dict) -> FeatureCounts:
        """Rebuilds counts and labels (not the label keys: a loaded object is for comparing only)."""
        if data.get("features") != FEATURES_VERSION:
            raise ValueError(f"features {data.get('features')!r} are not {FEATURES_VERSION!r}")
        fc = FeatureCounts(NgramHasher(data["buckets"], data["orders"], data["seed"]))
        counts = np.asarray(data["counts"], dtype=np.int64)
        if counts.shape != (fc.hasher.buckets,):
            raise ValueError(f"counts has {counts.shape[0]} entries, expected {fc.hasher.buckets}")
        fc.counts = counts
        fc.docs = int(data.get("docs", 0))
        fc.labels = {int(k): str(v) for k, v in data.get("labels", {}).items()}
        return fc
