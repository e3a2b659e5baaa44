"""Weight expressions: grammar, safety, log-space evaluation, defaults."""

import math
import pickle

import pytest

from transforms.sampling.weights import (
    DEFAULT_SCORES,
    WeightExpression,
    WeightExpressionError,
    resolve_scores,
)


def test_product_of_terms_in_log_space():
    e = WeightExpression("quality ** 2 * bias_weight * (1 - toxicity)")
    assert e.names == {"quality", "bias_weight", "toxicity"}
    s = {"quality": 0.5, "bias_weight": 0.8, "toxicity": 0.25}
    assert e.weight(s) == pytest.approx(0.25 * 0.8 * 0.75)
    assert e.log_weight(s) == pytest.approx(math.log(0.25 * 0.8 * 0.75))


def test_exp_of_a_huge_log_ratio_does_not_overflow():
    e = WeightExpression("quality * exp(0.5 * dsir)")
    assert e.log_weight({"quality": 0.5, "dsir": 4000.0}) == pytest.approx(math.log(0.5) + 2000.0)
    assert e.weight({"quality": 0.5, "dsir": 4000.0}) == math.inf


def test_functions_and_sums():
    e = WeightExpression(
        "clip(quality, 0.1, 0.9) + min(1, toxicity, 2) - max(0, -1) / 2 + log(bias_weight)"
    )
    assert e.weight({"quality": 0.95, "toxicity": 0.5, "bias_weight": 1.0}) == pytest.approx(
        0.9 + 0.5 - 0.0 + 0.0
    )


def test_zero_weight_is_minus_infinity_and_negative_factor_is_invalid():
    e = WeightExpression("quality * (1 - toxicity)")
    assert e.log_weight({"quality": 0.7, "toxicity": 1.0}) == -math.inf
    assert math.isnan(e.log_weight({"quality": -0.5, "toxicity": 0.0}))
    assert math.isnan(
        WeightExpression("quality / toxicity").log_weight({"quality": 1.0, "toxicity": 0.0})
    )


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "quality.real",
        "quality[0]",
        "lambda: 1",
        "quality if toxicity else 1",
        "quality > 0.5",
        "open('x')",
        "exp(quality, 2)",
        "'text'",
        "True * quality",
        "quality +",
        "exp",
    ],
)
def test_anything_outside_the_grammar_is_rejected(text):
    with pytest.raises(WeightExpressionError):
        WeightExpression(text)


def test_pickles_by_text():
    e = pickle.loads(pickle.dumps(WeightExpression("quality ** 3")))
    assert e.weight({"quality": 0.5}) == pytest.approx(0.125)


def test_missing_scores_take_defaults_and_invalid_ones_are_reported():
    names = {"quality", "toxicity", "bias_weight"}
    values, bad = resolve_scores(
        {"quality": float("nan"), "toxicity": "high"}, names, DEFAULT_SCORES
    )
    assert values == {"quality": 1.0, "toxicity": 0.0, "bias_weight": 1.0}
    assert sorted(bad) == ["quality", "toxicity"]
    values, bad = resolve_scores(None, names, DEFAULT_SCORES)
    assert bad == [] and values["bias_weight"] == 1.0
