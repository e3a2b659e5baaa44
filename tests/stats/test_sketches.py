"""Error bounds and merge invariance of the Beam-free sketches, on generated data."""

from __future__ import annotations

import math
import pickle
from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.stats import (
    CountMinSketch,
    DistinctCounter,
    HeavyHitters,
    LinearBinQuantiles,
    LogBinQuantiles,
    MisraGries,
    TokenFrequencies,
)
from transforms.stats.hashing import bit_length


def split_at(values: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    """Splits `values` at sorted cut positions (cuts are taken modulo len + 1)."""
    points = sorted({c % (len(values) + 1) for c in cuts})
    return np.split(values, points)


def merged(factory, parts, add):
    """Builds one sketch per part, then merges them left to right."""
    sketches = []
    for part in parts:
        s = factory()
        add(s, part)
        sketches.append(s)
    out = sketches[0]
    for s in sketches[1:]:
        out.merge(s)
    return out


cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=6)


def test_bit_length_is_exact_at_float_rounding_edges():
    values = np.array([0, 1, 2, 3, (1 << 53) + 1, (1 << 63) + 5, (1 << 64) - 1], dtype=np.uint64)
    assert bit_length(values).tolist() == [int(v).bit_length() for v in values.tolist()]


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**16), cuts=cuts)
def test_log_quantiles_relative_error_and_merge_invariance(seed, cuts):
    values = np.random.default_rng(seed).lognormal(5, 2, size=3000).round()
    whole = LogBinQuantiles(0.01)
    whole.add(values)
    parts = merged(lambda: LogBinQuantiles(0.01), split_at(values, cuts), LogBinQuantiles.add)
    assert np.array_equal(parts.counts, whole.counts)
    assert parts.fixed_sum == whole.fixed_sum and parts.mean() == whole.mean()
    srt = np.sort(values)
    for q in (0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0):
        true = srt[int(math.floor(q * (len(srt) - 1)))]
        est = whole.quantile(q)
        assert abs(est - true) <= 0.01 * true + 1e-9, (q, est, true)
    assert whole.mean() == values.mean()  # integers: exact


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**16), cuts=cuts)
def test_log_quantiles_handle_signed_values(seed, cuts):
    rng = np.random.default_rng(seed)
    values = rng.lognormal(0, 3, size=2000) * rng.choice([-1.0, 1.0], size=2000)
    values[:5] = 0.0
    whole = LogBinQuantiles(0.02)
    whole.add(values)
    parts = merged(lambda: LogBinQuantiles(0.02), split_at(values, cuts), LogBinQuantiles.add)
    assert parts.summary([0.5], 8, False) == whole.summary([0.5], 8, False)
    srt = np.sort(values)
    for q in (0.0, 0.05, 0.3, 0.5, 0.7, 0.95, 1.0):
        true = srt[int(math.floor(q * (len(srt) - 1)))]
        est = whole.quantile(q)
        # relative error on the magnitude; values below 1e-6 share the smallest bin
        assert abs(est - true) <= 0.02 * abs(true) + 1e-6, (q, est, true)


def test_quantile_sketches_pickle_sparsely():
    sketch = LogBinQuantiles(0.01)
    sketch.add(np.array([3.0, 3.0, 1e6, -2.0]))
    blob = pickle.dumps(sketch)
    assert len(blob) < 2_000 < sketch.counts.nbytes
    back = pickle.loads(blob)
    assert np.array_equal(back.counts, sketch.counts) and back.quantile(0.5) == sketch.quantile(0.5)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**16), cuts=cuts)
def test_linear_quantiles_absolute_error_and_merge_invariance(seed, cuts):
    rng = np.random.default_rng(seed)
    values = rng.beta(2, 5, size=2000).astype(np.float32)
    values[:3] = [np.nan, 1.5, -0.25]  # out of range and NaN are counted, not lost
    whole = LinearBinQuantiles(200)
    whole.add(values)
    parts = merged(lambda: LinearBinQuantiles(200), split_at(values, cuts), LinearBinQuantiles.add)
    assert parts.summary([0.5], 10, False) == whole.summary([0.5], 10, False)
    assert whole.nan == 1 and whole.count == 1999
    assert whole.min == -0.25 and whole.max == 1.5
    srt = np.sort(values[~np.isnan(values)].astype(np.float64))
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        true = srt[int(math.floor(q * (len(srt) - 1)))]
        assert abs(whole.quantile(q) - true) <= whole.absolute_error + 1e-9


def test_token_frequencies_are_exact_and_count_out_of_range():
    ids = np.array([3, 3, 1, 0, 7, 9, -1, 3, 1], dtype=np.int32)
    tf = TokenFrequencies(8)
    tf.add(ids)
    assert tf.out_of_range == 2
    assert tf.top(3) == [(3, 3), (1, 2), (0, 1)]  # ties by smaller id
    assert tf.to_json(2)["total"] == 9


