"""The sampling steps that read document texts: DSIR scoring, feature counts, KL, drift.

These are the only sampling steps that see texts; `SelectDocuments` works on metadata alone.

- `ScoreDsir(scorer)`: Record -> Record with `meta["dsir"]` = the scorer's log-weight
  (temperature x log importance ratio), in stage 1 next to the quality scorers.
- `HashedFeatureCounts(hasher, labels)`: PCollection of (key, text) -> (key, FeatureCounts).
- `DsirFeatureKL(scorer)`: {"selected": texts, "baseline": texts} -> one dict, the paper's KL
  diagnostic (`kl_diagnostic`); "baseline" is the texts of `SelectDocuments`' "baseline" ids.
- `NgramDrift(drift_cfg)`: (source, text) -> one dict {"entry": ..., "report": ...}; `entry` goes
  to stats.json at `stats["sampling"]["ngram_distribution"]`, `report` compares with the
  previous run's stats and between sources (drift.py).

Texts are featurised in batches (vectorised numpy); a document's features never depend on its
batch, so results are the same for any bundle split.
"""

from __future__ import annotations

from collections.abc import Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.infra.record import Record
from transforms.sampling.config import DriftConfig
from transforms.sampling.drift import distribution_entry, drift_report
from transforms.sampling.dsir import DsirScorer, kl_diagnostic
from transforms.sampling.feature_counts import FeatureCounts
from transforms.sampling.ngrams import NgramHasher

FLUSH_TEXTS = 256  # texts buffered per accumulator before one vectorised featurisation


class _DsirScoreFn(beam.DoFn):
    def __init__(self, scorer: DsirScorer) -> None:
        self._scorer = scorer
        self._scored = Metrics.counter("sampling", "dsir_scored")

    def process(self, batch: list[Record]):
        ratios = self._scorer.log_weight([r.text for r in batch])
        self._scored.inc(len(batch))
        for rec, lr in zip(batch, ratios.tolist(), strict=True):
            yield rec.with_meta(dsir=lr)


class ScoreDsir(beam.PTransform):
    """Adds `meta["dsir"]`, the DSIR log-weight (temperature x log-ratio), to every record.

    Args:
        scorer: a fitted `DsirScorer` (small; pickled into the workers).
        batch_size: largest batch featurised at once.
    """

    def __init__(self, scorer: DsirScorer, batch_size: int = 256) -> None:
        super().__init__()
        if not isinstance(scorer, DsirScorer):
            raise TypeError(f"scorer must be a DsirScorer, got {type(scorer).__name__}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        self._scorer, self._batch_size = scorer, batch_size

    def expand(self, records):
        return (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._batch_size)
            | "LogRatio" >> beam.ParDo(_DsirScoreFn(self._scorer))
        )


class FeatureCountsFn(beam.CombineFn):
    """Texts -> FeatureCounts, featurising buffered texts in batches."""

    def __init__(self, hasher: NgramHasher, labels: bool = False) -> None:
        self._hasher, self._labels = hasher, labels

    def create_accumulator(self) -> tuple[FeatureCounts, list[str]]:
        return FeatureCounts(self._hasher, self._labels), []

    def add_input(self, acc, text: str):
        counts, buffer = acc
        buffer.append(text)
        if len(buffer) >= FLUSH_TEXTS:
            counts.add_texts(buffer)
            buffer.clear()
        return acc

    def merge_accumulators(self, accs: Iterable):
        accs = list(accs)
        counts, buffer = self.compact(accs[0])
        for other, rest in accs[1:]:
            counts.merge(other)
            if rest:
                counts.add_texts(rest)
        return counts, buffer

    def compact(self, acc):
        counts, buffer = acc
        if buffer:
            counts.add_texts(buffer)
        return counts, []

    def extract_output(self, acc) -> FeatureCounts:
        return self.compact(acc)[0]


class HashedFeatureCounts(beam.PTransform):
    """(key, text) -> (key, FeatureCounts) for every key."""

    def __init__(self, hasher: NgramHasher, labels: bool = False) -> None:
        super().__init__()
        self._fn = FeatureCountsFn(hasher, labels)

    def expand(self, pairs):
        return pairs | "CountPerKey" >> beam.CombinePerKey(self._fn)


class DsirFeatureKL(beam.PTransform):
    """{"selected": PCollection[str], "baseline": PCollection[str]} -> one KL diagnostic dict."""

    def __init__(self, scorer: DsirScorer) -> None:
        super().__init__()
        if not isinstance(scorer, DsirScorer):
            raise TypeError(f"scorer must be a DsirScorer, got {type(scorer).__name__}")
        self._scorer = scorer

    def expand(self, texts):
        fn = FeatureCountsFn(self._scorer.hasher)
        sel = texts["selected"] | "CountSelected" >> beam.CombineGlobally(fn)
        base = texts["baseline"] | "CountBaseline" >> beam.CombineGlobally(fn)
        return (
            sel.pipeline
            | "One" >> beam.Create([None])
            | "KL"
            >> beam.Map(
                lambda _, s, b, scorer: kl_diagnostic(scorer, s, b),
                beam.pvalue.AsSingleton(sel),
                beam.pvalue.AsSingleton(base),
                self._scorer,
            )
        )


def _drift(_, by_source: dict, cfg: DriftConfig, hasher: NgramHasher) -> dict:
    overall = FeatureCounts(hasher, labels=True)
    for source in sorted(by_source):
        overall.merge(by_source[source])
    entry = distribution_entry(overall, by_source)
    return {"entry": entry, "report": drift_report(entry, cfg.previous_stats, cfg.top_moved)}


class NgramDrift(beam.PTransform):
    """(source, text) -> one dict: the distribution for stats.json, and the drift report."""

    def __init__(self, cfg: DriftConfig) -> None:
        super().__init__()
        problems = cfg.validate()
        if problems:
            raise ValueError("invalid drift config: " + "; ".join(problems))
        self._cfg = cfg
        self._hasher = NgramHasher(cfg.buckets, cfg.ngram_orders, cfg.hash_seed)

    def expand(self, pairs):
        per_source = pairs | "CountPerSource" >> HashedFeatureCounts(self._hasher, labels=True)
        return (
            pairs.pipeline
            | "One" >> beam.Create([None])
            | "Compare" >> beam.Map(_drift, beam.pvalue.AsDict(per_source), self._cfg, self._hasher)
        )
