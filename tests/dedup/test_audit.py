"""Exact audit of near-duplicate pairs (stage 2, texts available)."""

import pytest

from transforms.dedup.audit import audit_pairs, exact_jaccard, lcs_ratio


def test_audit_pairs_exact_jaccard_and_lcs():
    a = " ".join(f"w{i}" for i in range(100))
    b = a.replace("w50", "changed")
    rows = audit_pairs(
        {"a": a, "b": b, "c": "short text"}, [("a", "b"), ("a", "c"), ("a", "missing")]
    )
    assert [(r["a"], r["b"]) for r in rows] == [("a", "b"), ("a", "c")]
    # one word changed touches 5 of 96 shingles: J = 91 / 101
    assert rows[0]["exact_jaccard"] == pytest.approx(91 / 101)
    assert rows[0]["lcs_ratio"] == pytest.approx(0.99)
    assert rows[1]["exact_jaccard"] == 0.0


def test_normalization_matches_the_shingles():
    assert exact_jaccard("Hello, World! again and again", "hello world again AND again") == 1.0
    assert exact_jaccard("a b", "a b") == 1.0 and exact_jaccard("a b", "a c") == 0.0
    assert lcs_ratio("", "") == 1.0


def test_audit_pairs_of_a_cluster_equal_the_pairwise_measures():
    # every text is in several pairs (normalized once per call): each row is what the
    # pairwise functions give, in the order asked
    base = [f"Word{i}, x{i % 7}" for i in range(300)]
    texts = {
        "k": " ".join(base),
        "r1": " ".join(base[:150] + ["new"] + base[150:]),
        "r2": " ".join(base[:-20]),
        "r3": " ".join(base),
    }
    pairs = [("k", "r1"), ("k", "r2"), ("k", "r3"), ("r1", "r2"), ("r1", "r3"), ("r2", "r3")]
    rows = audit_pairs(texts, pairs)
    assert [(r["a"], r["b"]) for r in rows] == pairs
    for r in rows:
        ta, tb = texts[r["a"]], texts[r["b"]]
        assert r["exact_jaccard"] == exact_jaccard(ta, tb)
        assert r["lcs_ratio"] == lcs_ratio(ta, tb)
    assert rows[2]["lcs_ratio"] == 1.0 and rows[0]["lcs_ratio"] < 1.0
