"""Scorers' fast paths give exactly what the plain definitions give, on awkward text.

Each fast path (an ASCII translate table for alphabetic words, `str.split` for a whitespace
regex, n-gram groups without a stable sort, IPv6 tried only where an address can start, a cached
copy of the toxicity weights) must not change one score for any input: the references here are
the code they replaced or the plain definitions.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quality import toxicity_weights
from quality.langid import LanguageIdentifier
from quality.pii import _IPV6, _ipv6, _is_global_ip
from quality.scorers.gopher_quality import alpha_word_count
from quality.scorers.gopher_repetition import DUP_NS, TOP_NS, ngram_repetition
from quality.text import TextView, word_tokens
from quality.toxicity import ToxicityClassifier

AWKWARD = [
    "",
    " ",
    "\n\n\t \r\n",
    "word",
    "a1 22 _x_ __ 3.14 x² ½ Ⅻ ٣ 'quoted' -dash- #tag ...",
    "line one\r\nline two\rline three\n",
    "sep\x1cfile\x1dgroup\x1erecord\x1funit\x0bvtab\x0cff\x85nel",
    "nbsp\u00a0thin\u2009ideographic\u3000line\u2028para\u2029zero\u200bwidth",
    "Ünïcödé wörds ΑΒΓ σοφία ς Привет мир 你好世界 مرحبا שלום ñ",
    "def f(x):\n    return {k: v for k, v in x.items() if k != '_'}  # code\n",
    "x" * 5000 + " " + "y " * 3000,
    "mixed\tASCII and é\u0301 combining marks; İstanbul ǅ ǈ ﬁ ß",
]
# Pieces of awkward text (CRLF, controls that `str.split` treats as whitespace, Unicode spaces,
# letters, digits and numerals outside ASCII) joined at random.
TEXTS = st.lists(
    st.sampled_from(
        list("ab Z_09.-#\n\r\t\x1c\x1f\x0b\x85\u00a0\u2028\u3000é²½Ⅻ٣σς你") + ["\r\n", "..."]
    ),
    max_size=200,
).map("".join)


def test_regex_whitespace_is_str_whitespace_on_every_code_point():
    # The premise of both fast paths: `re`'s \s (str patterns) and `str.split()` agree.
    chars = "".join(map(chr, range(sys.maxunicode + 1)))
    regex = set(re.findall(r"\s", chars))
    assert regex == {c for c in chars if c.isspace()}


def _alpha_words_reference(text: str) -> int:
    return len(re.findall(r"[^\W\d_]\S*", text))


@pytest.mark.parametrize("text", AWKWARD)
def test_alpha_word_count_matches_the_regex(text):
    assert alpha_word_count(text) == _alpha_words_reference(text)
    ascii_only = text.encode("ascii", "ignore").decode()
    assert alpha_word_count(ascii_only) == _alpha_words_reference(ascii_only)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_alpha_word_count_matches_the_regex_on_random_text(text):
    assert alpha_word_count(text) == _alpha_words_reference(text)


def test_alpha_word_count_on_every_ascii_character():
    for i in range(128):
        text = f"{chr(i)} a{chr(i)} {chr(i)}1 ={chr(i)}= 9"
        assert alpha_word_count(text) == _alpha_words_reference(text), repr(chr(i))


class _Recorder:
    """Stands in for the fastText model: records the line it is asked about."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def predict(self, line, k, threshold, on_unicode_error):
        self.lines.append(line)
        return ("__label__en",), np.array([0.5])


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_language_id_sees_the_same_line_as_before(text):
    identifier = LanguageIdentifier(max_chars=50)
    identifier._model = recorder = _Recorder()
    expected = re.sub(r"\s+", " ", text[:50]).strip()
    code, _ = identifier.detect(text)
    assert recorder.lines == ([expected] if expected else [])
    assert code == ("en" if expected else "und")


def _ipv6_full_scan(text: str) -> list[tuple[int, int, str]]:
    """IPv6 spans as found before: the pattern tried at every position of the text."""
    return [
        (m.start(), m.end(), "ip")
        for m in _IPV6.finditer(text)
        if sum(1 for g in m.group(0).split(":") if g) >= 3 and _is_global_ip(m.group(0))
    ]


