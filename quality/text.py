"""Per-document text splits shared by every scorer, each computed at most once.

Scorers read a `TextView` rather than a raw string so that the whole scoring stage splits a
document into words, lines and lowercase word tokens once, however many scorers are enabled.
Every split is a C-level `str` method or one compiled regex: per-character Python loops are what
make heuristic filters slow (datatrove's run a spaCy tokenizer and Python loops per word).

Definitions (documented here once, used by every scorer):

- *words*: `text.split()`, whitespace-separated, punctuation attached (Gopher's word unit);
- *lines*: `text.split("\\n")` after folding `\\r\\n` and `\\r` to `\\n`;
- *tokens*: maximal runs of `\\w` in the lowercased text (`re.findall(r"\\w+", text.lower())`),
  the unit of the lexicon automaton and of the toxicity classifier (whose own tokenizer keeps
  the runs of two or more characters of exactly this pattern).
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

TOKEN = re.compile(r"\w+")

# One hash per word is enough to compare n-grams inside one document: Python's str hash is
# salted per process, but only equality of hashes is ever used, so results do not depend on the
# salt (a 64-bit collision inside one document is the only way they could).
_MULT = np.uint64(0x9E3779B97F4A7C15)


# For ASCII text `\w` is [A-Za-z0-9_]: mapping every other ASCII character to a space and
# splitting gives the same tokens as the regex, about twice as fast (CPython translates
# ASCII-to-ASCII tables with a cached fast path).
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_ASCII_NON_WORD = str.maketrans({chr(i): " " for i in range(128) if chr(i) not in _ASCII_WORD})


def lower_tokens(lowered: str) -> list[str]:
    """Word tokens of an already lowercased text."""
    if lowered.isascii():
        return lowered.translate(_ASCII_NON_WORD).split()
    return TOKEN.findall(lowered)


def word_tokens(text: str) -> list[str]:
    """Lowercase word tokens of `text` (see module docstring)."""
    return lower_tokens(text.lower())


class TextView:
    """A document and its lazily computed splits; build one per document and pass it around."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def n_chars(self) -> int:
        return len(self.text)

    @cached_property
    def lower(self) -> str:
        return self.text.lower()

    @cached_property
    def words(self) -> list[str]:
        return self.text.split()

    @cached_property
    def lines(self) -> list[str]:
        text = self.text
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text.split("\n")

    @cached_property
    def stripped_lines(self) -> list[str]:
        """Non-blank lines with surrounding whitespace removed."""
        return [s for s in map(str.strip, self.lines) if s]

    @cached_property
    def tokens(self) -> list[str]:
        return lower_tokens(self.lower)

    @cached_property
    def word_lengths(self) -> np.ndarray:
        words = self.words
        return np.fromiter(map(len, words), dtype=np.int64, count=len(words))

    @cached_property
    def word_hashes(self) -> np.ndarray:
        words = self.words
        return np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)


def ngram_hashes(word_hashes: np.ndarray, n_max: int) -> list[np.ndarray]:
    """Hashes of every n-gram for n = 1..n_max: element n-1 has len(words) - n + 1 entries.

    A polynomial combination mod 2**64 (numpy wraps on overflow), built incrementally so that
    all n cost one multiply-add each.
    """
    out = [word_hashes]
    g = word_hashes
    for n in range(2, n_max + 1):
        if len(g) <= 1:
            out.append(g[:0])
            continue
        g = g[:-1] * _MULT + word_hashes[n - 1 :]
        out.append(g)
    return out
