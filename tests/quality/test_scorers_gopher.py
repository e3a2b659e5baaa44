"""Gopher quality and repetition scorers on inline strings, and the n-gram statistics against a
plain-Python reference on random word sequences."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.scorers import GopherQuality, GopherRepetition
from quality.scorers.gopher_repetition import DUP_NS, TOP_NS, ngram_repetition
from quality.text import TextView

PROSE = (
    "The river town wakes slowly in winter. Boats wait at the quay while the ferry crew checks "
    "the engines, and the baker on the corner opens his shutters before the first bus arrives. "
    "Most visitors come for the old stone bridge, but those who stay a few days learn that the "
    "market is the real heart of the place: farmers bring cheese and apples from the valley, "
    "children run between the stalls, and everyone seems to know the price of everything. "
    "In the evening the lamps are lit along the water and the cafes fill with quiet talk."
)

LONG_LINE = "a long line that a template repeats at the bottom of every page, " * 3


def test_prose_passes_both():
    assert GopherQuality().filter(PROSE) == (True, "")
    assert GopherRepetition().filter(PROSE) == (True, "")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("too short to be a document with the words", "gopher_quality:word_count"),
        (" ".join(["a b c d e"] * 20) + " the and", "gopher_quality:mean_word_length"),
        (PROSE + " #tag" * 20, "gopher_quality:hash_ratio"),
        (PROSE + " wait..." * 12, "gopher_quality:ellipsis_ratio"),
        (
            "\n".join(f"- item number {i} of the list and" for i in range(60)),
            "gopher_quality:bullet_lines",
        ),
        (
            "\n".join(f"line {i} of the long story goes on and on and on..." for i in range(30)),
            "gopher_quality:ellipsis_lines",
        ),
        (
            " ".join(f"{1000 + i} {2000 + i} {3000 + i} 4.555 word" for i in range(40))
            + " the and",
            "gopher_quality:alpha_words",
        ),
        (" ".join(["Lorem dolor amet consectetur adipiscing"] * 15), "gopher_quality:stop_words"),
    ],
)
def test_gopher_quality_reason_codes(text, reason):
    keep, got = GopherQuality().filter(text)
    assert (keep, got) == (False, reason)


def test_gopher_quality_features_and_thresholds():
    scorer = GopherQuality()
    f = scorer.score("The cat and the dog ... # one two")
    assert f["word_count"] == 9
    assert f["hash_word_ratio"] == pytest.approx(1 / 9)
    assert f["ellipsis_word_ratio"] == pytest.approx(1 / 9)
    assert f["stop_words"] == 2  # "the" (case-folded) and "and", counted once each
    assert f["alpha_word_frac"] == pytest.approx(7 / 9)
    # A lower word minimum lets the short text through that rule; None disables a rule.
    assert GopherQuality(min_doc_words=5).filter(f)[1] != "gopher_quality:word_count"
    assert "word_count" not in {
        r.code for r in GopherQuality(min_doc_words=None, max_doc_words=None).rules
    }
    with pytest.raises(ValueError, match="min_alpha_words_frac"):
        GopherQuality(min_alpha_words_frac=1.5)
    with pytest.raises(ValueError, match="min_doc_words"):
        GopherQuality(min_doc_words=200, max_doc_words=100)


def test_filter_accepts_text_view_or_features():
    scorer = GopherQuality()
    view = TextView(PROSE)
    assert scorer.filter(view) == scorer.filter(scorer.score(PROSE)) == (True, "")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "\n".join(["same line here"] * 5 + [f"other line {i}" for i in range(5)]),
            "gopher_repetition:dup_line",
        ),
        (
            "\n\n".join(
                ["same paragraph of text"] * 3
                + [f"first {i}\nsecond {i}\nthird {i}" for i in range(3)]
            ),
            "gopher_repetition:dup_para",
        ),
        (
            PROSE.replace(". ", ".\n") + "\n" + "\n".join([LONG_LINE] * 3),
            "gopher_repetition:dup_line_char",
        ),
        (PROSE + " " + "buy now " * 40, "gopher_repetition:top_2gram_char"),
        (PROSE + " " + PROSE.replace(".", ";"), "gopher_repetition:dup_5gram_char"),
    ],
)
def test_gopher_repetition_reason_codes(text, reason):
    assert GopherRepetition().filter(text) == (False, reason)


def test_gopher_repetition_values():
    f = GopherRepetition().score("x y\nx y\nz")
    assert f["dup_line_frac"] == pytest.approx(1 / 3)
    assert f["dup_line_char_frac"] == pytest.approx(3 / 9)
    # top 2-gram "x y" (3 chars) appears twice: 6 / 9 characters.
    assert f["top_2gram_char_frac"] == pytest.approx(6 / 9)
    empty = GopherRepetition().score("")
    assert all(v == 0.0 for v in empty.values())


def _reference(words: list[str]) -> tuple[dict[int, int], dict[int, int]]:
    """Plain-Python definitions of the n-gram statistics (see the module docstring)."""
    top, dup = {}, {}
    for n in TOP_NS:
        grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
        best = max(grams.values(), default=0)
        top[n] = (
            0 if best < 2 else best * max(len(" ".join(g)) for g, c in grams.items() if c == best)
        )
    for n in DUP_NS:
        seen, covered = set(), set()
        for i in range(len(words) - n + 1):
            gram = tuple(words[i : i + n])
            if gram in seen:
                covered.update(range(i, i + n))
            seen.add(gram)
        dup[n] = sum(len(words[i]) for i in covered)
    return top, dup


def _arrays(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    view = TextView(" ".join(words))
    return view.word_hashes, view.word_lengths


documents = st.lists(
    st.lists(st.sampled_from(["a", "bb", "ccc", "a1", "dddd"]), min_size=0, max_size=60),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(documents)
def test_ngram_statistics_match_reference_whatever_the_batch(docs):
    arrays = [_arrays(words) for words in docs]
    top, dup = ngram_repetition([a[0] for a in arrays], [a[1] for a in arrays])
    for d, words in enumerate(docs):
        ref_top, ref_dup = _reference(words)
        assert top[d].tolist() == [ref_top[n] for n in TOP_NS]
        assert dup[d].tolist() == [ref_dup[n] for n in DUP_NS]
        # The same document alone gives the same numbers as inside the batch.
        alone_top, alone_dup = ngram_repetition([arrays[d][0]], [arrays[d][1]])
        assert alone_top[0].tolist() == top[d].tolist() and alone_dup[0].tolist() == dup[d].tolist()
