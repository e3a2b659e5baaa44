"""Stable 64-bit hashing for the sketches: the same value hashes the same in every process.

Python's `hash()` is salted per process, so it cannot drive sketches that are merged across
workers. Strings go through xxh64 (seeded); derived hashes (n-grams, Count-Min rows) are mixed with
the splitmix64 finalizer, vectorised in numpy (uint64 arithmetic wraps, which is what we want).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import xxhash

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer: a bijective, well-mixed map of uint64 arrays."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def hash_strings(values: Iterable[str], seed: int = 0) -> np.ndarray:
    """xxh64 of each string's UTF-8 bytes, as a uint64 array."""
    out = [xxhash.xxh64_intdigest(v.encode("utf-8", "surrogatepass"), seed) for v in values]
    return np.array(out, dtype=np.uint64)


def hash_bytes(value: bytes, seed: int = 0) -> int:
    """xxh64 of raw bytes."""
    return xxhash.xxh64_intdigest(value, seed)


def combine(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Order-sensitive combination of two hash arrays (for n-grams: hash(a b) != hash(b a))."""
    with np.errstate(over="ignore"):
        return splitmix64(left * _M1 + right)


def bit_length(values: np.ndarray) -> np.ndarray:
    """Exact bit length of each uint64 (0 for 0), vectorised.

    float64 holds every 32-bit integer exactly, so frexp on each half is exact where frexp on the
    full 64-bit value would round (2**53 + 1 and friends).
    """
    v = np.asarray(values, dtype=np.uint64)
    hi = (v >> np.uint64(32)).astype(np.float64)
    lo = (v & np.uint64(0xFFFFFFFF)).astype(np.float64)
    hi_len = np.frexp(hi)[1].astype(np.int64)  # frexp(0) gives exponent 0
    lo_len = np.frexp(lo)[1].astype(np.int64)
    return np.where(hi_len > 0, hi_len + 32, lo_len)
