"""Word n-gram shingles of normalized text, hashed to 32 bits, for a batch of documents at once.

Normalization (each step optional, see `NearDedupConfig`): lowercase; every character that is
not alphanumeric (`str.isalnum`) becomes a word separator; ASCII digits fold to "0". Words are
then the maximal runs of non-separators — exactly `reference_words()`, the plain-Python
definition that tests and the benchmark ground truth use.

Vectorised: a batch of documents is joined into one UTF-8 buffer; a 256-entry table marks word
bytes, word boundaries come from one `np.diff`, every word is hashed by the rolling hash of
`transforms.dedup.rolling` from one prefix sum, and n-gram shingles combine word hashes with n
vector passes. Non-ASCII characters are decoded from the buffer's UTF-8 lead bytes, also as
vectors, and each distinct one is classified once per batch (`str.isalnum`, or `str.isspace`
when only whitespace separates words): the bytes of a separator stop being word bytes. Python
only touches each document once (lower()) and each distinct non-ASCII character once per batch,
never each word or shingle.

A document with fewer than n words (including none) has exactly one shingle: the hash of all its
words. Two such documents are duplicates iff their normalized words are equal.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from transforms.dedup.rolling import span_hashes, window_hash_int, window_hashes

_NON_ALNUM = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"[0-9]")

# Word bytes when punctuation is stripped: ASCII letters and digits, and every byte of a
# non-ASCII character (`_clear_separators` then clears those of non-alphanumeric characters).
_ALNUM_BYTES = np.zeros(256, dtype=bool)
for _lo, _hi in ((48, 57), (65, 90), (97, 122), (128, 255)):
    _ALNUM_BYTES[_lo : _hi + 1] = True
# Word bytes when only whitespace separates words: everything but str.isspace() ASCII bytes.
_NONSPACE_BYTES = np.ones(256, dtype=bool)
_NONSPACE_BYTES[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = False
_PAD = np.zeros(3, dtype=np.uint8)
_FOLD_DIGITS = np.arange(256, dtype=np.uint8)
_FOLD_DIGITS[48:58] = 48


# Text per vectorised call. Large enough that numpy's per-call overhead vanishes, small enough
# that the temporaries and the rolling hash's power tables stay a few MB: one 64 MB spill batch
# at once took 10x longer and held ~1 GB of power tables, and growing the tables (a cumprod over
# all of them) cost seconds per process when exact verification shingled 1,024 long texts at once.
BATCH_CHARS = 1 << 20


def text_chunks(texts: list[str], max_chars: int) -> list[tuple[int, int]]:
    """[lo, hi) index ranges of consecutive texts of about `max_chars` each (at least one)."""
    out, lo, size = [], 0, 0
    for i, t in enumerate(texts):
        if size and size + len(t) > max_chars:
            out.append((lo, i))
            lo, size = i, 0
        size += len(t)
    out.append((lo, len(texts)))
    return out


class ShingleBatch(NamedTuple):
    """Shingle hashes of a batch: `hashes[offsets[i]:offsets[i+1]]` belong to document i."""

    hashes: np.ndarray  # uint32, grouped by document in input order
    offsets: np.ndarray  # int64, len = n_docs + 1


def reference_words(
    text: str, lowercase: bool = True, strip_punct: bool = True, fold_digits: bool = False
) -> list[str]:
    """The normalized words of `text` in plain Python (the definition the fast path matches)."""
    if lowercase:
        text = text.lower()
    if strip_punct:
        text = _NON_ALNUM.sub(" ", text)
    if fold_digits:
        text = _DIGITS.sub("0", text)
    return text.split()


def _clear_separators(buf: np.ndarray, is_word: np.ndarray, is_separator) -> None:
    """Clears `is_word` on every byte of the non-ASCII characters that `is_separator` (a code
    point predicate) marks: what `reference_words`' regex replaces by a space.

    `buf` is well-formed UTF-8 (with `surrogatepass`, a lone surrogate is a 3-byte sequence and
    a separator, as for the regex): each lead byte (>= 0xC0) starts a 2-4 byte sequence whose
    code point is assembled from the continuation bytes' low 6 bits, all sequences at once.
    """
    lead = np.flatnonzero(buf >= 0xC0)
    if len(lead) == 0:
        return
    padded = np.concatenate((buf, _PAD))
    b0 = padded[lead].astype(np.int32)
    c1, c2, c3 = ((padded[lead + k] & 0x3F).astype(np.int32) for k in (1, 2, 3))
    size = np.where(b0 >= 0xF0, 4, np.where(b0 >= 0xE0, 3, 2))
    code = np.where(
        size == 2,
        ((b0 & 0x1F) << 6) | c1,
        np.where(
            size == 3,
            ((b0 & 0x0F) << 12) | (c1 << 6) | c2,
            ((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3,
        ),
    )
    distinct, which = np.unique(code, return_inverse=True)
    sep_of = np.fromiter((is_separator(c) for c in distinct.tolist()), bool, len(distinct))
    sep = sep_of[which]
    if not sep.any():
        return
    at, size = lead[sep], size[sep]
    is_word[at] = 0
    is_word[at + 1] = 0
    is_word[at[size >= 3] + 2] = 0
    is_word[at[size == 4] + 3] = 0


class Shingler:
    """Hashes word n-gram shingles of normalized text (picklable, no heavy state).

    Args:
        ngram: words per shingle.
        lowercase: lowercase before splitting.
        strip_punct: treat every non-alphanumeric character as a separator; if False only
            whitespace separates words.
        fold_digits: map ASCII digits to "0".
    """

    def __init__(
        self,
        ngram: int = 5,
        lowercase: bool = True,
        strip_punct: bool = True,
        fold_digits: bool = False,
    ) -> None:
        if ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {ngram}")
        self.ngram = ngram
        self.lowercase = lowercase
        self.strip_punct = strip_punct
        self.fold_digits = fold_digits

    def _prepare(self, text: str) -> bytes:
        if self.lowercase:
            text = text.lower()
        return text.encode("utf-8", "surrogatepass")

    def _is_separator(self, code_point: int) -> bool:
        c = chr(code_point)
        return not c.isalnum() if self.strip_punct else c.isspace()

    def word_hashes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """64-bit hashes of every normalized word, and per-document word offsets."""
        parts = [self._prepare(t) for t in texts]
        lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
        doc_starts = np.zeros(len(parts), dtype=np.int64)
        if len(parts) > 1:
            # one separator byte between documents keeps their words apart
            doc_starts[1:] = np.cumsum(lengths[:-1] + 1)
        buf = np.frombuffer(b" ".join(parts), dtype=np.uint8)
        table = _ALNUM_BYTES if self.strip_punct else _NONSPACE_BYTES
        is_word = np.zeros(len(buf) + 2, dtype=np.int8)
        is_word[1:-1] = table[buf]
        _clear_separators(buf, is_word[1:-1], self._is_separator)
        edges = np.diff(is_word)
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        if self.fold_digits:
            buf = _FOLD_DIGITS[buf]
        hashes = span_hashes(buf, starts, ends)
        doc_of_word = np.searchsorted(doc_starts, starts, side="right") - 1
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(doc_of_word, minlength=len(parts)), out=offsets[1:])
        return hashes, offsets

    def hash_batch(self, texts: list[str]) -> ShingleBatch:
        """32-bit shingle hashes of every document of `texts` (duplicates within a doc kept).

        Vectorised over consecutive texts of about `BATCH_CHARS` at a time: a document's
        shingles do not depend on its neighbours, and the rolling hash's power tables (8 bytes
        per byte of a call, kept for the process) stay that small whatever the caller passes.
        """
        spans = text_chunks(texts, BATCH_CHARS)
        if len(spans) == 1:
            return self._hash_batch(texts)
        parts = [self._hash_batch(texts[lo:hi]) for lo, hi in spans]
        offsets = [np.zeros(1, dtype=np.int64)]
        base = 0
        for part in parts:
            offsets.append(part.offsets[1:] + base)
            base += int(part.offsets[-1])
        return ShingleBatch(
            np.concatenate([part.hashes for part in parts]), np.concatenate(offsets)
        )

    def _hash_batch(self, texts: list[str]) -> ShingleBatch:
        n = self.ngram
        words, woff = self.word_hashes(texts)
        counts = np.diff(woff)
        windows = window_hashes(words, n)
        # window i starts at word i; keep it if its last word is in the same document
        doc_of_word = np.repeat(np.arange(len(texts)), counts)
        if len(windows):
            valid = doc_of_word[: len(windows)] == doc_of_word[n - 1 :]
            hashes, docs = windows[valid], doc_of_word[: len(windows)][valid]
        else:
            hashes, docs = windows, np.zeros(0, dtype=np.int64)
        short = np.flatnonzero(counts < n)
        if len(short):  # one shingle of all words: a loop over documents, not shingles
            extra = np.array(
                [window_hash_int(words[woff[d] : woff[d + 1]].tolist()) for d in short],
                dtype=np.uint64,
            )
            order = np.argsort(np.concatenate((docs, short)), kind="stable")
            hashes = np.concatenate((hashes, extra))[order]
            docs = np.concatenate((docs, short))[order]
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(docs, minlength=len(texts)), out=offsets[1:])
        return ShingleBatch((hashes >> np.uint64(32)).astype(np.uint32), offsets)

    def hash_one(self, text: str) -> np.ndarray:
        """32-bit shingle hashes of one document."""
        return self.hash_batch([text]).hashes
