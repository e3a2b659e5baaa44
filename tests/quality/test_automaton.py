"""The phrase automaton against a brute-force reference, plus boundary and case behaviour."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from quality.automaton import PhraseAutomaton
from quality.text import TOKEN, word_tokens

WORDS = ["ab", "abc", "b", "ba", "Ab", "c", "über", "x_y", "9"]


def _naive(terms: list[tuple[str, str]], text: str) -> list[tuple[int, int, tuple]]:
    """Every (start, end, values) by comparing every term with every token slice."""
    tokens = TOKEN.findall(text.lower())
    by_tokens: dict[tuple[str, ...], tuple] = {}
    for term, value in terms:
        key = tuple(TOKEN.findall(term.lower()))
        if key and value not in by_tokens.get(key, ()):
            by_tokens[key] = (*by_tokens.get(key, ()), value)
    out = []
    for key, values in by_tokens.items():
        for i in range(len(tokens) - len(key) + 1):
            if tuple(tokens[i : i + len(key)]) == key:
                out.append((i, i + len(key), values))
    return sorted(out)


texts = st.lists(
    st.tuples(st.sampled_from(WORDS), st.sampled_from([" ", "  ", "-", ", ", "\n", ".", "'"])),
    max_size=40,
).map(lambda parts: "".join(w + sep for w, sep in parts))
term_lists = st.lists(
    st.tuples(
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
        st.sampled_from(["g1", "g2", "g3"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(term_lists, texts)
def test_matches_brute_force(terms, text):
    automaton = PhraseAutomaton(terms)
    assert sorted(automaton.find(text)) == _naive(terms, text)
    tokens = word_tokens(text)
    assert automaton.count(tokens) == len(_naive(terms, text))
    assert automaton.values_in(tokens) == {v for _, _, vals in _naive(terms, text) for v in vals}


def test_word_boundaries_case_and_phrases():
    automaton = PhraseAutomaton(
        [("man", "m"), ("non-binary", "nb"), ("New York", "ny"), ("york", "y")]
    )
    assert automaton.find("The MANUAL and the Manifesto") == []
    assert [m[2] for m in automaton.find("A man, a Man; MAN.")] == [("m",), ("m",), ("m",)]
    assert sorted(automaton.find("Non-Binary and non binary")) == [(0, 2, ("nb",)), (3, 5, ("nb",))]
    # Overlapping terms are all reported: the phrase and the word inside it.
    assert sorted(automaton.find("in new\nYORK today")) == [(1, 3, ("ny",)), (2, 3, ("y",))]


def test_shared_terms_carry_every_value_and_empty_terms_are_ignored():
    automaton = PhraseAutomaton(
        [("non-binary", "a"), ("non binary", "b"), ("!!", "c"), ("x", "a"), ("X", "a")]
    )
    assert automaton.n_terms == 4
    assert automaton.find("NON BINARY x") == [(2, 3, ("a",)), (0, 2, ("a", "b"))]
    assert automaton.find("") == []


def test_ascii_fast_path_tokenizes_like_the_regex():
    for text in ["Hello, World! x_y 3.14", "naïve café", "tab\tand\nnewline", "İstanbul KELVIN"]:
        assert word_tokens(text) == TOKEN.findall(text.lower())
