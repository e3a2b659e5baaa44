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
