"""MinHash signatures of shingle-hash sets, bit-identical to `datasketch.MinHash`.

For 32-bit shingle hashes `h` and `num_perm` permutations drawn exactly as datasketch draws them
(`np.random.RandomState(seed)`), a signature is the column-wise minimum over a document's
shingles of:

- scheme "affine32" (datasketch >= 2.0 default): `a * fmix32(h) + b mod 2^32`, `a` odd;
- scheme "legacy" (datasketch < 2.0): `((a * h + b) mod 2^64 mod (2^61 - 1)) & (2^32 - 1)`.

`datasketch.MinHash(num_perm, seed, scheme=..., hashfunc=int).update_batch(h)` gives the same
values (tests/dedup/test_minhash.py). Documents are processed as a batch: the
(num_perm x n_shingles) product is computed in cache-sized chunks with in-place numpy
operations, and per-document minima come from `np.minimum.reduceat` over the chunk, so there is
no Python loop per document or per shingle. Signatures are stored as uint32 (datasketch's legacy
uint64 values all fit in 32 bits).
"""

from __future__ import annotations

import numpy as np

from transforms.dedup.shingles import ShingleBatch, Shingler

MERSENNE_61 = np.uint64((1 << 61) - 1)
MAX_HASH_32 = np.uint32(0xFFFFFFFF)
# Shingles per chunk: the (num_perm x chunk) product is 4 MiB at 128 permutations, in cache.
# Permutations run along rows so each numpy inner loop is a contiguous run of shingles with a
# scalar a_k (SIMD-friendly), and per-document minima reduce along the contiguous axis.
_CHUNK_ROWS = 8192


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (datasketch's pre-mix for the affine32 scheme)."""
    h = np.asarray(h, dtype=np.uint32)
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) permutation parameters datasketch draws for this seed and scheme."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        pairs = [
            (
                gen.randint(1, MERSENNE_61, dtype=np.uint64),
                gen.randint(0, MERSENNE_61, dtype=np.uint64),
            )
            for _ in range(num_perm)
        ]
        ab = np.array(pairs, dtype=np.uint64).T
        return ab[0].copy(), ab[1].copy()
    if scheme == "affine32":
        a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        return a, b
    raise ValueError(f"unknown MinHash scheme {scheme!r} (affine32 or legacy)")


class MinHasher:
    """Computes MinHash signatures for batches of shingle-hash sets.

    Args:
        num_perm: signature length.
        seed: permutation seed (datasketch's `seed`).
        scheme: "affine32" or "legacy" (see module docstring).
    """

    def __init__(self, num_perm: int = 128, seed: int = 1, scheme: str = "affine32") -> None:
        if num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {num_perm}")
        self.num_perm = num_perm
        self.seed = seed
        self.scheme = scheme
        self.a, self.b = permutations(num_perm, seed, scheme)

    def _permute(self, h: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Writes the permuted values of hashes `h` into `out[:, :len(h)]` (num_perm rows)."""
        cols = out[:, : len(h)]
        if self.scheme == "affine32":
            np.multiply(self.a[:, None], fmix32(h)[None, :], out=cols)
            cols += self.b[:, None]
            return cols
        wide = self.a[:, None] * h.astype(np.uint64)[None, :]  # wraps mod 2^64 like datasketch
        wide += self.b[:, None]
        np.remainder(wide, MERSENNE_61, out=wide)
        np.bitwise_and(wide, np.uint64(0xFFFFFFFF), out=wide)
        cols[...] = wide
        return cols

    def signatures(self, batch: ShingleBatch) -> np.ndarray:
        """(n_docs, num_perm) uint32 signatures; a document without shingles gets all 2^32-1."""
        hashes, offsets = batch.hashes, batch.offsets
        n_docs = len(offsets) - 1
        out = np.full((n_docs, self.num_perm), MAX_HASH_32, dtype=np.uint32)
        scratch = np.empty((self.num_perm, min(_CHUNK_ROWS, max(1, len(hashes)))), np.uint32)
        total = len(hashes)
        for r0 in range(0, total, _CHUNK_ROWS):
            r1 = min(total, r0 + _CHUNK_ROWS)
            cols = self._permute(hashes[r0:r1], scratch)
            # documents overlapping [r0, r1) and their segment starts inside the chunk
            d0 = int(np.searchsorted(offsets, r0, side="right")) - 1
            d1 = int(np.searchsorted(offsets, r1, side="left"))
            bounds = np.clip(offsets[d0 : d1 + 1], r0, r1) - r0
            docs = np.arange(d0, d1)
            nonempty = bounds[1:] > bounds[:-1]
            starts, docs = bounds[:-1][nonempty], docs[nonempty]
            mins = np.minimum.reduceat(cols, starts, axis=1).T
            out[docs] = np.minimum(out[docs], mins)
        return out

    def signature(self, hashes: np.ndarray) -> np.ndarray:
        """The signature of one shingle-hash set."""
        batch = ShingleBatch(np.asarray(hashes, dtype=np.uint32), np.array([0, len(hashes)]))
        return self.signatures(batch)[0]


def estimate_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the share of equal signature positions."""
    return float(np.count_nonzero(a == b)) / len(a)


class TextMinHasher:
    """Text to signature: `Shingler` + `MinHasher` with one set of parameters (picklable)."""

    def __init__(self, shingler: Shingler, hasher: MinHasher) -> None:
        self.shingler = shingler
        self.hasher = hasher

    def signatures(self, texts: list[str]) -> np.ndarray:
        """(len(texts), num_perm) uint32 signatures."""
        return self.hasher.signatures(self.shingler.hash_batch(texts))
