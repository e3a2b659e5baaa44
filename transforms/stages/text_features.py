"""Mergeable accumulators over texts for the sampling diagnostics (drift, DSIR KL).

They run where texts already are (stage 2 for the candidate pool, the shard writer for the
written corpus), one Arrow table or text batch at a time, and are merged globally: no text ever
crosses a shuffle for a diagnostic.
"""

from __future__ import annotations

from collections.abc import Iterable

import apache_beam as beam
import pyarrow as pa

from transforms.sampling.feature_counts import FeatureCounts
from transforms.sampling.ngrams import NgramHasher


class SourceFeatures:
    """Hashed n-gram counts per source (labels kept for display)."""

    def __init__(self, hasher: NgramHasher, labels: bool = True) -> None:
        self.hasher, self.labels = hasher, labels
        self.by_source: dict[str, FeatureCounts] = {}

    def add_texts(self, source: str, texts: list[str]) -> None:
        counts = self.by_source.get(source)
        if counts is None:
            counts = self.by_source[source] = FeatureCounts(self.hasher, labels=self.labels)
        counts.add_texts(texts)

    def add_table(self, table: pa.Table) -> None:
        sources = table.column("source").to_pylist()
        texts = table.column("text").to_pylist()
        grouped: dict[str, list[str]] = {}
        for source, text in zip(sources, texts, strict=True):
            grouped.setdefault(source, []).append(text)
        for source in sorted(grouped):
            self.add_texts(source, grouped[source])

    def merge(self, other: SourceFeatures) -> SourceFeatures:
        for source in sorted(other.by_source):
            if source in self.by_source:
                self.by_source[source].merge(other.by_source[source])
            else:
                mine = self.by_source[source] = FeatureCounts(self.hasher, labels=self.labels)
                mine.merge(other.by_source[source])
        return self

    def overall(self) -> FeatureCounts:
        total = FeatureCounts(self.hasher, labels=self.labels)
        for source in sorted(self.by_source):
            total.merge(self.by_source[source])
        return total


class MergeAccumulators(beam.CombineFn):
    """Merges any accumulators that have `merge(other) -> self` (keyed by name upstream)."""

    def create_accumulator(self):
        return None

    def add_input(self, acc, item):
        return item if acc is None else acc.merge(item)

    def merge_accumulators(self, accs: Iterable):
        out = None
        for acc in accs:
            if acc is not None:
                out = acc if out is None else out.merge(acc)
        return out

    def extract_output(self, acc):
        return acc
