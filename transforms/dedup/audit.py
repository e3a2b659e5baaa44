"""Exact similarity of audited near-duplicate pairs, computed where the texts are available.

`NearDedup` samples clusters and reports their member pairs with the *estimated* Jaccard from
signatures. Stage 2 re-reads the texts; `audit_pairs` then adds the exact word n-gram Jaccard
(same normalization and shingling as the MinHash, without hashing) and an edit-based similarity
(difflib's Ratcliff/Obershelp ratio over words, a longest-common-subsequence style measure), so
a report can show how well the estimate tracked the truth.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from transforms.dedup.shingles import reference_words

LCS_MAX_WORDS = 5000  # difflib is quadratic in the worst case: compare the first words only


def word_ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    """The n-gram set MinHash estimates: one shingle of all words when there are fewer than n."""
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def exact_jaccard(a: str, b: str, ngram: int = 5, **norm: bool) -> float:
    """Exact Jaccard of the word n-gram sets of two texts (normalized like the shingles)."""
    sa = word_ngrams(reference_words(a, **norm), ngram)
    sb = word_ngrams(reference_words(b, **norm), ngram)
    return len(sa & sb) / len(sa | sb)


def lcs_ratio(a: str, b: str) -> float:
    """difflib ratio over the first LCS_MAX_WORDS words: 2 * matched / (len(a) + len(b))."""
    return _lcs_ratio_words(a.split()[:LCS_MAX_WORDS], b.split()[:LCS_MAX_WORDS])


def _lcs_ratio_words(wa: list[str], wb: list[str]) -> float:
    if not wa and not wb:
        return 1.0
    if wa == wb:  # difflib's ratio of equal sequences, without its quadratic worst case
        return 1.0
    return difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio()


def audit_pairs(
    texts_by_id: dict[str, str], pairs: Iterable[tuple[str, str]], ngram: int = 5
) -> list[dict]:
    """For each (a, b) with both texts known: exact n-gram Jaccard and LCS-style ratio.

    Returns:
        One dict per pair: {"a", "b", "exact_jaccard", "lcs_ratio"}; pairs with a missing text
        are skipped.
    """
    out = []
    grams: dict[str, set] = {}  # a text is in several pairs of its cluster: normalized once
    words: dict[str, list[str]] = {}
    for a, b in pairs:
        ta, tb = texts_by_id.get(a), texts_by_id.get(b)
        if ta is None or tb is None:
            continue
        for key, text in ((a, ta), (b, tb)):
            if key not in grams:
                grams[key] = word_ngrams(reference_words(text), ngram)
                words[key] = text.split()[:LCS_MAX_WORDS]
        sa, sb = grams[a], grams[b]
        out.append(
            {
                "a": a,
                "b": b,
                "exact_jaccard": len(sa & sb) / len(sa | sb),
                "lcs_ratio": _lcs_ratio_words(words[a], words[b]),
            }
        )
    return out
