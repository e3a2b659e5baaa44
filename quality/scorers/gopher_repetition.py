"""Gopher repetition rules (Rae et al. 2021, Appendix A.1.1 and Table A1).

Line and paragraph duplicates use C-level set operations. N-gram statistics are vectorised over
64-bit hashes of the whitespace words (see `quality.text`) and across all documents of a batch:
one sort per n finds the repeated n-grams, and only positions whose (n-1)-grams repeat
can start a repeated n-gram, so each larger n sorts a shrinking candidate set. Definitions (all
character fractions are over `len(text)`, as in datatrove's `GopherRepetitionFilter`):

- `dup_{line,para}_frac`: copies beyond the first / number of non-empty lines (paragraphs:
  blocks separated by a blank line, stripped); `dup_{line,para}_char_frac`: characters of
  those copies / characters of the text;
- `top_{n}gram_char_frac` (n = 2..4): characters of the most frequent n-gram (words joined by
  single spaces) times its count; 0 when no n-gram occurs twice (datatrove counts a count of
  1 too, which rejects every very short document);
- `dup_{n}gram_char_frac` (n = 5..10): characters of the words covered by any occurrence of an
  n-gram after its first (union of those windows, so overlapping copies count once; datatrove
  walks greedily and skips n words after each repeat, which can count a little less).
"""

from __future__ import annotations

import numpy as np

from quality.scorers.base import Rule, Scorer, check_fraction, raise_if, safe_div
from quality.text import TextView

_MULT = np.uint64(0x9E3779B97F4A7C15)
_DOC_MULT = np.uint64(0xC2B2AE3D27D4EB4F)
TOP_NS = (2, 3, 4)
DUP_NS = (5, 6, 7, 8, 9, 10)

# Table A1 (Rae et al. 2021).
TABLE_A1_TOP = {2: 0.20, 3: 0.18, 4: 0.16}
TABLE_A1_DUP = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


def _copies(items: list[str]) -> tuple[int, int]:
    """(number of copies beyond the first, their characters)."""
    distinct = set(items)
    return len(items) - len(distinct), sum(map(len, items)) - sum(map(len, distinct))


