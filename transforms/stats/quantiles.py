"""Mergeable, deterministic quantile sketches on fixed bins.

Fixed bins make merging a plain addition of count arrays, so a sketch gives bit-identical results
whatever the partitioning or merge order (KLL and t-digest do not: they depend on arrival order and
random coins). The price is a fixed value range, which suits what we measure:

- `LogBinQuantiles` (lengths, raw feature columns): DDSketch's log-spaced bins with
  gamma = (1 + a) / (1 - a); every quantile has relative error <= a (Masson et al., VLDB 2019).
  Magnitudes below 1e-6 share the smallest bin, above 1e15 the largest; negative values mirror
  the positive bins. Size: about ln(1e21) / a bins (4,800 int64 counters at a = 1%), pickled
  sparsely (non-empty bins only).
- `LinearBinQuantiles` (scores, expected in [lo, hi]): equal-width bins; a quantile is reported as
  its bin's midpoint, absolute error <= (hi - lo) / (2 * bins). Values outside [lo, hi] are counted
  in the edge bins (and in min/max, which are exact), NaN separately.

Both keep exact count, min and max, and an exact sum: integers (lengths) sum exactly, floats
are summed in fixed point (2**-32 units) so the mean is also independent of merge order. Memory
is fixed by the configuration, never by the corpus size.
"""

from __future__ import annotations

import math

import numpy as np


