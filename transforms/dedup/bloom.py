"""A Bloom filter over a numpy bit array: batched, mergeable, with a versioned file format.

Hashing: MurmurHash3 x64 128 of the key (bytes, or the 8 little-endian bytes of a uint64 key,
so `np.uint64(x)` and `x.to_bytes(8, "little")` are the same key) gives two 64-bit halves
h1, h2; probe i is `(h1 + i * h2) mod m` (Kirsch & Mitzenmacher 2006 double hashing). Sizing
for n items at false-positive rate p: `m = ceil(-n ln p / ln^2 2)` bits rounded up to a multiple
of 64, `k = round(m / n * ln 2)` probes (Bloom 1970; Broder & Mitzenmacher 2004).

File format, version 1 (all integers little-endian), 80-byte header then the bit array:

    offset size field
    0      8    magic b"CURBLOOM"
    8      4    format version (uint32) = 1
    12     4    k, probes per key (uint32)
    16     8    m, bits (uint64, a multiple of 64)
    24     8    n, keys added that were not already present (uint64; a union adds counts)
    32     8    seed of the hash (uint64)
    40     8    payload length in bytes (uint64) = m / 8
    48     32   SHA-256 of the payload
    80     m/8  the bits: bit j is (payload[j >> 3] >> (j & 7)) & 1

A reader refuses another magic, another version, a short file or a checksum mismatch, each with
a message that says which.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import tempfile
from collections.abc import Sequence

import mmh3
import numpy as np

MAGIC = b"CURBLOOM"
VERSION = 1
_HEADER = struct.Struct("<8sIIQQQQ32s")
assert _HEADER.size == 80


class BloomFormatError(ValueError):
    """A file or buffer that is not a readable Bloom filter of this format version."""


def bloom_size(expected_items: int, fpr: float) -> tuple[int, int]:
    """(m bits, k probes) for `expected_items` keys at false positive rate `fpr`."""
    if expected_items < 1 or not 0.0 < fpr < 1.0:
        raise ValueError(f"need expected_items >= 1 and 0 < fpr < 1, got {expected_items}, {fpr}")
    m = math.ceil(-expected_items * math.log(fpr) / math.log(2) ** 2)
    m = max(64, (m + 63) // 64 * 64)
    k = max(1, round(m / expected_items * math.log(2)))
    return m, k


class BloomFilter:
    """Bloom filter with batched `add_many` / `contains_many`.

    Args:
        m: number of bits (rounded up to a multiple of 64).
        k: probes per key.
        seed: MurmurHash3 seed (filters combine only with the same m, k and seed).
    """

    def __init__(self, m: int, k: int, seed: int = 0) -> None:
        if m < 1 or k < 1:
            raise ValueError(f"m and k must be >= 1, got m={m}, k={k}")
        self.m = (m + 63) // 64 * 64
        self.k = k
        self.seed = seed
        self.n = 0
        self.bits = np.zeros(self.m // 8, dtype=np.uint8)
        self._probe = np.arange(k, dtype=np.uint64)

    @classmethod
    def for_capacity(cls, expected_items: int, fpr: float, seed: int = 0) -> BloomFilter:
        m, k = bloom_size(expected_items, fpr)
        return cls(m, k, seed)

    # -- hashing -------------------------------------------------------------------------------
    def _halves(self, keys: Sequence[bytes] | np.ndarray) -> np.ndarray:
        """(n, 2) uint64: the two 64-bit halves of each key's MurmurHash3 x64 128."""
        seed = self.seed & 0xFFFFFFFF
        digest = mmh3.mmh3_x64_128_digest
        if isinstance(keys, np.ndarray):
            if keys.dtype.kind not in "ui":
                raise TypeError(f"array keys must be integers, got {keys.dtype}")
            view = memoryview(keys.astype("<u8", copy=False).tobytes())
            raw = b"".join([digest(view[i : i + 8], seed) for i in range(0, len(view), 8)])
        else:
            raw = b"".join([digest(key, seed) for key in keys])
        return np.frombuffer(raw, dtype="<u8").reshape(-1, 2)

    def _positions(self, keys: Sequence[bytes] | np.ndarray) -> np.ndarray:
        """(n, k) bit positions of each key."""
        h = self._halves(keys)
        pos = h[:, 1:2] * self._probe[None, :]  # wraps mod 2^64 before the mod m: standard
        pos += h[:, 0:1]
        return pos % np.uint64(self.m)

    # -- operations ----------------------------------------------------------------------------
    def _test(self, pos: np.ndarray) -> np.ndarray:
        byte = self.bits[(pos >> np.uint64(3)).astype(np.intp)]
        bit = (byte >> (pos & np.uint64(7)).astype(np.uint8)) & np.uint8(1)
        return bit.all(axis=1)

    def contains_many(self, keys: Sequence[bytes] | np.ndarray) -> np.ndarray:
        """Bool array: True where the key may have been added (false positives at ~fpr)."""
        if len(keys) == 0:
            return np.zeros(0, dtype=bool)
        return self._test(self._positions(keys))

    def add_many(self, keys: Sequence[bytes] | np.ndarray) -> int:
        """Adds keys; returns how many were not already (apparently) present."""
        if len(keys) == 0:
            return 0
        pos = self._positions(keys)
        new = int(np.count_nonzero(~self._test(pos)))
        flat = pos.ravel()
        np.bitwise_or.at(
            self.bits,
            (flat >> np.uint64(3)).astype(np.intp),
            np.left_shift(1, (flat & np.uint64(7)).astype(np.uint8)).astype(np.uint8),
        )
        self.n += new
        return new

    def __contains__(self, key: bytes) -> bool:
        return bool(self.contains_many([key])[0])

    def compatible(self, other: BloomFilter) -> bool:
        return (self.m, self.k, self.seed) == (other.m, other.k, other.seed)

    def union(self, other: BloomFilter) -> BloomFilter:
        """A new filter holding the keys of both (same m, k and seed required)."""
        if not self.compatible(other):
            raise ValueError(
                f"cannot union Bloom filters of different shape: (m, k, seed) "
                f"{(self.m, self.k, self.seed)} vs {(other.m, other.k, other.seed)}"
            )
        out = self.copy()
        np.bitwise_or(out.bits, other.bits, out=out.bits)
        out.n = self.n + other.n
        return out

    def copy(self) -> BloomFilter:
        out = BloomFilter(self.m, self.k, self.seed)
        out.bits[:] = self.bits
        out.n = self.n
        return out

    def fill_ratio(self) -> float:
        """Share of bits set."""
        return float(np.unpackbits(self.bits).mean())

    def expected_fpr(self) -> float:
        """False positive rate implied by the bits set so far: fill_ratio ** k."""
        return self.fill_ratio() ** self.k

    # -- persistence ---------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        payload = self.bits.tobytes()
        header = _HEADER.pack(
            MAGIC, VERSION, self.k, self.m, self.n, self.seed, len(payload),
            hashlib.sha256(payload).digest(),
        )  # fmt: skip
        return header + payload

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "buffer") -> BloomFilter:
        if len(data) < _HEADER.size:
            raise BloomFormatError(f"{where}: {len(data)} bytes is shorter than a Bloom header")
        magic, version, k, m, n, seed, length, digest = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise BloomFormatError(f"{where}: not a curate Bloom filter (magic {magic!r})")
        if version != VERSION:
            raise BloomFormatError(
                f"{where}: Bloom filter format version {version}; this code reads version "
                f"{VERSION} (rebuild the filter with this release)"
            )
        payload = data[_HEADER.size :]
        if length != m // 8 or len(payload) != length or m % 64:
            raise BloomFormatError(
                f"{where}: truncated or inconsistent: header says m={m} bits / {length} bytes, "
                f"found {len(payload)} payload bytes"
            )
        if hashlib.sha256(payload).digest() != digest:
            raise BloomFormatError(f"{where}: checksum mismatch (corrupted file)")
        out = cls(m, k, seed)
        out.bits[:] = np.frombuffer(payload, dtype=np.uint8)
        out.n = n
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Writes atomically: a temporary file in the same folder, fsync, then rename."""
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".bloom-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.to_bytes())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> BloomFilter:
        with open(path, "rb") as fh:
            return cls.from_bytes(fh.read(), where=str(path))