def ngram_repetition(
    hashes: list[np.ndarray], lengths: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """N-gram repetition of a batch of documents, vectorised across the whole batch.

    Args:
        hashes: per document, one uint64 hash per word.
        lengths: per document, the characters of each word.

    Returns:
        (top, dup): int64 arrays of shape (documents, 3) and (documents, 6). `top[d, k]` is the
        characters of the most frequent repeated (TOP_NS[k])-gram of document d times its count
        (the longest such n-gram on ties); `dup[d, k]` the characters of the words covered by
        repeated (DUP_NS[k])-grams after their first occurrence.

    All documents share each numpy call: a document's id is mixed into the hash of its first
    word of every n-gram, so equal n-grams of different documents never meet, and candidates
    never extend past their document's last word.
    """
    n_docs = len(hashes)
    top = np.zeros((n_docs, len(TOP_NS)), dtype=np.int64)
    dup = np.zeros((n_docs, len(DUP_NS)), dtype=np.int64)
    sizes = np.fromiter(map(len, hashes), dtype=np.int64, count=n_docs)
    n_words = int(sizes.sum())
    if n_words < 2:
        return top, dup
    words = np.concatenate(hashes).astype(np.uint64, copy=False)
    word_len = np.concatenate(lengths).astype(np.int64, copy=False)
    doc = np.repeat(np.arange(n_docs), sizes)
    ends = np.cumsum(sizes)
    remaining = ends[doc] - np.arange(n_words)  # words left in the document from position i
    cum = np.concatenate(([0], np.cumsum(word_len)))
    keys = words ^ ((doc.astype(np.uint64) + np.uint64(1)) * _DOC_MULT)  # hash of the n-gram at i
    cand = np.arange(n_words)
    member = np.zeros(n_words + 1, dtype=bool)
    for n in range(1, DUP_NS[-1] + 1):
        if n > 1:
            # i can start a repeated n-gram only if the (n-1)-grams at i and i+1 both repeat.
            cand = cand[member[cand] & member[cand + 1] & (remaining[cand] >= n)]
            if len(cand) < 2:
                break
            keys[cand] = keys[cand] * _MULT + words[cand + n - 1]
        sub = keys[cand]
        # Groups of equal keys need no stable sort (2-3x slower than the default on uint64): a
        # group's first occurrence is its smallest position, since `cand` is ascending.
        order = np.argsort(sub)
        ordered = sub[order]
        same = ordered[1:] == ordered[:-1]
        if not same.any():
            break
        in_group = np.zeros(len(sub), dtype=bool)
        in_group[1:] = same
        in_group[:-1] |= same
        positions = cand[order]
        member = np.zeros(n_words + 1, dtype=bool)
        member[positions[in_group]] = True
        starts = np.flatnonzero(np.concatenate(([True], ~same)))
        counts = np.diff(np.append(starts, len(ordered)))
        repeated = counts >= 2
        heads = np.minimum.reduceat(positions, starts)[repeated]  # first occurrences
        if n in TOP_NS:
            chars = cum[heads + n] - cum[heads] + (n - 1)
            # Most frequent first, then longest: pack (count, chars) into one sortable int.
            packed = counts[repeated] << 32 | chars
            best = np.zeros(n_docs, dtype=np.int64)
            np.maximum.at(best, doc[heads], packed)
            top[:, TOP_NS.index(n)] = (best >> 32) * (best & 0xFFFFFFFF)
        if n in DUP_NS:
            later = member.copy()  # every occurrence of a repeated n-gram after its first
            later[heads] = False
            repeats = np.flatnonzero(later)
            delta = np.bincount(repeats, minlength=n_words + 1) - np.bincount(
                repeats + n, minlength=n_words + 1
            )
            covered = np.cumsum(delta[:n_words]) > 0
            dup[:, DUP_NS.index(n)] = np.bincount(doc[covered], word_len[covered], minlength=n_docs)
    return top, dup


class GopherRepetition(Scorer):
    """Gopher's repetition heuristics; thresholds default to Table A1 of Rae et al. 2021."""

    name = "gopher_repetition_v1"
    prefix = "gopher_repetition"
    features = (
        "dup_line_frac",
        "dup_para_frac",
        "dup_line_char_frac",
        "dup_para_char_frac",
        *(f"top_{n}gram_char_frac" for n in TOP_NS),
        *(f"dup_{n}gram_char_frac" for n in DUP_NS),
    )
    main_features = (
        "dup_line_char_frac",
        "dup_para_char_frac",
        "top_2gram_char_frac",
        "dup_5gram_char_frac",
    )

    def __init__(
        self,
        *,
        dup_line_frac: float | None = 0.30,  # Table A1: duplicate line fraction
        dup_para_frac: float | None = 0.30,  # Table A1: duplicate paragraph fraction
        dup_line_char_frac: float | None = 0.20,  # Table A1: duplicate line character fraction
        dup_para_char_frac: float | None = 0.20,  # Table A1: duplicate paragraph character fraction
        top_2gram_char_frac: float | None = TABLE_A1_TOP[2],
        top_3gram_char_frac: float | None = TABLE_A1_TOP[3],
        top_4gram_char_frac: float | None = TABLE_A1_TOP[4],
        dup_5gram_char_frac: float | None = TABLE_A1_DUP[5],
        dup_6gram_char_frac: float | None = TABLE_A1_DUP[6],
        dup_7gram_char_frac: float | None = TABLE_A1_DUP[7],
        dup_8gram_char_frac: float | None = TABLE_A1_DUP[8],
        dup_9gram_char_frac: float | None = TABLE_A1_DUP[9],
        dup_10gram_char_frac: float | None = TABLE_A1_DUP[10],
    ) -> None:
        limits = {
            "dup_line_frac": dup_line_frac,
            "dup_para_frac": dup_para_frac,
            "dup_line_char_frac": dup_line_char_frac,
            "dup_para_char_frac": dup_para_char_frac,
            "top_2gram_char_frac": top_2gram_char_frac,
            "top_3gram_char_frac": top_3gram_char_frac,
            "top_4gram_char_frac": top_4gram_char_frac,
            "dup_5gram_char_frac": dup_5gram_char_frac,
            "dup_6gram_char_frac": dup_6gram_char_frac,
            "dup_7gram_char_frac": dup_7gram_char_frac,
            "dup_8gram_char_frac": dup_8gram_char_frac,
            "dup_9gram_char_frac": dup_9gram_char_frac,
            "dup_10gram_char_frac": dup_10gram_char_frac,
        }
        problems: list[str] = []
        check_fraction(problems, **limits)
        raise_if(problems, self.name)
        # Reason codes drop the `_frac` suffix: gopher_repetition:dup_line, :top_2gram_char, ...
        self.rules = [
            Rule(key.removesuffix("_frac"), key, None, limit)
            for key, limit in limits.items()
            if limit is not None
        ]

    def compute(self, view: TextView) -> dict[str, float]:
        return self.compute_batch([view])[0]

    def compute_batch(self, views: list[TextView]) -> list[dict[str, float]]:
        top, dup = ngram_repetition([v.word_hashes for v in views], [v.word_lengths for v in views])
        out = []
        for view, top_row, dup_row in zip(views, top.tolist(), dup.tolist(), strict=True):
            n_chars = view.n_chars
            paragraphs = [p for p in map(str.strip, view.text.split("\n\n")) if p]
            lines = list(filter(None, view.lines))
            para_dups, para_chars = _copies(paragraphs)
            line_dups, line_chars = _copies(lines)
            features = {
                "dup_line_frac": safe_div(line_dups, len(lines)),
                "dup_para_frac": safe_div(para_dups, len(paragraphs)),
                "dup_line_char_frac": safe_div(line_chars, n_chars),
                "dup_para_char_frac": safe_div(para_chars, n_chars),
            }
            for n, chars in zip(TOP_NS, top_row, strict=True):
                features[f"top_{n}gram_char_frac"] = safe_div(chars, n_chars)
            for n, chars in zip(DUP_NS, dup_row, strict=True):
                features[f"dup_{n}gram_char_frac"] = safe_div(chars, n_chars)
            out.append(features)
        return out