def _exact_sum(fixed: np.ndarray) -> int:
    """Sums integer-valued floats exactly: int64 chunks small enough never to overflow."""
    ints = fixed.astype(np.int64)
    peak = int(np.abs(ints).max()) if ints.size else 0
    step = max(1, (1 << 62) // max(peak, 1))
    return sum(int(ints[i : i + step].sum()) for i in range(0, ints.size, step))


class _BinnedQuantiles:
    """Shared state and queries: counts per bin plus exact count/min/max/sum."""

    def __init__(self, n_bins: int) -> None:
        self.counts = np.zeros(n_bins, dtype=np.int64)
        self.count = 0
        self.nan = 0
        self.min = math.inf
        self.max = -math.inf
        self.fixed_sum = 0  # Python int: exact and unbounded

    _SCALE = float(1 << 32)  # fixed-point unit of the exact sum
    _CLIP = float(1 << 30)  # |value| * _SCALE stays below 2**62

    def _bin_of(self, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __getstate__(self) -> dict:
        """Only the non-empty bins: a shard's sketch pickles to a few KB, not the full array."""
        state = self.__dict__.copy()
        nonzero = np.flatnonzero(self.counts)
        state["counts"] = (self.counts.size, nonzero.astype(np.int32), self.counts[nonzero])
        return state

    def __setstate__(self, state: dict) -> None:
        size, index, values = state["counts"]
        counts = np.zeros(size, dtype=np.int64)
        counts[index] = values
        self.__dict__.update(state, counts=counts)

    def _value_of(self, bins: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _params(self) -> tuple:
        raise NotImplementedError

    def _display_range(self) -> tuple[float, float]:
        return self.min, self.max

    def add(self, values: np.ndarray) -> None:
        """Adds an array of values (vectorised)."""
        v = np.asarray(values, dtype=np.float64).ravel()
        finite = ~np.isnan(v)
        self.nan += int(v.size - finite.sum())
        v = v[finite]
        if v.size == 0:
            return
        self.counts += np.bincount(self._bin_of(v), minlength=self.counts.size)
        self.count += int(v.size)
        self.min = min(self.min, float(v.min()))
        self.max = max(self.max, float(v.max()))
        self.fixed_sum += _exact_sum(np.round(np.clip(v, -self._CLIP, self._CLIP) * self._SCALE))

    def merge(self, other: _BinnedQuantiles) -> _BinnedQuantiles:
        """Adds `other` into this sketch (in place) and returns self."""
        if type(other) is not type(self) or other._params() != self._params():
            raise ValueError(f"cannot merge {other._params()} into {self._params()}")
        self.counts += other.counts
        self.count += other.count
        self.nan += other.nan
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.fixed_sum += other.fixed_sum
        return self

    def quantile(self, q: float) -> float | None:
        """The value at rank q*(count-1), within the sketch's error bound; None when empty."""
        if self.count == 0:
            return None
        rank = q * (self.count - 1)
        cum = np.cumsum(self.counts)
        b = int(np.searchsorted(cum, rank, side="right"))
        value = float(self._value_of(np.array([min(b, self.counts.size - 1)]))[0])
        return min(max(value, self.min), self.max)  # exact extremes beat a bin's midpoint

    def mean(self) -> float | None:
        return None if self.count == 0 else self.fixed_sum / self._SCALE / self.count

    def histogram(self, n_bins: int, log: bool) -> dict[str, list]:
        """Counts over `n_bins` display bins spanning [min, max] (log-spaced when `log`)."""
        if self.count == 0:
            return {"edges": [], "counts": []}
        lo, hi = self._display_range()
        if log:
            lo = max(lo, 1.0)
            hi = max(hi, lo * 1.0001)
            edges = np.geomspace(lo, hi, n_bins + 1)
        else:
            hi = hi if hi > lo else lo + 1e-9
            edges = np.linspace(lo, hi, n_bins + 1)
        nonzero = np.nonzero(self.counts)[0]
        reps = np.clip(self._value_of(nonzero), edges[0], edges[-1])
        slot = np.clip(np.searchsorted(edges, reps, side="right") - 1, 0, n_bins - 1)
        counts = np.bincount(slot, weights=self.counts[nonzero], minlength=n_bins)
        return {"edges": [_round(e) for e in edges], "counts": [int(c) for c in counts]}

    def summary(self, quantiles: list[float], n_bins: int, log: bool) -> dict:
        """A JSON-ready summary: count, min, max, mean, quantiles, histogram."""
        empty = self.count == 0
        return {
            "count": self.count,
            "nan": self.nan,
            "min": None if empty else _round(self.min),
            "max": None if empty else _round(self.max),
            "mean": None if empty else _round(self.mean()),
            "quantiles": {f"{q:g}": _round(self.quantile(q)) for q in quantiles},
            "histogram": self.histogram(n_bins, log),
        }


def _round(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.6g}")


class LogBinQuantiles(_BinnedQuantiles):
    """Quantiles of any real values with relative error <= `relative_error`.

    Bins mirror around an exact-zero bin: negative values use the same log-spaced bins as
    positive ones, in reverse order, so bin order is value order.
    """

    LOW, HIGH = 1e-6, 1e15
    _SCALE = float(1 << 8)  # lengths are integers; 1/256 keeps fractional inputs honest
    _CLIP = HIGH

    def __init__(self, relative_error: float = 0.01) -> None:
        self.relative_error = relative_error
        self.gamma = (1 + relative_error) / (1 - relative_error)
        self._log_gamma = math.log(self.gamma)
        self._offset = math.ceil(math.log(self.LOW) / self._log_gamma)
        self._half = math.ceil(math.log(self.HIGH) / self._log_gamma) - self._offset + 1
        super().__init__(2 * self._half + 1)  # [negatives reversed] [zero] [positives]

    def _params(self) -> tuple:
        return ("log", self.relative_error)

    def _bin_of(self, values: np.ndarray) -> np.ndarray:
        mag = np.clip(np.abs(values), self.LOW, self.HIGH)
        k = np.ceil(np.log(mag) / self._log_gamma).astype(np.int64) - self._offset
        k = np.clip(k, 0, self._half - 1)
        zero = self._half
        return np.where(values > 0, zero + 1 + k, np.where(values < 0, zero - 1 - k, zero))

    def _value_of(self, bins: np.ndarray) -> np.ndarray:
        d = bins.astype(np.int64) - self._half
        k = (np.abs(d) - 1 + self._offset).astype(np.float64)
        rep = 2.0 * np.exp(k * self._log_gamma) / (self.gamma + 1.0)
        return np.where(d == 0, 0.0, np.sign(d) * rep)


class LinearBinQuantiles(_BinnedQuantiles):
    """Quantiles of values in [lo, hi] with absolute error <= (hi - lo) / (2 * bins)."""

    def __init__(self, bins: int = 1000, lo: float = 0.0, hi: float = 1.0) -> None:
        self.lo, self.hi, self.bins = float(lo), float(hi), int(bins)
        self._width = (self.hi - self.lo) / self.bins
        super().__init__(self.bins)

    def _params(self) -> tuple:
        return ("linear", self.bins, self.lo, self.hi)

    def _bin_of(self, values: np.ndarray) -> np.ndarray:
        idx = np.floor((values - self.lo) / self._width)
        return np.clip(idx, 0, self.bins - 1).astype(np.int64)

    def _value_of(self, bins: np.ndarray) -> np.ndarray:
        return self.lo + (bins.astype(np.float64) + 0.5) * self._width

    def _display_range(self) -> tuple[float, float]:
        return min(self.lo, self.min), max(self.hi, self.max)  # fixed axis, unless data escapes

    @property
    def absolute_error(self) -> float:
        return self._width / 2