@settings(max_examples=25, deadline=None, derandomize=True)
@given(ids=st.lists(st.integers(-2, 40), max_size=300), cuts=cuts)
def test_token_frequencies_merge_equals_whole(ids, cuts):
    arr = np.array(ids, dtype=np.int64)
    whole = TokenFrequencies(32)
    whole.add(arr)
    parts = merged(lambda: TokenFrequencies(32), split_at(arr, cuts), TokenFrequencies.add)
    assert np.array_equal(parts.counts, whole.counts) and parts.out_of_range == whole.out_of_range
    assert dict(Counter(i for i in ids if 0 <= i < 32)) == {
        i: int(c) for i, c in enumerate(whole.counts) if c
    }


def test_distinct_counter_accuracy_and_merge_invariance():
    keys = np.arange(60_000, dtype=np.uint64) * np.uint64(7919)
    whole = DistinctCounter(12)
    whole.add_hashes(np.concatenate([keys, keys[:1000]]))  # repeats do not count twice
    parts = merged(
        lambda: DistinctCounter(12), split_at(keys, [5, 17_000, 40_000]), DistinctCounter.add_hashes
    )
    assert np.array_equal(parts.registers, whole.registers)
    # 4 standard errors: with fixed hashes this is a deterministic check, not a flaky one.
    assert abs(whole.count() - 60_000) <= 4 * whole.relative_error * 60_000
    small = DistinctCounter(12)
    for word in ["a", "b", "c", "a", "b"]:
        small.add(word)
    assert small.count() == 3  # linear counting is exact-ish for tiny sets
    assert pickle.loads(pickle.dumps(small)).count() == 3


def zipf_stream(seed: int, n: int = 20_000) -> np.ndarray:
    return np.random.default_rng(seed).zipf(1.4, size=n).astype(np.uint64)


def add_stream(sketch, part: np.ndarray) -> None:
    keys, counts = np.unique(part, return_counts=True)
    sketch.add_unique(keys, counts, lambda idx: [f"k{int(k)}" for k in keys[idx]])


@settings(max_examples=30, deadline=None, derandomize=True)
@given(stream=st.lists(st.integers(0, 60), max_size=400), cuts=cuts, capacity=st.integers(1, 12))
def test_misra_gries_bounds_hold_for_any_partitioning(stream, cuts, capacity):
    arr = np.array(stream, dtype=np.uint64)
    mg = merged(lambda: MisraGries(capacity), split_at(arr, cuts), add_stream)
    truth = Counter(stream)
    bound = len(stream) / (capacity + 1)
    kept = dict(zip(mg.keys.tolist(), mg.counts.tolist(), strict=True))
    assert len(kept) <= capacity and mg.total == len(stream)
    for key, f in truth.items():
        c = kept.get(key, 0)
        assert f - bound <= c <= f
        if f > bound:
            assert key in kept and mg.labels[key] == f"k{key}"


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**16), cuts=cuts)
def test_count_min_is_partition_invariant_and_never_underestimates(seed, cuts):
    stream = zipf_stream(seed, 5000)
    whole = CountMinSketch(200, 3)
    keys, counts = np.unique(stream, return_counts=True)
    whole.add(keys, counts)

    def add(s, part):
        k, c = np.unique(part, return_counts=True)
        s.add(k, c)

    parts = merged(lambda: CountMinSketch(200, 3), split_at(stream, cuts), add)
    assert np.array_equal(parts.table, whole.table)
    est = whole.estimate(keys)
    assert np.all(est >= counts)
    assert np.mean(est - counts <= whole.error_bound) >= 1 - math.exp(-3)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**16), cuts=cuts)
def test_heavy_hitters_report_is_partition_invariant_and_bounded(seed, cuts):
    stream = zipf_stream(seed)
    whole = merged(lambda: HeavyHitters(64, 4), [stream], add_stream)
    parts = merged(lambda: HeavyHitters(64, 4), split_at(stream, cuts), add_stream)
    assert parts.top(10) == whole.top(10)
    truth = Counter(stream.tolist())
    top = whole.top(10)
    assert top, "a Zipf(1.4) stream has items above 2N/(m+1)"
    for label, est in top:
        f = truth[int(label[1:])]
        assert f <= est <= f + whole.cms.error_bound
    # Every item whose true count passes the threshold is reported (est >= f, and f > N/(m+1)).
    sure = {f"k{k}" for k, c in truth.items() if c > whole.threshold}
    assert sure <= {label for label, _ in whole.top(1000)}
