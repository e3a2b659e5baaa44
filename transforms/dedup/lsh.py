"""LSH banding of MinHash signatures: parameter choice and vectorised band hashing.

A signature of `num_perm` values is cut into `bands` bands of `rows` values; two documents are
candidates when any band is equal. The probability for Jaccard `s` is `1 - (1 - s^r)^b`. The
(bands, rows) pair is the one minimising `fp_weight * FP + fn_weight * FN`, the areas under
that curve below and above the threshold: datasketch's `_optimal_param`, so the choice is the
one datasketch users know (tests/dedup/test_lsh_components.py compares the two over a grid).
The areas are integrals of polynomials of degree b * r <= num_perm, so Gauss-Legendre quadrature
with num_perm // 2 + 1 nodes is exact (datasketch calls scipy's `quad` per pair); vectorised over
every (b, r) it takes ~10 ms, and building a graph no longer imports datasketch and scipy
(~0.55 CPU s per run).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from transforms.dedup.rolling import fmix64

_BAND_MULT = np.uint64(0x9FB21C651E98DF25)


def optimal_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive / negative areas at `threshold`.

    Candidates are ordered as datasketch's loops visit them (bands, then rows, ascending) and
    the first minimum wins, as its strict `<` does.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    bands = np.array([b for b, _ in pairs], dtype=np.float64)[:, None]
    rows = np.array([r for _, r in pairs], dtype=np.float64)[:, None]
    x, w = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    below = 0.5 * threshold * (x + 1.0)  # nodes on [0, threshold]
    above = threshold + 0.5 * (1.0 - threshold) * (x + 1.0)  # nodes on [threshold, 1]
    fp = 0.5 * threshold * ((1.0 - (1.0 - below**rows) ** bands) @ w)
    fn = 0.5 * (1.0 - threshold) * (((1.0 - above**rows) ** bands) @ w)
    b, r = pairs[int(np.argmin(fp * fp_weight + fn * fn_weight))]
    return b, r


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
    cost of bucketing (and, on the local runner, most of its memory). Cell = the low
    `log2_cells` bits of a band hash; `seen` marks cells hit once, `twice` cells hit at least
    twice, both packed 8 cells per byte. `may_repeat(hashes)` is True for every hash that
    occurs twice or more (never a false negative: a repeated hash hits its cell twice), and for
    the singletons whose cell another hash shares: about the fill of `seen`.

    Size is fixed by `log2_cells` (2 x 2^log2_cells bits: 64 MiB at the default 2^28 cells,
    enough to keep ~8 % of singletons at 22M band hashes, i.e. 1.6M documents x 14 bands), so
    it is bounded whatever the corpus; past ~2^log2_cells hashes every cell fills and the filter
    keeps everything (correct, just no saving). `folded()` halves the sketch while it stays
    sparse, so a small corpus ships a small side input; folding keeps cells aligned because a
    cell of the half-size sketch is the low bits of the same hash.
    """

    def __init__(self, log2_cells: int = 28) -> None:
        if not 3 <= log2_cells <= 34:
            raise ValueError(f"log2_cells must be in [3, 34], got {log2_cells}")
        self.log2_cells = log2_cells
        self.seen = np.zeros(1 << (log2_cells - 3), dtype=np.uint8)
        self.twice = np.zeros(1 << (log2_cells - 3), dtype=np.uint8)

    @property
    def mask(self) -> np.uint64:
        return np.uint64((1 << self.log2_cells) - 1)

    def cells(self, hashes: np.ndarray) -> np.ndarray:
        return (np.asarray(hashes, dtype=np.uint64) & self.mask).astype(np.int64).ravel()

    def add(self, hashes: np.ndarray) -> SharedBandSketch:
        cells, counts = np.unique(self.cells(hashes), return_counts=True)
        byte, bit = cells >> 3, (1 << (cells & 7)).astype(np.uint8)
        again = (counts > 1) | ((self.seen[byte] & bit) != 0)
        np.bitwise_or.at(self.twice, byte[again], bit[again])
        np.bitwise_or.at(self.seen, byte, bit)
        return self

    def fold(self) -> SharedBandSketch:
        """Halves the sketch in place (cell c and c + 2^(log2_cells - 1) become one cell)."""
        half = len(self.seen) // 2
        s_lo, s_hi = self.seen[:half], self.seen[half:]
        self.twice = self.twice[:half] | self.twice[half:] | (s_lo & s_hi)
        self.seen = s_lo | s_hi
        self.log2_cells -= 1
        return self

    def merge(self, other: SharedBandSketch) -> SharedBandSketch:
        while self.log2_cells > other.log2_cells:
            self.fold()
        while other.log2_cells > self.log2_cells:
            other = other.copy().fold()
        self.twice |= other.twice | (self.seen & other.seen)
        self.seen |= other.seen
        return self

    def copy(self) -> SharedBandSketch:
        out = SharedBandSketch.__new__(SharedBandSketch)
        out.log2_cells, out.seen, out.twice = self.log2_cells, self.seen.copy(), self.twice.copy()
        return out

    def fill(self) -> float:
        """Fraction of cells hit at least once (~ the rate of singletons `may_repeat` keeps)."""
        return float(np.unpackbits(self.seen).mean()) if len(self.seen) else 0.0

    def folded(self, max_fill: float = 1 / 16, min_log2_cells: int = 10) -> SharedBandSketch:
        """Folds while the folded sketch would keep at most `max_fill` of the singletons."""
        while self.log2_cells > min_log2_cells:
            half = len(self.seen) // 2
            folded_fill = float(np.unpackbits(self.seen[:half] | self.seen[half:]).mean())
            if folded_fill > max_fill:
                break
            self.fold()
        return self

    def may_repeat(self, hashes: np.ndarray) -> np.ndarray:
        """Boolean array shaped like `hashes`."""
        return _bit_set(self.twice, self.cells(hashes)).reshape(np.shape(hashes))

    def repeat_filter(self) -> RepeatFilter:
        """What `may_repeat` needs, and nothing else (half the bytes: the side input)."""
        return RepeatFilter(self.log2_cells, self.twice)


