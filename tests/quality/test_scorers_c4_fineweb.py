"""C4 and FineWeb scorers on inline strings: features and reason codes."""

from __future__ import annotations

import pytest

from quality.scorers import C4, FineWeb

ARTICLE = "\n".join(
    [
        "The library opened a new reading room this spring. It has tall windows and long tables.",
        "Volunteers moved more than two thousand books in one weekend. Nobody lost a single volume.",
        "Children now have a corner of their own, with low shelves and soft chairs.",
        "The room stays open late on Thursdays. Staff say the evenings are the busiest hours.",
        "Next year the town hopes to add a small cafe near the entrance.",
    ]
)


def test_article_passes_both():
    assert C4().filter(ARTICLE) == (True, "")
    assert FineWeb().filter(ARTICLE) == (True, "")


def test_c4_features():
    text = "\n".join(
        [
            "A line that ends with a period.",
            "no terminal punctuation here",
            "Too short.",
            "Enable JavaScript to view this page properly.",
            "This site uses cookies to improve your visit.",
            "A kept line. With two sentences!",
        ]
    )
    f = C4().score(text)
    assert f["no_terminal_punct_line_frac"] == pytest.approx(1 / 6)
    assert f["short_line_frac"] == pytest.approx(1 / 6)
    assert f["javascript_line_frac"] == pytest.approx(1 / 6)
    assert f["policy_line_frac"] == pytest.approx(1 / 6)
    assert f["kept_line_frac"] == pytest.approx(2 / 6)
    assert f["kept_sentences"] == 3
    assert f["lorem_ipsum"] == 0.0 and f["curly_bracket"] == 0.0
    # C4 would keep only 3 sentences of this page: too few.
    assert C4().filter(f) == (False, "c4:too_few_sentences")
    assert C4(min_num_sentences=3).filter(f) == (True, "")


@pytest.mark.parametrize(
    ("text", "reason", "kwargs"),
    [
        (ARTICLE + "\nLorem ipsum dolor sit amet.", "c4:lorem_ipsum", {}),
        (ARTICLE + "\nThe config is {key: value}.", "c4:curly_bracket", {}),
        (
            ARTICLE + "\nmenu\nhome\nabout",
            "c4:no_terminal_punct",
            {"max_no_terminal_punct_line_frac": 0.2},
        ),
        (ARTICLE + "\nOk.\nYes.\nNo.", "c4:short_lines", {"max_short_line_frac": 0.2}),
        (
            ARTICLE + "\nPlease enable javascript in your browser.",
            "c4:javascript",
            {"max_javascript_line_frac": 0.1},
        ),
        (
            ARTICLE + "\nRead our privacy policy before you continue.",
            "c4:policy",
            {"max_policy_line_frac": 0.1},
        ),
        ("Short page. Two sentences.", "c4:too_few_sentences", {}),
    ],
)
def test_c4_reason_codes(text, reason, kwargs):
    assert C4(**kwargs).filter(text) == (False, reason)


def test_c4_line_rules_are_score_only_by_default():
    text = ARTICLE + "\nmenu\nhome\nabout\nPlease enable javascript in your browser."
    assert C4().filter(text) == (True, "")
    braces = ARTICLE + "\nThe value {x} is set here."
    assert C4().filter(braces) == (False, "c4:curly_bracket")
    assert C4(filter_curly_bracket=False).filter(braces) == (True, "")


def test_c4_page_rules_only_read_lines_c4_would_keep():
    # As in TFDS c4_utils: a brace or "lorem ipsum" on a line without terminal punctuation (or
    # with fewer than 3 words) is stripped with its line instead of dropping the page.
    text = ARTICLE + "\nconfig = {'a': 1}\nlorem ipsum dolor\n{x}."
    f = C4().score(text)
    assert f["curly_bracket"] == 0.0 and f["lorem_ipsum"] == 0.0
    assert C4().filter(text) == (True, "")


def test_c4_citations_are_ignored_for_terminal_punctuation():
    f = C4().score("This claim needs a source.[citation needed]\nAnother fact was added.[12]")
    assert f["no_terminal_punct_line_frac"] == 0.0


def test_fineweb_features():
    text = "A first line that ends with a period.\nshort\nshort\nA last line without the final mark"
    f = FineWeb().score(text)
    assert f["line_punct_ratio"] == pytest.approx(1 / 4)
    assert f["short_line_frac"] == pytest.approx(2 / 4)
    assert f["dup_line_char_frac"] == pytest.approx(5 / (len(text) - 3))
    assert f["newline_word_ratio"] == pytest.approx(3 / 17)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "\n".join(f"a heading number {i} without any final mark at all" for i in range(10)),
            "fineweb:line_punct_ratio",
        ),
        (
            "\n".join(["Home.", "News.", "Sport.", "A longer line that closes the short menu."]),
            "fineweb:short_line_ratio",
        ),
        (ARTICLE + "\n" + ARTICLE.splitlines()[0], "fineweb:char_dup_ratio"),
        (
            "\n".join(f"https://example.org/a/long/path/number/{i}." for i in range(10)),
            "fineweb:list_ratio",
        ),
        ("", "fineweb:line_punct_ratio"),
    ],
)
def test_fineweb_reason_codes(text, reason):
    assert FineWeb().filter(text) == (False, reason)


def test_threshold_validation():
    with pytest.raises(ValueError, match="max_short_line_frac"):
        FineWeb(max_short_line_frac=2.0)
    with pytest.raises(ValueError, match="min_num_sentences"):
        C4(min_num_sentences=-1)
