"""Gopher repetition features (Rae et al. 2021, "Scaling Language Models", App. A, Table A1).

`repetition_features(text)` returns fractions in [0, 1] (larger = more repetitive); Gopher's
thresholds for dropping a document are given per key. Version: `REPETITION_FEATURES_VERSION`;
a change of definition gets a new version string so earlier corpora stay reproducible.

Definitions (exact):
- lines: the "\\n"-separated pieces that are not blank; paragraphs: pieces separated by a blank
  line (`\\n\\s*\\n`) that are not blank. Lines and paragraphs compare after `strip()`.
- `dup_line_frac` (Gopher max 0.30): lines equal to an earlier line / lines.
- `dup_line_char_frac` (max 0.20): characters of those duplicate lines / characters of all
  lines. `dup_para_frac` (0.30) and `dup_para_char_frac` (0.20): the same over paragraphs.
- words: `text.split()` (whitespace tokens, no normalization); a word's characters are
  `len(word)`; "characters" of n-grams below count word characters only (no spaces).
- `top_{n}gram_char_frac`, n = 2, 3, 4 (max 0.20, 0.18, 0.16): for the most frequent word
  n-gram (ties: the one with most characters), count x its characters / characters of all words.
- `dup_{n}gram_char_frac`, n = 5..10 (max 0.15, 0.14, 0.13, 0.12, 0.11, 0.10): characters of
  the words covered by at least one occurrence of an n-gram that occurs twice or more (every
  occurrence, the first included; a word covered by overlapping n-grams counts once) /
  characters of all words.
Documents with fewer words than n get 0 for that n.

Vectorised: words are hashed once (rolling hash), each n's n-grams come from `window_hashes`,
counts from `np.unique`, and coverage from a difference array — no loop per n-gram.
"""

from __future__ import annotations

import re

import numpy as np

from transforms.dedup.rolling import span_hashes, window_hashes

REPETITION_FEATURES_VERSION = "gopher_repetition_v1"
GOPHER_MAX = {
    "dup_line_frac": 0.30,
    "dup_para_frac": 0.30,
    "dup_line_char_frac": 0.20,
    "dup_para_char_frac": 0.20,
    "top_2gram_char_frac": 0.20,
    "top_3gram_char_frac": 0.18,
    "top_4gram_char_frac": 0.16,
    **{f"dup_{n}gram_char_frac": round(0.15 - 0.01 * (n - 5), 2) for n in range(5, 11)},
}
_PARA = re.compile(r"\n\s*\n")
_SPACES = re.compile(r"\s+")
_SPACE_BYTES = np.zeros(256, dtype=bool)
_SPACE_BYTES[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True


def _dup_fractions(pieces: list[str]) -> tuple[float, float]:
    pieces = [p.strip() for p in pieces if p.strip()]
    if not pieces:
        return 0.0, 0.0
    seen: set[str] = set()
    dup = dup_chars = 0
    for p in pieces:  # one set lookup per line/paragraph: few per document
        if p in seen:
            dup += 1
            dup_chars += len(p)
        else:
            seen.add(p)
    total = sum(len(p) for p in pieces)
    return dup / len(pieces), dup_chars / max(1, total)


def _words(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Hashes and character lengths of the whitespace-separated words of `text`."""
    if not text.isascii():
        text = _SPACES.sub(" ", text)  # unicode whitespace -> " ", as str.split() sees it
    buf = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    solid = np.zeros(len(buf) + 2, dtype=np.int8)
    solid[1:-1] = ~_SPACE_BYTES[buf]
    edges = np.diff(solid)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    cont = np.zeros(len(buf) + 1, dtype=np.int64)
    np.cumsum((buf & 0xC0) == 0x80, out=cont[1:])
    chars = (ends - starts) - (cont[ends] - cont[starts])
    return span_hashes(buf, starts, ends), chars


def _ngram_features(hashes: np.ndarray, chars: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    total = int(chars.sum())
    n_words = len(hashes)
    char_prefix = np.concatenate(([0], np.cumsum(chars)))
    for n in range(2, 11):
        top_key, dup_key = f"top_{n}gram_char_frac", f"dup_{n}gram_char_frac"
        if n_words < n or total == 0:
            out[top_key if n <= 4 else dup_key] = 0.0
            continue
        grams = window_hashes(hashes, n)
        _, inverse, counts = np.unique(grams, return_inverse=True, return_counts=True)
        per_window = counts[inverse]
        if n <= 4:
            gram_chars = char_prefix[n:] - char_prefix[:-n]
            best = per_window == per_window.max()
            top = int(per_window.max()) * int(gram_chars[best].max())
            out[top_key] = min(1.0, top / total)
        else:
            starts = np.flatnonzero(per_window >= 2)
            cover = np.zeros(n_words + 1, dtype=np.int64)
            np.add.at(cover, starts, 1)
            np.add.at(cover, starts + n, -1)
            covered = np.cumsum(cover[:-1]) > 0
            out[dup_key] = int(chars[covered].sum()) / total
    return out


def repetition_features(text: str) -> dict[str, float]:
    """Gopher repetition fractions of one document (see the module docstring)."""
    line_frac, line_chars = _dup_fractions(text.split("\n"))
    para_frac, para_chars = _dup_fractions(_PARA.split(text))
    out = {
        "dup_line_frac": line_frac,
        "dup_line_char_frac": line_chars,
        "dup_para_frac": para_frac,
        "dup_para_char_frac": para_chars,
    }
    hashes, chars = _words(text)
    out.update(_ngram_features(hashes, chars))
    return out
