"""ShardStats: exact where promised, identical whatever the partitioning, small when pickled."""

from __future__ import annotations

import json
import pickle
from collections import Counter

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.report_config import StatsConfig
from transforms.stats import ShardStats, batch_ngrams, text_ngrams

CFG = StatsConfig(top_k=15, ngram_capacity=128, hll_precision=10, score_bins=100)
VOCAB = 64


def make_table(n: int, seed: int = 0, with_text: bool = True) -> pa.Table:
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "delta", "Épsilon", "zeta", "日本", "x_1"]
    texts, ids = [], []
    for i in range(n):
        picks = np.minimum(rng.zipf(1.5, size=int(rng.integers(0, 30))), len(words)) - 1
        texts.append(" ".join(words[j] for j in picks) if i % 11 else None)  # some null texts
        ids.append(rng.integers(0, VOCAB, size=int(rng.integers(1, 40))).astype(np.int32))
    cols = {
        "id": pa.array([f"d{i}" for i in range(n)]),
        "source": pa.array([["code", "docs", "man"][i % 3] for i in range(n)]),
        "input_ids": pa.array(ids, pa.list_(pa.int32())),
        "n_tokens": pa.array([len(x) for x in ids], pa.int32()),
        "quality": pa.array(rng.random(n), pa.float32()),
        "toxicity": pa.array(rng.random(n) / 10, pa.float32()),
        "dedup_cluster": pa.array([f"d{i}" for i in range(n)]),
    }
    if with_text:
        cols["text"] = pa.array(texts, pa.string())
    return pa.table(cols)


def stats_of(tables: list[pa.Table]) -> dict:
    parts = []
    for t in tables:
        s = ShardStats(CFG, VOCAB)
        s.add_table(t)
        parts.append(s)
    return ShardStats.merge_all(CFG, VOCAB, parts).to_json()


def test_ngrams_respect_documents_and_unicode():
    assert text_ngrams("Hello, wörld! 日本 x_y", 2) == ["hello wörld", "wörld 日本", "日本 x_y"]
    grams = batch_ngrams(pa.array(["a b", "c d", None, "a b a b"]), 2)
    counted = dict(
        zip(grams.labels(np.arange(grams.hashes.size)), grams.counts.tolist(), strict=True)
    )
    assert counted == {"a b": 3, "c d": 1, "b a": 1}  # no "b c": documents do not join


def test_exact_parts_match_direct_computation():
    table = make_table(200, seed=3)
    out = stats_of([table])
    ids = np.concatenate(table.column("input_ids").to_pylist())
    assert out["docs"] == 200 and out["tokens"] == int(table.column("n_tokens").to_numpy().sum())
    assert out["token_frequencies"]["top"][:5] == [
        [int(i), c]
        for i, c in sorted(Counter(ids.tolist()).items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    ]
    texts = [t for t in table.column("text").to_pylist() if t is not None]
    assert out["docs_with_text"] == len(texts) and out["chars"] == sum(map(len, texts))
    assert out["sources"]["code"]["docs"] == 67
    assert set(out["scores"]) == {"quality", "toxicity"}
    exact = Counter(g for t in texts for g in text_ngrams(t, 2))
    for label, est in out["ngrams"]["top"]:
        assert exact[label] <= est <= exact[label] + out["ngrams"]["count_error_bound"]
    assert out["ngrams"]["top"][0][0] == exact.most_common(1)[0][0]
    assert abs(out["distinct"]["ngrams"] - len(exact)) <= 2  # linear-counting regime: near exact
    json.dumps(out)  # JSON-ready


@settings(max_examples=15, deadline=None, derandomize=True)
@given(cuts=st.lists(st.integers(0, 120), max_size=5), order=st.randoms(use_true_random=False))
def test_partitioning_and_merge_order_do_not_change_the_result(cuts, order):
    table = make_table(120, seed=1)
    points = sorted(set(cuts)) + [120]
    tables, start = [], 0
    for p in points:
        tables.append(table.slice(start, p - start))
        start = p
    order.shuffle(tables)
    assert stats_of(tables) == stats_of([table])


def test_unit_scores_and_raw_features_use_fitting_sketches():
    table = make_table(300, seed=2)
    words = np.random.default_rng(0).integers(1, 5000, size=300).astype(np.float32)
    weight = np.linspace(-3, 2, 300).astype(np.float32)
    table = table.append_column("gopher_quality_word_count", pa.array(words)).append_column(
        "bias_weight", pa.array(weight)
    )
    out = stats_of([table])["scores"]
    assert out["quality"]["kind"] == "unit" and out["toxicity"]["kind"] == "unit"
    feature, signed = out["gopher_quality_word_count"], out["bias_weight"]
    assert feature["kind"] == "log" and signed["kind"] == "log"
    true = float(np.sort(words)[int(0.5 * 299)])
    assert abs(feature["quantiles"]["0.5"] - true) <= 0.01 * true + 0.5
    assert signed["min"] == -3.0 and signed["max"] == 2.0 and signed["quantiles"]["0.05"] < 0
    assert sum(feature["histogram"]["counts"]) == 300


def test_without_text_column_and_empty_tables():
    table = make_table(30, with_text=False)
    s = ShardStats(CFG, VOCAB)
    s.add_table(table.slice(0, 0))
    s.add_table(table)
    out = s.to_json()
    assert out["docs"] == 30 and out["docs_with_text"] == 0 and out["ngrams"]["top"] == []
    assert out["distinct"]["documents"] == 30  # content hashed from token ids


def test_out_of_vocab_ids_are_counted_not_crashing():
    table = make_table(5)
    bad = table.set_column(
        2, "input_ids", pa.array([[1, 2, 999], [-3], [0], [5], [6]], pa.list_(pa.int32()))
    )
    s = ShardStats(CFG, VOCAB)
    s.add_table(bad)
    assert s.to_json()["token_frequencies"]["out_of_range"] == 2


def test_state_is_small_and_picklable():
    s = ShardStats(StatsConfig(), 8192)
    s.add_table(make_table(300))
    blob = pickle.dumps(s)
    assert len(blob) < 1_000_000
    assert pickle.loads(blob).to_json() == s.to_json()


def test_stats_config_reports_every_problem():
    assert StatsConfig().validate() == []
    problems = StatsConfig(top_k=0, ngram_n=9, hll_precision=30, quantiles=[1.5]).validate()
    assert len(problems) == 4 and any("ngram_n" in p for p in problems)
