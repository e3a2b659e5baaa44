"""`ScoreAndFilter` on the local runner: kept records, rejections with reasons, one summary."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from quality.config import QualityConfig, ScorerConfig, ToxicityConfig
from transforms.infra.record import Record
from transforms.stages.score import ScoreAndFilter, score_columns

PROSE = (
    "The river town wakes slowly in winter. Boats wait at the quay while the ferry crew checks "
    "the engines, and the baker on the corner opens his shutters before the first bus arrives.\n"
    "Most visitors come for the old stone bridge, but those who stay a few days learn that the "
    "market is the real heart of the place.\nFarmers bring cheese and apples from the valley, "
    "and everyone seems to know the price of everything.\nIn the evening the lamps are lit along "
    "the water and the cafes fill with quiet talk.\nWrite to harbour@example.org for details."
)
CODE = "def f(x):\n    return {x: x + 1}\n"

RECORDS = [
    Record("p1", PROSE, "web", {"lang": "en"}),
    Record("p2", PROSE.replace("winter", "summer"), "web", {}),
    Record("c1", CODE, "code", {}),
    Record("t1", PROSE + "\nShut up, you damn idiot, this is shit.", "web", {}),
]
CFG = QualityConfig(toxicity=ToxicityConfig(action="filter", threshold=0.8), batch_size=3)


def _run(cfg: QualityConfig, records: list[Record], check) -> None:
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(records) | ScoreAndFilter(cfg)
        check(out)


def test_records_rejections_and_summary():
    columns = score_columns(CFG)

    def check(out):
        kept = out.main | "KeptView" >> beam.Map(
            lambda r: (
                r.id,
                r.meta.get("lang"),
                "<EMAIL>" in r.text,
                all(c in r.meta for c in columns),
            )
        )
        assert_that(
            kept, equal_to([("p1", "en", True, True), ("p2", None, True, True)]), label="Kept"
        )
        rejected = out.rejected | "RejView" >> beam.Map(
            lambda r: (r.record.id, r.reason, bool(r.detail))
        )
        assert_that(
            rejected,
            equal_to(
                [("c1", "gopher_quality:word_count", True), ("t1", "toxicity:classifier", True)]
            ),
            label="Rejected",
        )
        summary = out.sections["quality_summary"] | "SummaryView" >> beam.Map(
            lambda s: (
                s["docs"],
                s["kept"],
                s["rejected"],
                sorted(s["by_source"]),
                s["pii"]["counts"]["email"],
                s["bias"]["corpus"]["docs"],
            )
        )
        assert_that(
            summary,
            equal_to(
                [
                    (
                        4,
                        2,
                        {"gopher_quality:word_count": 1, "toxicity:classifier": 1},
                        ["code", "web"],
                        3,
                        4,
                    )
                ]
            ),
            label="Summary",
        )

    _run(CFG, RECORDS, check)


def test_empty_input_still_gives_one_summary():
    def check(out):
        assert_that(
            out.sections["quality_summary"] | beam.Map(lambda s: (s["docs"], s["kept"])),
            equal_to([(0, 0)]),
        )

    _run(CFG, [], check)


def test_disabled_passes_records_through():
    def check(out):
        assert_that(
            out.main | "Ids" >> beam.Map(lambda r: (r.id, r.meta)),
            equal_to([(r.id, r.meta) for r in RECORDS]),
            label="Same",
        )
        assert_that(out.rejected, equal_to([]), label="NoRejects")
        assert_that(
            out.sections["quality_summary"] | "Docs" >> beam.Map(lambda s: s["docs"]),
            equal_to([0]),
            label="Empty",
        )

    _run(QualityConfig(enabled=False), RECORDS, check)
    assert score_columns(QualityConfig(enabled=False)) == []


def test_invalid_config_fails_at_construction():
    with pytest.raises(ValueError, match="unknown scorer"):
        ScoreAndFilter(QualityConfig(scorers=[ScorerConfig("nope_v1")]))
    with pytest.raises(TypeError):
        ScoreAndFilter({"enabled": True})


def test_a_counter_per_reason():
    from apache_beam.metrics.metric import MetricsFilter

    p = beam.Pipeline(runner="FnApiRunner")
    _ = p | beam.Create(RECORDS) | ScoreAndFilter(CFG)
    result = p.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("quality"))["counters"]
    }
    assert counters == {"kept": 2, "gopher_quality:word_count": 1, "toxicity:classifier": 1}


def test_redaction_tallies_the_bytes_it_changes():
    """PII redaction rewrites text: the byte difference is tallied as `trimmed`, so the funnel's
    bytes still add up to the bytes read."""
    from transforms.infra.accounting import MergeTallies, Tally, accounting_from_tally

    email = "harbour@example.org"
    expected = 3 * (len(email) - len("<EMAIL>"))  # p1, p2 and t1 carry the address

    def check(out):
        trimmed = (
            out.tally
            | beam.CombineGlobally(MergeTallies())
            | beam.Map(lambda s: accounting_from_tally(Tally.from_state(s))["bytes"]["trimmed"])
        )
        assert_that(trimmed, equal_to([expected]), label="Trimmed")

    _run(CFG, RECORDS, check)
