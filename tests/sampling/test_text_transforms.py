"""The text-reading steps on the FnApiRunner: DSIR scoring, the KL diagnostic, drift."""

import json

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.infra.record import Record
from transforms.sampling.config import DriftConfig, DsirConfig
from transforms.sampling.drift import STATS_KEY
from transforms.sampling.dsir import DsirScorer
from transforms.sampling.text_transforms import DsirFeatureKL, NgramDrift, ScoreDsir

MAN = [
    f"{t}(1) - {w} the named files; see the manual page of {t}"
    for t, w in zip(
        ["ls", "cat", "cp", "mv", "rm", "ln", "tar", "gzip"],
        ["list", "print", "copy", "move", "remove", "link", "pack", "compress"],
        strict=True,
    )
]
CODE = [f"def helper_{i}(self, x):\n    return self.table[x] + {i}" for i in range(24)]


def _scorer() -> DsirScorer:
    return DsirScorer.fit(MAN[:4], MAN + CODE, DsirConfig(buckets=1024))


def test_score_dsir_adds_the_same_value_as_the_scorer():
    scorer = _scorer()
    records = [Record(f"r{i}", t, "x", {"quality": 0.5}) for i, t in enumerate(MAN + CODE)]
    expected = [
        (r.id, float(v), 0.5)
        for r, v in zip(records, scorer.log_weight([r.text for r in records]), strict=True)
    ]
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(records) | ScoreDsir(scorer, batch_size=5)
        assert_that(
            out | beam.Map(lambda r: (r.id, r.meta["dsir"], r.meta["quality"])), equal_to(expected)
        )


def test_kl_diagnostic_over_texts():
    scorer = _scorer()
    with TestPipeline(runner="FnApiRunner") as p:
        sel = p | "Sel" >> beam.Create(MAN)
        base = p | "Base" >> beam.Create(CODE[:4] + MAN[:4])
        out = {"selected": sel, "baseline": base} | DsirFeatureKL(scorer)

        def check(actual):
            (d,) = actual  # exactly one diagnostic
            assert d["kl_selected"] < d["kl_random"], d
            assert d["selected_docs"] == len(MAN) and d["random_docs"] == 8

        assert_that(out, check)


def test_drift_entry_goes_into_stats_and_compares_with_a_previous_run(tmp_path):
    cfg = DriftConfig(enabled=True, buckets=512)
    pairs = [("man", t) for t in MAN] + [("code", t) for t in CODE]
    path = tmp_path / "entry.json"

    def save(actual):
        (d,) = actual  # exactly one drift result
        path.write_text(json.dumps({STATS_KEY[0]: {STATS_KEY[1]: d["entry"]}}))
        assert d["report"]["previous_run"] is None
        assert d["report"]["sources"]["pairwise"]["code|man"] > 0.5

    with TestPipeline(runner="FnApiRunner") as p:
        assert_that(p | beam.Create(pairs) | NgramDrift(cfg), save)
    entry = json.loads(path.read_text())["sampling"]["ngram_distribution"]
    assert sum(entry["by_source"]["man"]["counts"]) > 0 and entry["overall"]["docs"] == len(pairs)
    assert np.array_equal(
        np.add(entry["by_source"]["man"]["counts"], entry["by_source"]["code"]["counts"]),
        entry["overall"]["counts"],
    )

    later = DriftConfig(enabled=True, buckets=512, previous_stats=str(path))
    changed = [("man", t.replace("files", "archives")) for t in MAN] + [("code", t) for t in CODE]

    def check(actual):
        (d,) = actual
        prev = d["report"]["previous_run"]
        assert (
            prev["comparable"] and prev["by_source"]["code"] == 0.0 and prev["by_source"]["man"] > 0
        )
        assert any("archives" in m["ngram"] or "files" in m["ngram"] for m in prev["moved"]), prev[
            "moved"
        ]

    with TestPipeline(runner="FnApiRunner") as p:
        assert_that(p | beam.Create(changed) | NgramDrift(later), check)
