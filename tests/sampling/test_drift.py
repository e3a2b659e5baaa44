"""Jensen–Shannon divergence on toy distributions; run-to-run and source comparisons."""

import json
import math

import numpy as np
import pytest

from transforms.sampling.drift import (
    STATS_KEY,
    compare_runs,
    compare_sources,
    distribution_entry,
    drift_report,
    jensen_shannon,
)
from transforms.sampling.feature_counts import FeatureCounts
from transforms.sampling.ngrams import NgramHasher


def test_jsd_on_toy_distributions():
    assert jensen_shannon(np.array([3, 1, 0]), np.array([6, 2, 0])) == pytest.approx(0.0)
    assert jensen_shannon(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1.0)
    # p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4)
    kl_pm = math.log2(1 / 0.75)
    kl_qm = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    assert jensen_shannon(np.array([5, 0]), np.array([2, 2])) == pytest.approx(
        0.5 * (kl_pm + kl_qm)
    )
    assert math.isnan(jensen_shannon(np.array([0, 0]), np.array([1, 1])))


def _entry(texts_by_source: dict[str, list[str]], buckets: int = 4096) -> dict:
    h = NgramHasher(buckets, [1, 2])
    by_source = {s: FeatureCounts(h, labels=True).add_texts(t) for s, t in texts_by_source.items()}
    overall = FeatureCounts(h, labels=True)
    for fc in by_source.values():
        overall.merge(fc)
    return distribution_entry(overall, by_source)


def test_run_to_run_drift_finds_the_ngram_that_moved(tmp_path):
    before = _entry(
        {"docs": ["install the package with pip"] * 50, "man": ["the ls command lists files"] * 50}
    )
    after = _entry(
        {
            "docs": ["install the package with pip"] * 50,
            "man": ["the zstd command compresses files"] * 50,
        }
    )
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"other": 1, STATS_KEY[0]: {STATS_KEY[1]: before}}))
    same = drift_report(before, str(stats))["previous_run"]
    assert same["comparable"] and same["jsd"] == pytest.approx(0.0) and same["moved"] == []
    report = drift_report(after, str(stats), top=5)
    prev = report["previous_run"]
    assert prev["by_source"]["docs"] == pytest.approx(0.0)
    assert prev["by_source"]["man"] > 0.3 and 0 < prev["jsd"] < prev["by_source"]["man"]
    moved = {m["ngram"]: m["direction"] for m in prev["moved"]}
    assert {"zstd", "ls"} & set(moved), moved
    assert all(moved[w] == "up" for w in moved if "zstd" in w or "compresses" in w)
    assert report["sources"]["pairwise"]["docs|man"] > 0.5


def test_sources_are_compared_with_each_other_and_with_the_whole_run():
    e = _entry({"a": ["x y z"] * 10, "b": ["x y z"] * 10, "c": ["p q r"] * 10})
    cmp = compare_sources(e)
    assert cmp["pairwise"]["a|b"] == pytest.approx(0.0)
    assert cmp["pairwise"]["a|c"] == pytest.approx(1.0)
    assert cmp["vs_overall"]["c"] > cmp["vs_overall"]["a"]


def test_incomparable_or_missing_previous_stats_are_reported_not_raised(tmp_path):
    e = _entry({"a": ["x"]})
    assert compare_runs(e, _entry({"a": ["x"]}, buckets=1024))["comparable"] is False
    (tmp_path / "old.json").write_text(json.dumps({"sampling": {}}))
    out = drift_report(e, str(tmp_path / "old.json"))["previous_run"]
    assert out["comparable"] is False and "has no sampling.ngram_distribution" in out["note"]
    out = drift_report(e, str(tmp_path / "missing.json"))["previous_run"]
    assert out["comparable"] is False and "cannot read" in out["note"]
    (tmp_path / "bad.json").write_text(
        json.dumps({"sampling": {"ngram_distribution": {"features": "x"}}})
    )
    assert drift_report(e, str(tmp_path / "bad.json"))["previous_run"]["comparable"] is False
