"""Hashed n-gram features: the feature space of DSIR and of the drift check.

Words come from one regex, `\\w+|[^\\w\\s]+` on lower-cased text (NLTK's WordPunctTokenizer
pattern, which the DSIR reference code uses). Each distinct word is hashed once with seeded
xxh3-64 (cached); n-gram hashes are combined from word hashes with a splitmix64 mixer in numpy,
and every order gets its own salt before the final `% buckets`, so all orders share one bucket
space (as in DSIR) without a unigram and a bigram colliding systematically.

Everything is vectorised over a batch of documents: one concatenated array of word hashes, one
mask per order so that n-grams never cross a document boundary. The name of this feature
definition is `FEATURES_VERSION`; change it if the tokenisation or hashing ever changes, so old
stats files are not compared with new ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import xxhash

FEATURES_VERSION = "hashed_ngrams_v1"
WORD_RE = re.compile(r"\w+|[^\w\s]+")
CACHE_WORDS = (
    1 << 21
)  # word-hash cache entries per process (speed only; results never depend on it)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_K = np.uint64(0x9E3779B97F4A7C15)
_SALTS = {n: np.uint64(xxhash.xxh3_64_intdigest(f"order{n}".encode())) for n in (1, 2, 3)}


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


class _HashCache(dict):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed

    def __missing__(self, word: str) -> int:
        h = xxhash.xxh3_64_intdigest(word.encode("utf-8", "surrogatepass"), seed=self.seed)
        if len(self) < CACHE_WORDS:
            self[word] = h
        return h


class NgramHasher:
    """Maps texts to hashed n-gram bucket ids.

    Args:
        buckets: size of the feature space.
        orders: n-gram orders, e.g. (1, 2) for unigrams and bigrams.
        seed: word hashing seed.
    """

    def __init__(self, buckets: int, orders: Sequence[int] = (1, 2), seed: int = 0) -> None:
        self.buckets = int(buckets)
        self.orders = tuple(sorted(orders))
        self.seed = int(seed) & ((1 << 64) - 1)
        self._cache = _HashCache(self.seed)

    def __getstate__(self):
        return (self.buckets, self.orders, self.seed)

    def __setstate__(self, state) -> None:
        self.__init__(*state)

    @property
    def signature(self) -> dict:
        """What must match for two count vectors to be comparable."""
        return {
            "features": FEATURES_VERSION,
            "buckets": self.buckets,
            "orders": list(self.orders),
            "seed": self.seed,
        }

    def words(self, text: str) -> list[str]:
        return WORD_RE.findall(text.lower())

    def tokenize_batch(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """All words of a batch (concatenated), their hashes, and the text index of each word.

        A value that is not a string counts as an empty text (bad records never crash).
        """
        words = [self.words(t) if isinstance(t, str) else [] for t in texts]
        lengths = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
        flat = [w for ws in words for w in ws]
        hashes = np.fromiter(map(self._cache.__getitem__, flat), dtype=np.uint64, count=len(flat))
        doc_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        return flat, hashes, doc_of

    def ngram_hashes(
        self, hashes: np.ndarray, doc_of: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(start positions, 64-bit hashes) of the order-n n-grams inside single documents."""
        if len(hashes) < n:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64)
        acc = hashes[: len(hashes) - n + 1]
        for j in range(1, n):
            acc = mix64(acc * _K + hashes[j : len(hashes) - n + 1 + j])
        acc = mix64(acc ^ _SALTS[n])
        starts = np.arange(len(acc), dtype=np.int64)
        if n > 1:
            inside = doc_of[: len(acc)] == doc_of[n - 1 :]
            starts, acc = starts[inside], acc[inside]
        return starts, acc

    def bucket_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(text index, bucket id) of every n-gram occurrence in a batch."""
        _, hashes, doc_of = self.tokenize_batch(texts)
        rows, cols = [], []
        for n in self.orders:
            starts, h = self.ngram_hashes(hashes, doc_of, n)
            rows.append(doc_of[starts])
            cols.append((h % np.uint64(self.buckets)).astype(np.int64))
        return np.concatenate(rows), np.concatenate(cols)

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Count matrix (texts x buckets), CSR with sorted column indices."""
        rows, cols = self.bucket_ids(texts)
        data = np.ones(len(rows), dtype=np.float64)
        mat = sp.coo_matrix((data, (rows, cols)), shape=(len(texts), self.buckets)).tocsr()
        mat.sum_duplicates()
        mat.sort_indices()
        return mat

    def counts(self, texts: Sequence[str]) -> np.ndarray:
        """Total bucket counts over a batch (int64 vector of length `buckets`)."""
        _, cols = self.bucket_ids(texts)
        return np.bincount(cols, minlength=self.buckets).astype(np.int64)
