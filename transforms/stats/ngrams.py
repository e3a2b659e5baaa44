"""Word n-grams of a batch of texts, vectorised with Arrow compute and numpy.

A word is a maximal run of Unicode letters, digits and underscores (RE2 `[\\p{L}\\p{N}_]+`),
optionally lowercased; n-grams never cross document boundaries. Both the exact Beam path and the
sketches use `batch_ngrams`, so they count the same things.

Each distinct word of the batch is hashed once (xxh64); an n-gram's hash combines its words'
hashes in order. Strings are only built for the n-grams a caller asks to label.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.stats.hashing import combine, hash_strings

NON_WORD = r"[^\p{L}\p{N}_]+"


class BatchNGrams(NamedTuple):
    """The distinct n-grams of a batch: hash, exact count, and where to find the words."""

    hashes: np.ndarray  # uint64, sorted
    counts: np.ndarray  # int64
    first: np.ndarray  # int64: position of one occurrence in `words`
    words: pa.Array  # flat words of the batch
    n: int

    def labels(self, idx: np.ndarray) -> list[str]:
        """The space-joined text of n-grams idx (positions in `hashes`)."""
        starts = self.first[np.asarray(idx, dtype=np.int64)]
        taken = [self.words.take(pa.array(starts + j)).to_pylist() for j in range(self.n)]
        return [" ".join(parts) for parts in zip(*taken, strict=True)]


def split_words(texts: pa.Array, lowercase: bool = True) -> tuple[pa.Array, np.ndarray]:
    """Flat words of all texts and the index of the text each word came from (nulls: no words)."""
    texts = texts.fill_null("") if texts.null_count else texts
    if lowercase:
        texts = pc.utf8_lower(texts)
    pieces = pc.split_pattern_regex(texts, pattern=NON_WORD)
    flat = pc.list_flatten(pieces)
    parent = pc.list_parent_indices(pieces)
    nonempty = pc.greater(pc.binary_length(flat), 0)
    return flat.filter(nonempty), parent.filter(nonempty).to_numpy(zero_copy_only=False)


def batch_ngrams(texts: pa.Array, n: int, lowercase: bool = True) -> BatchNGrams:
    """Counts the word n-grams of a batch of texts exactly (distinct n-grams, by hash)."""
    words, parent = split_words(texts, lowercase)
    empty = np.zeros(0, dtype=np.int64)
    if len(words) < n:
        return BatchNGrams(np.zeros(0, dtype=np.uint64), empty, empty, words, n)
    encoded = pc.dictionary_encode(words)
    word_hash = hash_strings(encoded.dictionary.to_pylist())
    h = word_hash[encoded.indices.to_numpy()]
    starts = len(words) - n + 1
    grams = h[:starts].copy()
    for j in range(1, n):
        grams = combine(grams, h[j : j + starts])
    same_doc = parent[:starts] == parent[n - 1 :]
    positions = np.nonzero(same_doc)[0]
    uniq, first, counts = np.unique(grams[positions], return_index=True, return_counts=True)
    return BatchNGrams(uniq, counts.astype(np.int64), positions[first], words, n)


def text_ngrams(text: str, n: int, lowercase: bool = True) -> list[str]:
    """The n-grams of one text as strings, in order (the exact path; same rules as the batch)."""
    words = split_words(pa.array([text], pa.string()), lowercase)[0].to_pylist()
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
