"""Identity tagging with the shipped lexicons, and the mergeable bias accumulator."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.bias import BiasAccumulator, IdentityTagger, wilson_interval
from quality.lexicon import BIAS_AXES, LEXICON_DIR, bias_lexicon_paths, load_lexicon, parse_lexicon


@pytest.fixture(scope="module")
def tagger() -> IdentityTagger:
    return IdentityTagger()


def test_shipped_lexicons_cover_every_axis_with_a_few_dozen_terms():
    paths = bias_lexicon_paths()
    assert sorted(paths) == sorted(BIAS_AXES)
    for axis, path in paths.items():
        terms = [e for e in load_lexicon(path, axis) if not e.exclude]
        assert len(terms) >= 24, axis
        assert len({e.group for e in terms}) >= 3, axis


def test_tags_groups_sorted_and_case_insensitive(tagger):
    text = "Two WOMEN and an elderly man met Muslim and Jewish neighbours; a deaf Latina teacher joined."
    assert tagger.tag(text) == [
        "age:older",
        "disability:hearing",
        "ethnicity_nationality:hispanic_latino",
        "gender:female",
        "gender:male",
        "religion:jewish",
        "religion:muslim",
    ]


def test_exclusions_and_false_friends(tagger):
    assert tagger.tag("See the man page, or run man 1 ls. The manual covers it.") == []
    assert tagger.tag("kill the child process and walk self.children of the node") == []
    assert tagger.tag("a platform agnostic library with white space and a black box") == []
    # An excluded phrase does not hide a real mention elsewhere in the text.
    assert tagger.tag("The man page was written by a man.") == ["gender:male"]


def test_lexicon_format():
    entries = parse_lexicon("# c\nloose\n[grp]\nterm one  # trailing comment\n!not this\n", "axis")
    assert [(e.term, e.group, e.exclude) for e in entries] == [
        ("loose", "axis", False),
        ("term one", "grp", False),
        ("not this", "grp", True),
    ]
    with pytest.raises(ValueError, match="line 1"):
        parse_lexicon("[unclosed\n")
    assert (LEXICON_DIR / "gender.txt").is_file()


def test_wilson_interval():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35
    lo, hi = wilson_interval(50, 100)
    assert lo < 0.5 < hi and hi - lo < 0.2
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_to_json_rates_and_disparity():
    acc = BiasAccumulator(toxicity_threshold=0.5)
    for i in range(8):
        acc.add(["gender:female"], 0.9 if i < 2 else 0.1, "web")
    for _ in range(12):
        acc.add([], 0.1, "web")
    acc.add(["gender:male"], None, "code")  # not scored: counted, not in rates
    out = acc.to_json()
    corpus = out["corpus"]
    assert corpus["docs"] == 21 and corpus["scored_docs"] == 20 and corpus["toxic_docs"] == 2
    female = corpus["groups"]["gender:female"]
    assert female["docs"] == 8 and female["toxic_docs"] == 2
    assert female["toxic_rate"] == 0.25
    assert female["disparity"] == pytest.approx(0.25 / 0.1)
    lo, hi = female["disparity_ci95"]
    assert lo < female["disparity"] < hi
    assert female["share_of_axis_mentions"] == pytest.approx(8 / 9)
    assert corpus["groups"]["gender:male"]["toxic_rate"] is None
    assert set(out["by_source"]) == {"code", "web"}
    json.dumps(out)


docs = st.lists(
    st.tuples(
        st.lists(st.sampled_from(["a:x", "a:y", "b:z"]), max_size=3, unique=True),
        st.one_of(st.none(), st.floats(0, 1)),
        st.sampled_from(["s1", "s2", "s3"]),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(docs, st.lists(st.integers(0, 40), max_size=5))
def test_merge_gives_the_same_result_for_any_partition(items, cuts):
    whole = BiasAccumulator(0.5)
    for groups, tox, source in items:
        whole.add(groups, tox, source)
    bounds = sorted({0, len(items), *(c % (len(items) + 1) for c in cuts)})
    parts = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        part = BiasAccumulator(0.5)
        for groups, tox, source in items[lo:hi]:
            part.add(groups, tox, source)
        parts.append(BiasAccumulator.from_state(json.loads(json.dumps(part.to_state()))))
    merged = BiasAccumulator(0.5)
    for part in reversed(parts):
        merged.merge(part)
    assert merged.to_json() == whole.to_json()


def test_merge_refuses_different_thresholds():
    with pytest.raises(ValueError):
        BiasAccumulator(0.5).merge(BiasAccumulator(0.6))
