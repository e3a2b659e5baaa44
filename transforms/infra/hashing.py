"""Stable hashes used as keys: content identity, record position and the shuffle order.

All are pure functions of their inputs (and the seed), never of the process or the worker, so
decisions keyed by them are the same on any runner and any number of workers.
"""

from __future__ import annotations

import numpy as np
import xxhash

__all__ = ["content_key", "position_key", "position_parts", "shuffle_key", "shuffle_keys"]

_U64 = (1 << 64) - 1


def content_key(text: str) -> bytes:
    """16-byte XXH3-128 digest of the UTF-8 text (the normalized text, in the pipeline).

    Exact dedup groups on this key and the cross-release Bloom filter stores it, so a document
    removed as "already published" is exactly one exact dedup would call equal. 128 bits make
    an accidental collision negligible (~n^2 / 2^129) at any corpus size.
    """
    return xxhash.xxh3_128_digest(text.encode("utf-8", "surrogatepass"))


def position_key(file_index: int, line: int) -> int:
    """A unique int64 for a physical input record: file index (sorted input list) and line/row.

    Records are told apart by position, not id, until duplicate ids are resolved.
    """
    if line >= 1 << 40 or file_index >= 1 << 23:
        raise ValueError(f"position out of range: file {file_index}, line {line}")
    return (file_index << 40) | line


def position_parts(pos: int) -> tuple[int, int]:
    """(file index, line/row) of a `position_key`."""
    return pos >> 40, pos & ((1 << 40) - 1)


def shuffle_key(doc_id: str, seed: int) -> int:
    """A seeded 63-bit hash of the id: sorting by it is the global shuffle (fits int64)."""
    return xxhash.xxh3_64_intdigest(doc_id.encode("utf-8", "surrogatepass"), seed=seed & _U64) >> 1


def shuffle_keys(doc_ids: list[str], seed: int) -> np.ndarray:
    """Vector form of `shuffle_key` as int64."""
    return np.fromiter((shuffle_key(d, seed) for d in doc_ids), dtype=np.int64, count=len(doc_ids))
