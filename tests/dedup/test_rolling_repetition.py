"""Line hashes, boilerplate stripping and Gopher repetition features on inline strings."""

import random

import numpy as np
import pytest

from transforms.dedup.repetition import GOPHER_MAX, repetition_features
from transforms.dedup.rolling import (
    line_hashes,
    span_hash_int,
    span_hashes,
    strip_boilerplate,
    strip_boilerplate_batch,
)

FOOTER = "Copyright 2024 Example Corp. All rights reserved worldwide."


def test_span_hashes_equal_scalar_reference_and_ignore_position():
    data = "abc héllo abc\x00".encode()
    buf = np.frombuffer(data, dtype=np.uint8)
    second = data.index(b"abc", 1)
    h = span_hashes(buf, [0, second, 0, 4], [3, second + 3, 0, second])
    assert h[0] == h[1] == span_hash_int(b"abc")
    assert h[2] == span_hash_int(b"") and h[3] == span_hash_int("héllo ".encode())


def test_line_hashes_are_distinct_stripped_and_skip_short_lines():
    text = f"{FOOTER}\n   {FOOTER}  \nshort\n\n{FOOTER}\t"
    hashes = line_hashes(text, min_line_chars=20)
    assert len(hashes) == 1 and hashes.dtype == np.uint64
    assert line_hashes(FOOTER, 20).tolist() == hashes.tolist()
    assert len(line_hashes(text, min_line_chars=5)) == 2
    assert len(line_hashes("", 1)) == 0


def test_min_line_chars_counts_characters_not_bytes():
    line = "é" * 30  # 60 bytes
    assert len(line_hashes(line, 30)) == 1
    assert len(line_hashes(line, 31)) == 0


def test_strip_boilerplate_removes_only_listed_lines():
    body = "A real first paragraph about something specific and useful."
    text = f"{body}\n  {FOOTER}\nkeep me\n{FOOTER}"
    out, n = strip_boilerplate(text, np.sort(line_hashes(FOOTER, 1)))
    assert (out, n) == (f"{body}\nkeep me", 2)
    assert strip_boilerplate(text, np.zeros(0, np.uint64)) == (text, 0)


def _stripped(line: str) -> str:
    return line.strip(" \t\x0b\x0c\r")  # the ASCII blanks str.strip() removes, no "\x1c" etc.


def _reference_strip(text: str, hashes: set[int]) -> tuple[str, int]:
    """strip_boilerplate line by line, with the scalar hash."""
    lines = text.split("\n")
    drop = [bool(_stripped(x)) and span_hash_int(_stripped(x).encode()) in hashes for x in lines]
    return "\n".join(x for x, d in zip(lines, drop, strict=True) if not d), sum(drop)


def _random_texts(n: int, seed: int = 0) -> list[str]:
    """Short texts of blanks, line breaks, words, non-ASCII and non-stripped control characters,
    with lines drawn from a small pool so that many repeat across texts."""
    rng = random.Random(seed)
    parts = [" ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\xa0", "ab", "é", "字", "x y"]
    pool = ["".join(rng.choice(parts) for _ in range(rng.randrange(0, 6))) for _ in range(40)]
    return ["\n".join(rng.choice(pool) for _ in range(rng.randrange(0, 6))) for _ in range(n)]


def test_line_hashes_match_the_scalar_reference_per_stripped_line():
    texts = _random_texts(300) + ["", "\n", "  \n\t", "é" * 3 + "\n  ab  \r\n"]
    for text in texts:
        want = {
            span_hash_int(_stripped(x).encode()) for x in text.split("\n") if len(_stripped(x)) >= 2
        }
        assert line_hashes(text, 2).tolist() == sorted(want), repr(text)


@pytest.mark.parametrize("chunk_bytes", [1, 16, 1 << 18])
def test_strip_boilerplate_batch_matches_line_by_line_reference(chunk_bytes):
    texts = _random_texts(400, seed=1) + ["", "\n\n", "ab", "ab\n", "\nab", "ab\nab"]
    listed = sorted({h for t in texts[::7] for h in line_hashes(t, 1).tolist()})
    hashes = np.array(listed, dtype=np.uint64)
    out = strip_boilerplate_batch(texts, hashes, chunk_bytes)
    assert out == [_reference_strip(t, set(listed)) for t in texts]
    assert sum(n for _, n in out) > 50 and sum(not n for _, n in out) > 50  # both kinds seen
    assert all(
        new is old for (new, n), old in zip(out, texts, strict=True) if not n
    )  # untouched: same object
    assert [strip_boilerplate(t, hashes) for t in texts] == out


def test_strip_boilerplate_batch_removes_every_line_and_handles_no_hashes():
    hashes = np.sort(line_hashes(FOOTER, 1))
    assert strip_boilerplate_batch([FOOTER, f"{FOOTER}\n {FOOTER}", ""], hashes) == [
        ("", 1),
        ("", 2),
        ("", 0),
    ]
    texts = [FOOTER, "x"]
    assert strip_boilerplate_batch(texts, np.zeros(0, np.uint64)) == [(FOOTER, 0), ("x", 0)]


def test_repetition_features_on_repetitive_and_clean_text():
    clean = "\n".join(" ".join(f"{c}{i}" for i in range(9)) for c in "abcdefgh")
    f = repetition_features(clean)
    assert set(f) == set(GOPHER_MAX)
    assert f["dup_line_frac"] == 0 and f["dup_5gram_char_frac"] == 0
    spam = "\n".join(["buy cheap pills now"] * 8 + ["unique closing line here"])
    g = repetition_features(spam)
    assert g["dup_line_frac"] == pytest.approx(7 / 9)
    assert g["dup_line_char_frac"] == pytest.approx(7 * 19 / (8 * 19 + 24))
    assert g["top_2gram_char_frac"] > 0.5
    assert g["dup_5gram_char_frac"] == pytest.approx(8 * 16 / (8 * 16 + 21))
    assert all(0.0 <= v <= 1.0 for v in g.values())


def test_duplicate_ngram_coverage_counts_overlaps_once():
    # "a b c d e" twice, then distinct words: the two occurrences cover 10 one-char words
    text = "a b c d e a b c d e x y z"
    f = repetition_features(text)
    assert f["dup_5gram_char_frac"] == pytest.approx(10 / 13)
    assert f["dup_6gram_char_frac"] == 0.0
    assert f["top_2gram_char_frac"] == pytest.approx(2 * 2 / 13)


def test_paragraphs_and_empty_text():
    para = "First paragraph line.\nSecond line."
    f = repetition_features(f"{para}\n\n{para}\n\nOther paragraph.")
    assert f["dup_para_frac"] == pytest.approx(1 / 3)
    assert all(v == 0.0 for v in repetition_features("").values())
