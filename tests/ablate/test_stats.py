"""The ablation's statistics on hand-computed numbers (no training): pipelines/ablate/stats.py."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats as sps

from pipelines.ablate.arms import validation_badge
from pipelines.ablate.config import PRESETS, ArmConfig
from pipelines.ablate.stats import (
    bootstrap_se,
    compare,
    holm,
    mde,
    mix_loss,
    sequential_stop,
    verdict,
)
from pipelines.ablate.verdicts import evaluate


def test_holm_matches_a_hand_computation():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max(0.06, 0.04)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1, monotone
    assert holm([0.2]) == [0.2]


def test_mix_loss_reweights_per_source_losses():
    ce = np.array([[2.0, 4.0, 9.0]])
    tok = np.array([[1.0, 3.0, 3.0]])
    groups = [np.array([0, 1]), np.array([2])]  # source a: 6/4 = 1.5; source b: 9/3 = 3
    assert mix_loss(ce, tok, groups, [0.25, 0.75]) == pytest.approx([0.25 * 1.5 + 0.75 * 3.0])
    # the pooled loss (15/7) is not the mix-matched one: the sources' token counts differ
    assert mix_loss(ce, tok, [np.arange(3)], [1.0]) == pytest.approx([15 / 7])


def _tables(seed_diffs, doc_noise, buckets=20, seed=0):
    rng = np.random.default_rng(seed)
    n = len(seed_diffs)
    tok = np.full((n, buckets), 100.0)
    raw = 3.0 + rng.normal(0, 0.05, (n, buckets))
    arm = raw + np.asarray(seed_diffs)[:, None] + doc_noise * rng.normal(0, 1, (1, buckets))
    return arm * tok, raw * tok, tok


def test_bootstrap_is_deterministic_and_seeded():
    arm, raw, tok = _tables([-0.1, -0.2, -0.15], 0.1)
    g = [np.arange(20)]
    a = bootstrap_se(arm, raw, tok, g, [1.0], 500, seed=3)
    assert a == bootstrap_se(arm, raw, tok, g, [1.0], 500, seed=3)
    assert a != bootstrap_se(arm, raw, tok, g, [1.0], 500, seed=4)


def test_without_document_variance_the_interval_is_the_student_t_interval():
    diffs = [-0.10, -0.25, -0.16, -0.05]
    arm, raw, tok = _tables(diffs, 0.0, buckets=1)  # one bucket: nothing to resample in docs
    realized = mix_loss(arm, tok, [np.arange(1)], [1.0]) - mix_loss(raw, tok, [np.arange(1)], [1.0])
    se = bootstrap_se(arm, raw, tok, [np.arange(1)], [1.0], 40000, seed=0)
    c = compare(list(realized), se, 0.05, 0.8)
    t = sps.ttest_1samp(realized, 0.0)
    half = sps.t.ppf(0.975, 3) * np.std(realized, ddof=1) / 2
    assert c["half_width"] == pytest.approx(half, rel=0.05)
    assert c["p"] == pytest.approx(t.pvalue, rel=0.2)


def test_document_variance_widens_the_interval():
    diffs = [-0.10, -0.25, -0.16, -0.05]
    g = [np.arange(20)]
    quiet = bootstrap_se(*_tables(diffs, 0.0), g, [1.0], 2000, seed=0)
    noisy = bootstrap_se(*_tables(diffs, 0.3), g, [1.0], 2000, seed=0)
    assert noisy > 1.5 * quiet  # doc SE 0.3/sqrt(20) = 0.067 on top of the seeds' ~0.036


def test_mde_and_verdict():
    assert mde(0.01, 2, 0.05, 0.8) == pytest.approx((4.3027 + 1.0607) * 0.01, rel=1e-3)
    c = compare([-0.3, -0.31, -0.29], 0.005, 0.05 / 4, 0.8)
    assert c["level"] == pytest.approx(0.9875) and c["ci"][1] < 0
    assert verdict(c, 0.01, 0.05).startswith("better than raw by 0.3000")
    assert verdict(c, 0.2, 0.05).startswith("no detectable difference")
    assert verdict({**c, "mean": 0.3}, 0.01, 0.05).startswith("worse than raw")


def test_sequential_rule_stops_when_resolved_or_at_the_cap():
    assert sequential_stop([(-0.3, -0.1)], 0.02, 3, 6)[0]  # excludes zero
    assert sequential_stop([(-0.01, 0.015)], 0.02, 3, 6)[0]  # narrower than the minimum effect
    stop, why = sequential_stop([(-0.3, -0.1), (-0.2, 0.1)], 0.02, 3, 6)
    assert not stop and "1 interval" in why
    stop, why = sequential_stop([(-0.2, 0.1)], 0.02, 6, 6)
    assert stop and "cap 6" in why


def _run(seed, losses):
    return {"seed": seed, "eval": {b: {"loss": x, "tokens": 10} for b, x in losses.items()}}


def test_evaluate_reports_the_mix_matched_aggregate_and_corrects_the_family():
    buckets = {"heldout:a": ["heldout:a#000", "heldout:a#001"], "heldout:b": ["heldout:b#000"],
               "clean": ["clean#000", "clean#001"]}  # fmt: skip
    buckets["heldout"] = buckets["heldout:a"] + buckets["heldout:b"]

    def runs(shift):
        return [_run(s, {"heldout:a#000": 2.0 + shift + 0.01 * s, "heldout:a#001": 2.2 + shift,
                         "heldout:b#000": 4.0 - 0.01 * s, "clean#000": 3.0 + shift,
                         "clean#001": 3.1 + shift + 0.02 * s}) for s in range(3)]  # fmt: skip

    cfg = SimpleNamespace(alpha=0.05, power=0.8, bootstrap_draws=500, bootstrap_seed=0)
    out = evaluate({"raw": runs(0.0), "x": runs(-0.5)}, buckets, ["a", "b"],
                   {"a": 0.8, "b": 0.2}, "heldout:mix", cfg)  # fmt: skip
    mix = out["arms"]["raw"]["heldout:mix"]["losses"][0]
    assert mix == pytest.approx(0.8 * (2.0 + 2.2) / 2 + 0.2 * 4.0)
    # family: mix, both sources, the user set; pooled heldout is reported, not judged
    assert out["family"]["sets"] == ["heldout:mix", "heldout:a", "heldout:b", "clean"]
    assert out["family"]["size"] == 4 and out["family"]["level"] == pytest.approx(1 - 0.05 / 4)
    x = out["arms"]["x"]
    assert "p_holm" not in x["heldout"] and not x["heldout"]["in_family"]
    assert x["heldout:mix"]["compare"]["mean"] == pytest.approx(-0.4)  # 0.8 x -0.5, b unchanged
    ps = [x[n]["compare"]["p"] for n in out["family"]["sets"]]
    assert [x[n]["p_holm"] for n in out["family"]["sets"]] == pytest.approx(holm(ps))
    assert x["heldout:a"]["verdict"].startswith("better than raw")
    assert x["heldout:b"]["verdict"].startswith("no detectable")
    assert out["family"]["primary"]["mde"] == x["heldout:mix"]["compare"]["mde"]
    assert math.isfinite(out["family"]["primary"]["mde"])


def test_pii_is_its_own_factor():
    assert "quality.pii.enabled=false" in PRESETS["dedup+filters"]
    assert "quality.pii.enabled=false" not in PRESETS["full"]
    with_pii = ArmConfig("f", preset="dedup+filters", pii=True).overrides()
    assert "quality.pii.enabled=false" not in with_pii and "quality.enabled=false" not in with_pii
    only_pii = ArmConfig("p", preset="dedup+pii").overrides()
    assert "quality.scorers=[]" in only_pii and "quality.enabled=false" not in only_pii
    assert ArmConfig("r", preset="raw").factors() == dict.fromkeys(
        ["dedup", "filters", "pii", "sampling"], False)  # fmt: skip


def _cfg(exact: bool):
    return SimpleNamespace(dedup=SimpleNamespace(exact=SimpleNamespace(enabled=exact)))


def test_validation_badge_names_the_failed_check_and_whether_it_was_expected():
    manifest = {"validation": {"success": False, "failed": ["no_duplicate_texts"]}}
    raw = validation_badge(manifest, _cfg(exact=False))
    assert raw["status"] == "expected failure" and raw["expected"]
    assert (
        "no_duplicate_texts (expected" in raw["force_note"] and "--force" not in raw["force_note"]
    )
    dedup = validation_badge(manifest, _cfg(exact=True))
    assert dedup["status"] == "failed" and dedup["unexpected"] == ["no_duplicate_texts"]
    ok = validation_badge({"validation": {"success": True, "failed": []}}, _cfg(True))
    assert ok["status"] == "passed" and ok["force_note"] is None
    assert validation_badge({}, _cfg(True))["status"] == "not run"
    assert "not validated" in validation_badge({}, _cfg(True))["force_note"]
