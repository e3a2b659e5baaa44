"""LSH banding of MinHash signatures: parameter choice and vectorised band hashing.

A signature of `num_perm` values is cut into `bands` bands of `rows` values; two documents are
candidates when any band is equal. The probability for Jaccard `s` is `1 - (1 - s^r)^b`. The
(bands, rows) pair is the one minimising `fp_weight * FP + fn_weight * FN`, the areas under
that curve below and above the threshold: datasketch's `_optimal_param`, called directly so the
choice is the one datasketch users know.
"""

from __future__ import annotations

import numpy as np

from transforms.dedup.rolling import fmix64

_BAND_MULT = np.uint64(0x9FB21C651E98DF25)


def optimal_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive / negative areas at `threshold`."""
    from datasketch.lsh import _optimal_param  # scipy-backed; imported where it is needed

    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    bands, rows = _optimal_param(threshold, num_perm, fp_weight, fn_weight)
    return int(bands), int(rows)


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that two documents of Jaccard `similarity` share at least one band."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n_docs, bands) uint64 hashes of each band of each signature.

    Equal bands always hash equally; a 64-bit collision between unequal bands is harmless (at
    worst one extra candidate edge, which verification removes). The band index is mixed in, so
    a hash identifies (band, values) and hashes of different bands never collide by design.
    """
    sig = np.asarray(signatures, dtype=np.uint32)
    if sig.ndim != 2 or sig.shape[1] < bands * rows:
        raise ValueError(f"signatures of shape {sig.shape} are too short for {bands}x{rows} bands")
    cut = sig[:, : bands * rows].reshape(len(sig), bands, rows).astype(np.uint64)
    acc = np.broadcast_to(np.arange(1, bands + 1, dtype=np.uint64), (len(sig), bands)).copy()
    for j in range(rows):  # `rows` vector passes over (n_docs, bands)
        acc = fmix64(acc * _BAND_MULT + cut[:, :, j])
    return acc


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One shuffle key per band of one signature: 2-byte band index + 8-byte band hash."""
    hashes = band_hashes(signature[None, :], bands, rows)[0]
    return [band.to_bytes(2, "big") + int(h).to_bytes(8, "big") for band, h in enumerate(hashes)]


class SharedBandSketch:
    """Which band hashes may occur more than once: a mergeable two-bit-per-cell sketch.

    Most LSH buckets hold one document and produce no edge; shuffling them is most of the
    cost of bucketing. Cell = the top `log2_cells` bits of a band hash; `seen` marks cells hit
    once, `twice` cells hit at least twice. `may_repeat(hashes)` is True for every hash that
    occurs twice or more (never a false negative: a repeated hash hits its cell twice), and for
    a few singletons whose cell another hash shares. Size is fixed (2 x 2^log2_cells bytes),
    so it is bounded whatever the corpus; once a corpus has many more band hashes than cells,
    every cell is `twice` and the filter keeps everything (correct, just no saving).
    """

    def __init__(self, log2_cells: int = 22) -> None:
        self.shift = np.uint64(64 - log2_cells)
        self.seen = np.zeros(1 << log2_cells, dtype=bool)
        self.twice = np.zeros(1 << log2_cells, dtype=bool)

    def cells(self, hashes: np.ndarray) -> np.ndarray:
        return (np.asarray(hashes, dtype=np.uint64) >> self.shift).astype(np.int64).ravel()

    def add(self, hashes: np.ndarray) -> SharedBandSketch:
        cells, counts = np.unique(self.cells(hashes), return_counts=True)
        self.twice[cells[counts > 1]] = True
        self.twice[cells] |= self.seen[cells]
        self.seen[cells] = True
        return self

    def merge(self, other: SharedBandSketch) -> SharedBandSketch:
        self.twice |= other.twice | (self.seen & other.seen)
        self.seen |= other.seen
        return self

    def may_repeat(self, hashes: np.ndarray) -> np.ndarray:
        """Boolean array shaped like `hashes`."""
        return self.twice[self.cells(hashes)].reshape(np.shape(hashes))