def _bit_set(bits: np.ndarray, cells: np.ndarray) -> np.ndarray:
    return ((bits[cells >> 3] >> (cells & 7).astype(np.uint8)) & 1).astype(bool)


class RepeatFilter(NamedTuple):
    """The `twice` bits of a finished `SharedBandSketch`: `may_repeat` without `seen`."""

    log2_cells: int
    twice: np.ndarray

    def may_repeat(self, hashes: np.ndarray) -> np.ndarray:
        mask = np.uint64((1 << self.log2_cells) - 1)
        cells = (np.asarray(hashes, dtype=np.uint64) & mask).astype(np.int64).ravel()
        return _bit_set(self.twice, cells).reshape(np.shape(hashes))


def sized_for(n_hashes: int, max_fill: float = 1 / 16, max_log2_cells: int = 28) -> int:
    """log2 of the cells that keep ~`max_fill` of `n_hashes` singletons (at least 2^10)."""
    need = max(1, int(np.ceil(n_hashes / max_fill)))
    return int(min(max_log2_cells, max(10, int(np.ceil(np.log2(need))))))


class BandSketchAccumulator:
    """A combine accumulator for `SharedBandSketch`: raw hashes until there are many.

    A small input never allocates the full-size sketch (2 x 2^max_log2_cells bits): it keeps
    its band hashes (at most `spill` of them, 8 bytes each) and is sized to them at the end.
    """

    def __init__(self, max_log2_cells: int = 28, spill: int = 1 << 20) -> None:
        self.max_log2_cells, self.spill = max_log2_cells, spill
        self.sketch: SharedBandSketch | None = None
        self.pending: list[np.ndarray] = []
        self.n_pending = 0

    def add(self, hashes: np.ndarray) -> BandSketchAccumulator:
        flat = np.asarray(hashes, dtype=np.uint64).ravel()
        if flat.size:
            self.pending.append(flat)
            self.n_pending += flat.size
            if self.n_pending >= self.spill:
                self._flush()
        return self

    def _flush(self) -> None:
        if self.sketch is None:
            self.sketch = SharedBandSketch(self.max_log2_cells)
        if self.pending:
            self.sketch.add(np.concatenate(self.pending))
        self.pending, self.n_pending = [], 0

    def merge(self, others) -> BandSketchAccumulator:
        for o in others:
            for h in o.pending:
                self.add(h)
            if o.sketch is not None:
                if self.sketch is None:
                    self.sketch = o.sketch.copy()
                else:
                    self.sketch.merge(o.sketch)
        return self

    def result(self) -> RepeatFilter:
        if self.sketch is None:  # small input: a sketch sized to it
            n = self.n_pending
            sketch = SharedBandSketch(sized_for(n, max_log2_cells=self.max_log2_cells))
            if self.pending:
                sketch.add(np.concatenate(self.pending))
        else:
            self._flush()
            sketch = self.sketch
        return sketch.folded().repeat_filter()


class BandSketchAccumulatorCoder:
    """Bytes of a `BandSketchAccumulator`: raw arrays, and the bit arrays either sparse (the
    nonzero bytes and their int32 positions: a partial sketch of a small bundle is mostly
    zeros) or dense, whichever is smaller. Always sparse, a sketch of 1.6M documents (22M
    band hashes over 2^25 bytes) encoded to 190 MB against 64 MiB dense, and the local runner
    holds that element in several buffers at once."""

    @staticmethod
    def to_tuple(acc: BandSketchAccumulator) -> tuple:
        pending = np.concatenate(acc.pending) if acc.pending else np.zeros(0, np.uint64)
        sketch = None
        if acc.sketch is not None:
            sk = acc.sketch
            nz = np.flatnonzero(sk.seen)
            if 6 * len(nz) < 2 * len(sk.seen):  # 4-byte position + 2 bytes per nonzero byte
                sketch = (
                    sk.log2_cells,
                    nz.astype("<i4").tobytes(),
                    sk.seen[nz].tobytes(),
                    sk.twice[nz].tobytes(),
                )
            else:
                sketch = (sk.log2_cells, None, sk.seen.tobytes(), sk.twice.tobytes())
        return acc.max_log2_cells, acc.spill, pending.astype("<u8").tobytes(), sketch

    @staticmethod
    def from_tuple(state: tuple) -> BandSketchAccumulator:
        max_log2, spill, pending, sketch = state
        acc = BandSketchAccumulator(max_log2, spill)
        acc.add(np.frombuffer(pending, dtype="<u8"))
        if sketch is not None:
            log2, nz, seen, twice = sketch
            sk = SharedBandSketch(log2)
            if nz is None:  # dense
                sk.seen[:] = np.frombuffer(seen, dtype=np.uint8)
                sk.twice[:] = np.frombuffer(twice, dtype=np.uint8)
            else:
                nz = np.frombuffer(nz, dtype="<i4")
                sk.seen[nz] = np.frombuffer(seen, dtype=np.uint8)
                sk.twice[nz] = np.frombuffer(twice, dtype=np.uint8)
            acc.sketch = sk
        return acc
