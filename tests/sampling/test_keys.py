"""Priority keys: range, determinism, order equivalences, and inclusion frequencies vs weights."""

import math

import numpy as np
import pytest

from transforms.sampling.budget import BudgetSelector, Entry, take_within_budget
from transforms.sampling.keys import (
    derive_seed,
    log_priority_key,
    log_priority_keys,
    priority_key,
    priority_keys,
    uniform_from_id,
    uniforms_from_ids,
)


def test_uniform_is_strictly_inside_the_unit_interval_even_at_the_hash_extremes():
    # The mapping of the smallest and largest 64-bit hashes, computed the way the module does.
    lo = ((0 >> 12) + 0.5) * 2.0**-52
    hi = (((1 << 64) - 1 >> 12) + 0.5) * 2.0**-52
    assert lo > 0.0 and hi < 1.0 and math.log(hi) < 0.0
    us = uniforms_from_ids([f"doc-{i}" for i in range(5000)], 7)
    assert np.all((us > 0) & (us < 1))
    assert 0.45 < us.mean() < 0.55


def test_keys_depend_only_on_id_weight_and_seed():
    assert priority_key("a", 2.0, 1) == priority_key("a", 2.0, 1)
    assert priority_key("a", 2.0, 1) != priority_key("a", 2.0, 2)
    assert priority_key("a", 2.0, 1) != priority_key("b", 2.0, 1)
    assert uniform_from_id("a", 5) == uniforms_from_ids(["a"], 5)[0]


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan")])
def test_nonpositive_or_nan_weight_is_never_selected(weight):
    assert priority_key("a", weight, 0) == -math.inf
    assert priority_keys(["a"], np.array([weight]), 0)[0] == -math.inf
    lw = math.log(weight) if weight > 0 else (-math.inf if weight == 0 else math.nan)
    assert log_priority_key("a", lw, 0) == -math.inf


def test_log_form_orders_exactly_like_the_es_form():
    ids = [f"d{i}" for i in range(2000)]
    w = np.random.default_rng(0).lognormal(0, 2, size=len(ids))
    es = priority_keys(ids, w, 11)
    gumbel = log_priority_keys(ids, np.log(w), 11)
    assert np.array_equal(np.argsort(es, kind="stable"), np.argsort(gumbel, kind="stable"))
    scalar = np.array(
        [log_priority_key(i, float(x), 11) for i, x in zip(ids, np.log(w), strict=True)]
    )
    np.testing.assert_allclose(scalar, gumbel, rtol=1e-12)


def test_log_form_stays_finite_where_the_weight_overflows():
    assert math.isfinite(log_priority_key("a", 5000.0, 0))
    assert log_priority_key("a", 5000.0, 0) > log_priority_key("a", 4000.0, 0)


def test_derived_seeds_differ_by_purpose():
    assert derive_seed(0, "select") != derive_seed(0, "split") != derive_seed(1, "select")


def _select_one_token_docs(weights: np.ndarray, k: int, seed: int) -> np.ndarray:
    ids = [f"doc-{i}" for i in range(len(weights))]
    with np.errstate(divide="ignore"):
        keys = log_priority_keys(ids, np.log(weights), seed)
    sel = BudgetSelector(cap_tokens=k)
    for i, key in enumerate(keys):
        sel.add(Entry(-key, ids[i], 1, 0.0, "s"))
    return np.array([int(e.doc_id[4:]) for e in take_within_budget(sel.ordered(), k, 0.0)])


def test_first_draw_probability_equals_weight_share():
    # k = 1: ES selects item i with probability exactly w_i / W.
    weights = np.repeat([1.0, 2.0, 4.0], 100)
    rounds = 1500
    hits = np.zeros(3)
    for r in range(rounds):
        (i,) = _select_one_token_docs(weights, 1, seed=r)
        hits[i // 100] += 1
    p = np.array([1, 2, 4]) / 7
    sd = np.sqrt(rounds * p * (1 - p))
    assert np.all(np.abs(hits - rounds * p) < 4 * sd), (hits, rounds * p)


def test_small_sample_inclusion_is_proportional_to_weight():
    # 10 of 1500 (0.7%): inclusion probability ~ k * w / W, within the binomial tolerance.
    weights = np.repeat([0.0, 1.0, 3.0], 500)
    rounds, k = 300, 10
    hits = np.zeros(3)
    for r in range(rounds):
        for i in _select_one_token_docs(weights, k, seed=1000 + r):
            hits[i // 500] += 1
    assert hits[0] == 0  # weight 0: never
    p = np.array([0.0, 1.0, 3.0]) / 4
    n = rounds * k
    sd = np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(hits[1:] - n * p[1:]) < 4 * sd[1:]), (hits, n * p)
    ratio = hits[2] / hits[1]
    assert 2.6 < ratio < 3.4
