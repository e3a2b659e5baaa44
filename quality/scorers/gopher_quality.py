"""Gopher quality rules (Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights
from Training Gopher", Appendix A.1.1, the MassiveText quality filter).

Words are whitespace-separated (punctuation attached), see `quality.text`; line fractions are
over non-blank lines, stripped. Differences from datatrove's `GopherQualityFilter`, which
splits words with spaCy: there every punctuation mark is a token of its own, so its
alphabetic-word fraction counts "," and ")" as words without letters and rejects most man
pages and many READMEs of the demo corpus (measured by `benchmarks/bench_scoring.py`); here `word_count`,
`mean_word_length` and `alpha_word_frac` are over whitespace words, and the stop-word test
counts *distinct* stop words among lowercase tokens, as the paper words it ("at least two of").
"""

from __future__ import annotations

import re
from itertools import repeat

from quality.scorers.base import (
    Rule,
    Scorer,
    check_fraction,
    check_non_negative,
    raise_if,
    safe_div,
)
from quality.text import TextView

# "the, be, to, of, and, that, have, with" (Rae et al. 2021, A.1.1).
STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})

BULLETS = (
    "•",
    "‣",
    "◦",
    "▪",
    "●",
    "-",
    "*",
)  # A.1.1 says "bullet point"; "-" and "*" in plain text
ELLIPSES = ("...", "…")

# A word "contains at least one alphabetic character": one match per such word, from its first
# letter to the end of the word, so counting matches counts words without a Python loop.
_ALPHA_WORD = re.compile(r"[^\W\d_]\S*")
# The same count for ASCII text, about twice as fast: deleting every character that is neither a
# letter (`[^\W\d_]` in ASCII) nor whitespace leaves one non-empty word per word that had a
# letter (whitespace stays, so no two words merge); CPython translates ASCII with a fast path.
_ASCII_NON_ALPHA = str.maketrans(
    dict.fromkeys(c for c in map(chr, range(128)) if not (c.isalpha() or c.isspace()))
)


def alpha_word_count(text: str) -> int:
    r"""Whitespace words of `text` that contain a letter (`[^\W\d_]`, Unicode-aware)."""
    if text.isascii():
        return len(text.translate(_ASCII_NON_ALPHA).split())
    return len(_ALPHA_WORD.findall(text))


class GopherQuality(Scorer):
    """Gopher's document-quality heuristics; thresholds default to the paper's values."""

    name = "gopher_quality_v1"
    prefix = "gopher_quality"
    features = (
        "word_count",
        "mean_word_length",
        "hash_word_ratio",
        "ellipsis_word_ratio",
        "bullet_line_frac",
        "ellipsis_line_frac",
        "alpha_word_frac",
        "stop_words",
    )
    main_features = ("word_count", "mean_word_length", "alpha_word_frac", "stop_words")

    def __init__(
        self,
        *,
        min_doc_words: int | None = 50,  # A.1.1: "fewer than 50 or greater than 100,000 words"
        max_doc_words: int | None = 100_000,
        min_mean_word_length: float | None = 3.0,  # A.1.1: "outside the range of 3 to 10"
        max_mean_word_length: float | None = 10.0,
        max_symbol_word_ratio: float | None = 0.1,  # A.1.1: "#" or ellipsis to word ratio > 0.1
        max_bullet_lines_frac: float | None = 0.9,  # A.1.1: "more than 90% of lines ... bullet"
        max_ellipsis_lines_frac: float | None = 0.3,  # A.1.1: "more than 30% ending with ellipsis"
        min_alpha_words_frac: float | None = 0.8,  # A.1.1: "80% of words ... alphabetic character"
        min_stop_words: int | None = 2,  # A.1.1: "at least two of the following English words"
    ) -> None:
        problems: list[str] = []
        check_non_negative(
            problems,
            min_doc_words=min_doc_words,
            max_doc_words=max_doc_words,
            min_mean_word_length=min_mean_word_length,
            max_mean_word_length=max_mean_word_length,
            max_symbol_word_ratio=max_symbol_word_ratio,
        )
        check_fraction(
            problems,
            max_bullet_lines_frac=max_bullet_lines_frac,
            max_ellipsis_lines_frac=max_ellipsis_lines_frac,
            min_alpha_words_frac=min_alpha_words_frac,
        )
        if min_stop_words is not None and not 0 <= min_stop_words <= len(STOP_WORDS):
            problems.append(
                f"min_stop_words must be in [0, {len(STOP_WORDS)}], got {min_stop_words}"
            )
        for lo, hi, a, b in (
            ("min_doc_words", "max_doc_words", min_doc_words, max_doc_words),
            (
                "min_mean_word_length",
                "max_mean_word_length",
                min_mean_word_length,
                max_mean_word_length,
            ),
        ):
            if a is not None and b is not None and a > b:
                problems.append(f"{lo} ({a}) must be <= {hi} ({b})")
        raise_if(problems, self.name)
        self.rules = [
            Rule("word_count", "word_count", min_doc_words, max_doc_words),
            Rule(
                "mean_word_length", "mean_word_length", min_mean_word_length, max_mean_word_length
            ),
            Rule("hash_ratio", "hash_word_ratio", None, max_symbol_word_ratio),
            Rule("ellipsis_ratio", "ellipsis_word_ratio", None, max_symbol_word_ratio),
            Rule("bullet_lines", "bullet_line_frac", None, max_bullet_lines_frac),
            Rule("ellipsis_lines", "ellipsis_line_frac", None, max_ellipsis_lines_frac),
            Rule("alpha_words", "alpha_word_frac", min_alpha_words_frac, None),
            Rule("stop_words", "stop_words", min_stop_words, None),
        ]
        self.rules = [r for r in self.rules if r.low is not None or r.high is not None]

    def compute(self, view: TextView) -> dict[str, float]:
        text, words = view.text, view.words
        n_words = len(words)
        lines = view.stripped_lines
        n_lines = len(lines)
        stop = STOP_WORDS.intersection(view.tokens)
        return {
            "word_count": float(n_words),
            "mean_word_length": safe_div(sum(map(len, words)), n_words),
            "hash_word_ratio": safe_div(text.count("#"), n_words),
            "ellipsis_word_ratio": safe_div(text.count("...") + text.count("…"), n_words),
            "bullet_line_frac": safe_div(sum(map(str.startswith, lines, repeat(BULLETS))), n_lines),
            "ellipsis_line_frac": safe_div(
                sum(map(str.endswith, lines, repeat(ELLIPSES))), n_lines
            ),
            "alpha_word_frac": safe_div(alpha_word_count(text), n_words),
            "stop_words": float(len(stop)),
        }
