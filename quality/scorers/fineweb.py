"""FineWeb's custom rules (Penedo et al. 2024, "The FineWeb Datasets: Decanting the Web for the
Finest Text Data at Scale", §3.4 "Additional heuristic filters"; thresholds from datatrove's
`FineWebQualityFilter`, which produced the released dataset).

Lines are the non-blank lines stripped of surrounding whitespace (datatrove keeps leading
indentation, which only matters for the 30-character short-line test on indented text).
"""

from __future__ import annotations

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

# Sentence-final marks of the common scripts (Latin, CJK full-width, Arabic, Devanagari,
# Armenian, Ethiopic, Mongolian); datatrove uses the full Unicode Sentence_Terminal set.
TERMINAL_PUNCTUATION = (
    ".", "!", "?", "…", "‼", "⁇", "⁈", "⁉", "。", "！", "？", "．", "｡",
    "؟", "۔", "।", "॥", "։", "።", "፧", "᠃", "᠉",
)  # fmt: skip


class FineWeb(Scorer):
    """FineWeb's line-punctuation, short-line, duplicated-line and list-like rules."""

    name = "fineweb_v1"
    prefix = "fineweb"
    features = ("line_punct_ratio", "short_line_frac", "dup_line_char_frac", "newline_word_ratio")
    main_features = features

    def __init__(
        self,
        *,
        min_line_punct_ratio: float | None = 0.12,  # FineWeb §3.4: lines ending in punctuation
        max_short_line_frac: float | None = 0.67,  # FineWeb §3.4: lines of <= 30 characters
        short_line_length: int = 30,
        max_dup_line_char_frac: float | None = 0.01,  # FineWeb §3.4: chars in duplicated lines
        max_newline_word_ratio: float | None = 0.3,  # datatrove `new_line_ratio` (list-like pages)
    ) -> None:
        problems: list[str] = []
        check_fraction(
            problems,
            min_line_punct_ratio=min_line_punct_ratio,
            max_short_line_frac=max_short_line_frac,
            max_dup_line_char_frac=max_dup_line_char_frac,
        )
        check_non_negative(
            problems,
            short_line_length=short_line_length,
            max_newline_word_ratio=max_newline_word_ratio,
        )
        raise_if(problems, self.name)
        self.short_line_length = short_line_length
        rules = [
            Rule("line_punct_ratio", "line_punct_ratio", min_line_punct_ratio, None),
            Rule("short_line_ratio", "short_line_frac", None, max_short_line_frac),
            Rule("char_dup_ratio", "dup_line_char_frac", None, max_dup_line_char_frac),
            Rule("list_ratio", "newline_word_ratio", None, max_newline_word_ratio),
        ]
        self.rules = [r for r in rules if r.low is not None or r.high is not None]

    def compute(self, view: TextView) -> dict[str, float]:
        lines = view.stripped_lines
        n = len(lines)
        ends = sum(map(str.endswith, lines, repeat(TERMINAL_PUNCTUATION, n)))
        limit = self.short_line_length
        short = sum(map(limit.__ge__, map(len, lines)))
        distinct = set(lines)
        dup_chars = sum(map(len, lines)) - sum(map(len, distinct))
        newlines = view.text.count("\n")
        return {
            "line_punct_ratio": safe_div(ends, n),
            "short_line_frac": safe_div(short, n),
            "dup_line_char_frac": safe_div(dup_chars, view.n_chars - newlines),
            "newline_word_ratio": safe_div(newlines, len(view.words)),
        }
