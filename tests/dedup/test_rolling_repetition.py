"""Line hashes, boilerplate stripping and Gopher repetition features on inline strings."""

import numpy as np
import pytest

from transforms.dedup.repetition import GOPHER_MAX, repetition_features
from transforms.dedup.rolling import line_hashes, span_hash_int, span_hashes, strip_boilerplate

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
