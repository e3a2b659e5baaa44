"""Shingling and MinHash: equality with plain-Python references and with datasketch."""

import numpy as np
import pytest
from datasketch import MinHash

from transforms.dedup.minhash import MinHasher, estimate_jaccard
from transforms.dedup.rolling import span_hash_int, window_hash_int
from transforms.dedup.shingles import Shingler, reference_words

TEXTS = [
    "The quick brown fox jumps over the lazy dog. The quick brown fox!",
    "def f(x):\n    return x + 1  # add one\n\nprint(f(41))",
    "Ünïcödé façade — l'été, 12,5 % naïve: Ωmega_test K\u212a\u00a0nbsp\u3000wide",
    "",
    "   ...!!! ???  ",
    "one two",
    "a b c d e",
    "x_y-z 2024 2025 year\x1cseparator\x1fend",
    # 4-byte characters (an alphanumeric math digit, a non-alphanumeric emoji), a combining
    # accent (not alphanumeric), a lone surrogate, non-ASCII spaces and separators
    "e\u0301t\u0301e\u0301 \U0001d7d9\U0001d7da x\U0001f600y \ud800z \x85nel\u2028ls\u200bzw",
]


def _reference_shingles(text: str, n: int, **norm: bool) -> list[int]:
    hashes = [
        span_hash_int(w.encode("utf-8", "surrogatepass")) for w in reference_words(text, **norm)
    ]
    if len(hashes) < n:
        return [window_hash_int(hashes) >> 32]
    return [window_hash_int(hashes[i : i + n]) >> 32 for i in range(len(hashes) - n + 1)]


@pytest.mark.parametrize(
    "norm",
    [
        {},
        {"fold_digits": True},
        {"strip_punct": False},
        {"lowercase": False, "strip_punct": False},
    ],
)
@pytest.mark.parametrize("n", [1, 3, 5])
def test_vectorised_shingles_equal_the_python_reference(norm, n):
    batch = Shingler(n, **norm).hash_batch(TEXTS)
    for i, text in enumerate(TEXTS):
        got = batch.hashes[batch.offsets[i] : batch.offsets[i + 1]].tolist()
        assert got == _reference_shingles(text, n, **norm), (i, text)


@pytest.mark.parametrize("strip_punct", [True, False])
def test_non_ascii_separators_equal_the_python_reference_on_random_text(strip_punct):
    # every character class: ASCII, Latin-1, BMP (letters, punctuation, spaces, surrogates),
    # astral; the vectorised UTF-8 decode must classify each like reference_words' regex
    rng = np.random.default_rng(7)
    pools = [
        np.arange(32, 127),
        np.arange(0x80, 0x800),
        np.arange(0x800, 0x10000),
        np.arange(0x10000, 0x110000, 97),
        np.array([0x20, 0xA0, 0x85, 0x2028, 0x3000, 0x1C, 0x5F]),
    ]
    texts = []
    for _ in range(40):
        chars = [int(rng.choice(pools[rng.integers(len(pools))])) for _ in range(200)]
        texts.append("".join(map(chr, chars)))
    batch = Shingler(3, strip_punct=strip_punct).hash_batch(texts)
    for i, text in enumerate(texts):
        got = batch.hashes[batch.offsets[i] : batch.offsets[i + 1]].tolist()
        assert got == _reference_shingles(text, 3, strip_punct=strip_punct), i


def test_normalization_ignores_case_and_punctuation_and_folds_digits():
    a, b = "Hello, World! It is 2024.", "hello world -- it IS 2024"
    assert reference_words(a) == reference_words(b) == ["hello", "world", "it", "is", "2024"]
    assert reference_words("v1.25", fold_digits=True) == ["v0", "00"]
    sh = Shingler(2)
    assert sh.hash_one(a).tolist() == sh.hash_one(b).tolist()


def test_short_documents_have_one_shingle_of_all_words():
    sh = Shingler(5)
    assert len(sh.hash_one("only three words")) == 1
    assert len(sh.hash_one("")) == 1  # the empty word sequence
    assert sh.hash_one("only three words").tolist() != sh.hash_one("only three").tolist()
    assert len(sh.hash_one("exactly five words right here")) == 1
    assert len(sh.hash_one("six words make exactly two shingles")) == 2


def test_shingles_do_not_depend_on_the_text_per_vectorised_call(monkeypatch):
    import transforms.dedup.shingles as shingles

    texts = TEXTS * 3
    whole = Shingler(3).hash_batch(texts)
    monkeypatch.setattr(shingles, "BATCH_CHARS", 40)  # a few texts per call, some alone
    assert len(shingles.text_chunks(texts, 40)) > 5
    split = Shingler(3).hash_batch(texts)
    assert split.offsets.tolist() == whole.offsets.tolist()
    assert split.hashes.tolist() == whole.hashes.tolist()


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("seed", [1, 7])
def test_signatures_bit_identical_to_datasketch(scheme, seed):
    rng = np.random.default_rng(seed)
    sets = [
        rng.integers(0, 2**32, size=k, dtype=np.uint64).astype(np.uint32) for k in (1, 3, 500, 9000)
    ]
    sets.append(Shingler(5).hash_one(TEXTS[0] * 20))
    hasher = MinHasher(64, seed, scheme)
    offsets = np.cumsum([0] + [len(s) for s in sets])
    from transforms.dedup.shingles import ShingleBatch

    ours = hasher.signatures(ShingleBatch(np.concatenate(sets), offsets))
    for s, sig in zip(sets, ours, strict=True):
        ref = MinHash(num_perm=64, seed=seed, scheme=scheme, hashfunc=int)
        ref.update_batch(s.tolist())
        assert ref.hashvalues.astype(np.uint64).tolist() == sig.astype(np.uint64).tolist()


def test_signatures_do_not_depend_on_batch_composition():
    hasher, sh = MinHasher(128, 3), Shingler(5)
    alone = [hasher.signature(sh.hash_one(t)) for t in TEXTS]
    together = hasher.signatures(sh.hash_batch(TEXTS))
    assert all((a == b).all() for a, b in zip(alone, together, strict=True))


def test_estimated_jaccard_tracks_the_true_value():
    words = [f"w{i}" for i in range(400)]
    a = " ".join(words)
    b = " ".join(words[:300] + [f"x{i}" for i in range(100)])
    hasher, sh = MinHasher(256, 0), Shingler(5)
    true = len(set(sh.hash_one(a)) & set(sh.hash_one(b))) / len(
        set(sh.hash_one(a)) | set(sh.hash_one(b))
    )
    est = estimate_jaccard(hasher.signature(sh.hash_one(a)), hasher.signature(sh.hash_one(b)))
    assert abs(est - true) < 0.1
    assert (
        estimate_jaccard(hasher.signature(sh.hash_one(a)), hasher.signature(sh.hash_one(a))) == 1.0
    )