IPV6_TEXT = st.lists(
    st.sampled_from(
        [*"0123456789abcdefABCDEFgxz:._- \n", "::", "2001:", "4860:", "fe80:", "::1", "1.2.3.4"]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=1000, deadline=None)
@given(IPV6_TEXT)
def test_ipv6_candidates_match_the_full_scan(text):
    assert _ipv6(text) == _ipv6_full_scan(text)


@pytest.mark.parametrize(
    "text",
    [
        *AWKWARD,
        "server 2001:4860:4860::8888 and 2606:4700:4700::1111, ::1, fe80::1:2:3",
        "a:b:c:d 12:30:45 x::y 2001:db8::1 v2001:4860::8888 ab2001:4860:0:0:0:0:0:8888",
        "deadbeef:2001:4860:4860::8888:1:2:3:4:5:6:7 1::2::3:4 ::ffff:8.8.8.8 " * 3,
        "def f(a: int) -> dict[str, int]:\n    return {'k': a}  # x::y ab:cd:ef",
    ],
)
def test_ipv6_candidates_match_the_full_scan_on_examples(text):
    assert _ipv6(text) == _ipv6_full_scan(text)


def _definition(hashes, lengths):
    """The n-gram statistics by their definition in plain Python: n-grams grouped per document,
    a group's first occurrence is its earliest, ties of the top n-gram go to the longest."""
    words = np.concatenate(hashes).astype(np.uint64)
    word_len = np.concatenate(lengths).astype(np.int64)
    sizes = np.array([len(h) for h in hashes])
    doc = np.repeat(np.arange(len(hashes)), sizes)
    top = np.zeros((len(hashes), len(TOP_NS)), np.int64)
    dup = np.zeros((len(hashes), len(DUP_NS)), np.int64)
    cum = np.concatenate(([0], np.cumsum(word_len)))
    starts_of_doc = np.concatenate(([0], np.cumsum(sizes)))
    for n in range(1, DUP_NS[-1] + 1):
        pos = np.array(
            [i for i in range(len(words)) if i + n <= starts_of_doc[doc[i] + 1]], dtype=np.int64
        )
        if len(pos) == 0:
            break
        grams = [(int(doc[i]), tuple(words[i : i + n].tolist())) for i in pos]
        first: dict = {}
        groups: dict = {}
        for i, g in zip(pos.tolist(), grams, strict=True):
            first.setdefault(g, i)
            groups.setdefault(g, []).append(i)
        if n in TOP_NS:
            for d in range(len(hashes)):
                best = max(
                    (
                        (len(m), cum[first[g] + n] - cum[first[g]] + n - 1)
                        for g, m in groups.items()
                        if g[0] == d and len(m) >= 2
                    ),
                    default=(0, 0),
                )
                top[d, TOP_NS.index(n)] = best[0] * best[1]
        if n in DUP_NS:
            covered = np.zeros(len(words), bool)
            for m in groups.values():
                for i in m[1:]:
                    covered[i : i + n] = True
            dup[:, DUP_NS.index(n)] = np.bincount(doc[covered], word_len[covered], len(hashes))
    return top, dup


@pytest.mark.parametrize("seed", range(4))
def test_ngram_repetition_matches_its_definition_on_long_documents(seed):
    rng = np.random.default_rng(seed)
    vocab = ["a", "bb", "ccc", "dd", "e", "ffff", "g7"]
    docs = [
        [vocab[k] for k in rng.integers(0, 3 + d, size=int(rng.integers(0, 400)))] for d in range(5)
    ]
    views = [TextView(" ".join(words)) for words in docs]
    hashes, lengths = [v.word_hashes for v in views], [v.word_lengths for v in views]
    got_top, got_dup = ngram_repetition(hashes, lengths)
    ref_top, ref_dup = _definition(hashes, lengths)
    assert got_top.tolist() == ref_top.tolist()
    assert got_dup.tolist() == ref_dup.tolist()


# Toxicity weights cache -------------------------------------------------------------------------

TOXIC_TEXTS = [
    *AWKWARD,
    "you are a damn idiot and this is shit " * 30,
    "Thanks for the quick review, the patch looks good to me.",
    "what the hell is wrong with this stupid code\nfix it",
]


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


def _scores(classifier: ToxicityClassifier) -> list[tuple[float, float]]:
    return classifier.score_tokens([word_tokens(t) for t in TOXIC_TEXTS])


def test_cached_weights_give_bit_identical_probabilities(cache_home):
    first = ToxicityClassifier().load()  # from the pickles: writes the cache
    path = toxicity_weights.cache_path()
    assert path is not None and path.is_file() and path.is_relative_to(cache_home)
    cached = ToxicityClassifier().load()
    assert cached.backend == "linear" and cached._model is None  # never touched scikit-learn
    assert _scores(cached) == _scores(first)  # bit-identical, not just close
    reference = ToxicityClassifier(backend="sklearn").load()
    np.testing.assert_allclose(_scores(cached), _scores(reference), rtol=0, atol=1e-9)


def test_cache_round_trip_keeps_every_weight(cache_home):
    weights = ToxicityClassifier().load()._linear
    back = toxicity_weights.read_cache(toxicity_weights.cache_path())
    assert back.vocab == weights.vocab
    for key in ("idf", "weights", "intercepts", "slopes", "offsets"):
        a, b = getattr(back, key), getattr(weights, key)
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_a_bad_cache_file_is_ignored_and_rewritten(cache_home):
    ToxicityClassifier().load()
    path = toxicity_weights.cache_path()
    path.write_bytes(b"not an npz file")
    assert toxicity_weights.read_cache(path) is None
    again = ToxicityClassifier().load()  # falls back to the pickles, rewrites the file
    assert again.backend == "linear" and again._model is not None
    assert toxicity_weights.read_cache(path) is not None


def test_inconsistent_cache_is_ignored(cache_home):
    weights = ToxicityClassifier().load()._linear
    path = toxicity_weights.cache_path()
    assert toxicity_weights.write_cache(path, dataclasses.replace(weights, idf=weights.idf[:-1]))
    assert toxicity_weights.read_cache(path) is None


def test_sklearn_backend_never_reads_the_cache(cache_home):
    ToxicityClassifier().load()
    reference = ToxicityClassifier(backend="sklearn").load()
    assert reference.backend == "sklearn" and reference._model is not None


def test_a_process_with_the_cache_does_not_import_scikit_learn(cache_home):
    ToxicityClassifier().load()
    code = (
        "import sys; from quality.toxicity import ToxicityClassifier as T; "
        "c = T().load(); print(c.backend, 'sklearn' in sys.modules, 'scipy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["linear", "False", "False"]
