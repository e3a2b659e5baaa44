"""The trained quality classifier: learns a separable split, fails on shuffled labels, safe file."""

import random

import numpy as np
import pytest

from quality.classifier import (
    FeatureConfig,
    TrainSettings,
    fingerprint,
    load_model,
    read_metadata,
    save_model,
    train_classifier,
)
from quality.classifier.training import _held_out
from quality.config import QualityConfig, ScorerConfig
from quality.stage import QualityStage, quality_columns

COMMON = "the a of and to in is it that for on with as was at by this be".split()  # noqa: SIM905
SEA = "harbour tide sail anchor ferry gull lighthouse pier boat wave keel mast".split()  # noqa: SIM905
CODEY = "function return value buffer pointer compile thread socket kernel parse".split()  # noqa: SIM905
FAST = FeatureConfig(n_features=1 << 16)


def _doc(rng: random.Random, topic: list[str], n: int = 60) -> str:
    # Mostly shared words; one word in four from the topic: separable, but not trivially short.
    return " ".join(
        rng.choice(topic) if rng.random() < 0.25 else rng.choice(COMMON) for _ in range(n)
    )


def _corpus(seed: int = 0, n: int = 300) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    return [_doc(rng, SEA) for _ in range(n)], [_doc(rng, CODEY) for _ in range(n)]


def test_learns_a_separable_split():
    pos, neg = _corpus()
    model, report = train_classifier(pos, neg, TrainSettings(features=FAST))
    assert report["auc"] > 0.97
    assert report["precision"] > 0.9 and report["recall"] > 0.9
    held = report["held_out_docs"]
    assert 30 < held["positive"] < 90 and 30 < held["negative"] < 90  # ~20% of 300 each
    rng = random.Random(99)
    assert model.score([_doc(rng, SEA)])[0] > 0.5 > model.score([_doc(rng, CODEY)])[0]


def test_fails_on_shuffled_labels():
    # Control: the same kind of texts with labels that carry no signal give a chance-level AUC.
    pos, neg = _corpus(seed=1)
    texts = pos + neg
    random.Random(5).shuffle(texts)
    _, report = train_classifier(texts[:300], texts[300:], TrainSettings(features=FAST))
    assert 0.35 < report["auc"] < 0.65


def test_identical_negatives_are_dropped_and_empty_class_is_an_error():
    pos, neg = _corpus(n=100)
    _, report = train_classifier(pos, neg + pos[:10], TrainSettings(features=FAST))
    assert report["negatives_dropped_as_positive"] == 10
    # The raw-score quantiles still count the held-out raw documents that were positives.
    held_dropped = sum(_held_out(t, 0, 0.2) for t in pos[:10])
    assert report["raw_held_out_docs"] == report["held_out_docs"]["negative"] + held_dropped
    with pytest.raises(ValueError, match="no negative document"):
        train_classifier(pos, pos, TrainSettings(features=FAST))


def test_model_file_round_trip_is_exact_and_self_describing(tmp_path):
    pos, neg = _corpus(n=120)
    model, _ = train_classifier(pos, neg, TrainSettings(features=FAST, seed=3))
    path = str(tmp_path / "m.safetensors")
    save_model(model, path)
    again = load_model(path)
    assert again.features == FAST
    np.testing.assert_array_equal(again.score(pos[:20]), model.score(pos[:20]))
    meta = read_metadata(path)
    assert meta["format_version"] == 1 and meta["features"]["n_features"] == 1 << 16
    assert meta["data"]["positives"]["sha256"] == fingerprint(list(reversed(pos)))  # order-free
    assert len(meta["raw_score_quantiles"]) == 101
    (tmp_path / "junk.safetensors").write_bytes(b"\x80\x04not a model")
    with pytest.raises(ValueError, match="not a safetensors file"):
        read_metadata(str(tmp_path / "junk.safetensors"))


def test_scorer_filters_by_threshold_and_by_top_fraction(tmp_path):
    pos, neg = _corpus(n=200)
    model, _ = train_classifier(pos, neg, TrainSettings(features=FAST))
    path = str(tmp_path / "m.safetensors")
    save_model(model, path)
    rng = random.Random(42)
    texts = [_doc(rng, SEA) for _ in range(5)] + [_doc(rng, CODEY) for _ in range(5)]
    cfg = QualityConfig(
        scorers=[ScorerConfig("classifier_v1", thresholds={"model": path, "min_score": 0.5})]
    )
    assert "classifier" in quality_columns(cfg)
    results = QualityStage(cfg).score_batch(texts)
    assert [r.reason for r in results] == [None] * 5 + ["classifier:low_score"] * 5
    assert all(0.0 <= r.meta["classifier"] <= 1.0 for r in results)
    # keep_top_fraction: the threshold is the held-out raw (negative) score quantile.
    top = QualityConfig(
        scorers=[
            ScorerConfig("classifier_v1", thresholds={"model": path, "keep_top_fraction": 0.1})
        ]
    )
    scorer = QualityStage(top).scorers[0][0]
    assert scorer.threshold == pytest.approx(
        np.interp(0.9, np.linspace(0, 1, 101), model.metadata["raw_score_quantiles"])
    )
    bad = QualityConfig(
        scorers=[ScorerConfig("classifier_v1", thresholds={"model": str(tmp_path / "nope")})]
    )
    assert any("does not exist" in p for p in bad.problems())


def test_classifier_score_is_a_sampling_weight_term():
    from transforms.sampling.config import SamplingConfig
    from transforms.sampling.weights import WeightExpression

    cfg = SamplingConfig(mode="budget", token_budget=1000, weight="quality * classifier ** 2")
    assert cfg.validate() == []
    expr = WeightExpression(cfg.weight)
    assert expr.log_weight({"quality": 1.0, "classifier": 0.5}) == pytest.approx(np.log(0.25))
