"""`ScoreAndFilter`: the quality stage as one thin PTransform over `quality.stage.QualityStage`.

Records are batched (`BatchElements`, so the toxicity classifier sees many documents per call);
each batch is scored by the Beam-free `QualityStage`, loaded once per worker in `setup()`.
Outputs, as a `StageOutput`: kept records (text PII-redacted when configured, meta updated with
every score), `Rejection`s with reason code and detail, the tally, and one summary dict for the
whole input (the `quality_summary` stats section). Every rejection also increments a Beam
counter `quality/<reason>`.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from quality.config import QualityConfig
from quality.stage import QualityStage, quality_columns
from quality.summary import ScoringSummary
from transforms.infra import fs
from transforms.infra.accounting import TALLY, TallyingDoFn
from transforms.infra.record import Record, Rejection
from transforms.infra.stage_output import StageOutput

_REJECTED = "rejected"
_SUMMARY = "summary"


def score_columns(cfg: QualityConfig) -> list[str]:
    """The float meta keys that become float32 score columns of the shards (fixed for a config).

    "quality", then the float32 columns each enabled scorer declares (`Scorer.output_columns`:
    by default its main features, `<scorer>.<feature>`). Every kept record carries all of them.
    Its string columns are `quality.stage.label_columns`.
    """
    return quality_columns(cfg)


class _ScoreBatch(TallyingDoFn):
    """Scores a batch of Records; yields kept Records, tagged Rejections and one partial summary.

    PII redaction changes a document's text: the bytes it removes are tallied as `trimmed`
    (like normalization's), so the funnel's bytes still add up to the bytes read.
    """

    def __init__(self, cfg: QualityConfig) -> None:
        self._cfg = cfg
        self._stage: QualityStage | None = None
        self._counters: dict[str, Any] = {}

    def setup(self) -> None:
        self._stage = QualityStage(self._cfg, fs.read_bytes).load()  # URLs read on the worker
        self._kept = Metrics.counter("quality", "kept")

    def _counter(self, reason: str):
        counter = self._counters.get(reason)
        if counter is None:
            counter = self._counters[reason] = Metrics.counter("quality", reason)
        return counter

    def process(self, batch: list[Record]):
        summary = ScoringSummary.for_scorers(self._stage.enabled())
        results = self._stage.score_batch([r.text for r in batch], [r.source for r in batch])
        for record, result in zip(batch, results, strict=True):
            meta = dict(record.meta)
            meta.update(result.meta)
            out = record._replace(text=result.text, meta=meta)
            if result.text != record.text:
                cut = _utf8_len(record.text) - _utf8_len(result.text)
                self.count("trimmed", "pii_redaction", record.source, cut, n=0)
            summary.add(record.source, result)
            if result.reason is None:
                self._kept.inc()
                yield out
            else:
                self._counter(result.reason).inc()
                yield beam.pvalue.TaggedOutput(
                    _REJECTED, Rejection(out, result.reason, result.detail)
                )
        yield beam.pvalue.TaggedOutput(_SUMMARY, summary.to_state())


class _MergeSummaries(beam.CombineFn):
    """Partial summary states -> one summary JSON dict (an empty input gives the empty summary)."""

    def __init__(self, cfg: QualityConfig) -> None:
        self._cfg = cfg

    def create_accumulator(self) -> ScoringSummary:
        return ScoringSummary.for_config(self._cfg)

    def add_input(self, acc: ScoringSummary, state: dict) -> ScoringSummary:
        return acc.merge_state(state)

    def merge_accumulators(self, accs) -> ScoringSummary:
        accs = iter(accs)
        first = next(accs)
        for acc in accs:
            first.merge(acc)
        return first

    def extract_output(self, acc: ScoringSummary) -> dict:
        # what the scorers say about themselves (e.g. a classifier's held-out metrics)
        return {**acc.to_json(), **QualityStage(self._cfg, fs.read_bytes).report_facts()}


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


class ScoreAndFilter(beam.PTransform):
    """PCollection[Record] -> `StageOutput` (see module docstring).

    Main: the kept records; `rejected`: the rejections; `tally`: its accounting states (bytes PII redaction trimmed);
    `sections["quality_summary"]`: the summary. With `cfg.enabled` false, records pass through
    unchanged, nothing is rejected and the summary is the empty summary.
    """

    SUMMARY = "quality_summary"  # the stats.json section of the summary

    def __init__(self, cfg: QualityConfig, label: str | None = None) -> None:
        super().__init__(label)
        if not isinstance(cfg, QualityConfig):
            raise TypeError(f"ScoreAndFilter needs a QualityConfig, got {type(cfg).__name__}")
        problems = cfg.problems()
        if problems:
            raise ValueError("invalid quality config: " + "; ".join(problems))
        self._cfg = cfg

    def expand(self, records: beam.PCollection):
        cfg = self._cfg
        if not cfg.enabled:
            p = records.pipeline
            return StageOutput(
                records,
                rejected=p | "NoRejections" >> beam.Create([]).with_output_types(Rejection),
                sections={
                    self.SUMMARY: p
                    | "EmptySummary" >> beam.Create([ScoringSummary.for_config(cfg).to_json()])
                },
            )
        scored = (
            records
            | "Batch"
            >> beam.BatchElements(min_batch_size=cfg.batch_size, max_batch_size=cfg.batch_size)
            # Typed main output, so Beam encodes kept records with RecordCoder, not pickle.
            | "Score"
            >> beam.ParDo(_ScoreBatch(cfg))
            .with_output_types(Record)
            .with_outputs(_REJECTED, _SUMMARY, TALLY, main="records")
        )
        # bounded: per-source counters, fixed-bin histograms and bias tallies (no per-document data)
        summary = scored[_SUMMARY] | "Summary" >> beam.CombineGlobally(_MergeSummaries(cfg))
        return StageOutput(
            scored.records,
            rejected=scored[_REJECTED],
            tally=scored[TALLY],
            sections={self.SUMMARY: summary},
        )


class Score(beam.PTransform):
    """Stage: quality scoring and filtering, then DSIR weights; -> `StageOutput`.

    Args:
        cfg: the quality config section (scoring is skipped when not enabled).
        dsir_scorer: a fitted `DsirScorer` when `sampling.dsir` is on, else None.
    """

    def __init__(self, cfg: QualityConfig, dsir_scorer=None) -> None:
        super().__init__()
        self._cfg, self._dsir = cfg, dsir_scorer

    def expand(self, records):
        out = StageOutput(records)
        if self._cfg.enabled:
            out = records | "Quality" >> ScoreAndFilter(self._cfg)
        if self._dsir is not None:
            from transforms.sampling.text_transforms import ScoreDsir

            out.main = out.main | "Dsir" >> ScoreDsir(self._dsir)
        return out
