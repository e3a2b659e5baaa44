"""The profanity classifier: same probabilities as `predict_prob`, windows, batching."""

from __future__ import annotations

import numpy as np
import pytest

from quality.automaton import PhraseAutomaton
from quality.text import word_tokens
from quality.toxicity import ToxicityClassifier

TEXTS = [
    "",
    "Thanks for the quick review, the patch looks good to me.",
    "you are a damn idiot and this code is shit",
    "What the hell happened to the build? Nobody knows.",
    "Café owners in Zürich serve crêpes. 12345 !!!",
]


@pytest.fixture(scope="module")
def linear() -> ToxicityClassifier:
    return ToxicityClassifier(window_tokens=64).load()


@pytest.fixture(scope="module")
def reference() -> ToxicityClassifier:
    return ToxicityClassifier(window_tokens=64, backend="sklearn").load()


def test_linear_backend_is_chosen_and_matches_predict_prob(linear):
    from profanity_check import predict_prob

    assert linear.backend == "linear"
    expected = predict_prob(TEXTS)
    got = [score[0] for score in linear.score_texts(TEXTS)]  # one window each: max == mean
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert got[2] > 0.9 > 0.2 > got[1]


def test_backends_agree_on_many_windows(linear, reference):
    long_doc = " ".join(TEXTS * 40)
    docs = [word_tokens(t) for t in [*TEXTS, long_doc]]
    np.testing.assert_allclose(linear.score_tokens(docs), reference.score_tokens(docs), atol=1e-9)


def test_max_and_mean_over_windows(linear):
    clean = "the weather report says light rain in the morning and sun later " * 5
    toxic = "you are a damn idiot and this is shit"
    tokens = word_tokens(clean + " " + toxic)
    ((maximum, mean),) = linear.score_tokens([tokens])
    windows = [tokens[i : i + 64] for i in range(0, len(tokens), 64)]
    per_window = [linear.score_tokens([w])[0][0] for w in windows]
    assert len(windows) == 2
    assert maximum == pytest.approx(max(per_window)) and mean == pytest.approx(np.mean(per_window))
    assert maximum > 0.9 and mean < maximum


def test_scores_do_not_depend_on_the_batch(linear):
    docs = [word_tokens(t * 7) for t in TEXTS]
    together = linear.score_tokens(docs)
    alone = [linear.score_tokens([d])[0] for d in docs]
    assert together == alone  # bit-identical, not just close
    assert linear.score_tokens([]) == []


def test_construction_is_cheap_and_validated():
    clf = ToxicityClassifier()
    assert clf.backend is None  # nothing loaded before load()
    with pytest.raises(ValueError):
        ToxicityClassifier(window_tokens=0)
    with pytest.raises(ValueError):
        ToxicityClassifier(backend="gpu")


def test_lexicon_counts_terms_once_per_occurrence():
    automaton = PhraseAutomaton([("bad word", "x"), ("worse", "x")])
    assert automaton.count(word_tokens("A bad word, a worse one, and a BAD WORD again.")) == 3
