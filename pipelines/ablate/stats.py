"""Seed statistics of an ablation: per-arm mean ± std, paired differences to `raw`, verdicts.

Intervals are Student-t 95% intervals over seeds (n - 1 degrees of freedom). The difference of an
arm to `raw` is *paired by seed*: seed s of both arms shares the weight init and data-order seed,
so d_s = loss(arm, s) - loss(raw, s) removes the seed-to-seed variance both arms share. A verdict
claims a difference only when the paired interval excludes 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def t_quantile(df: int, q: float = 0.975) -> float:
    """Student-t quantile (scipy)."""
    from scipy.stats import t

    return float(t.ppf(q, df))


def summary(values: Sequence[float]) -> dict:
    """mean, sample std, n and the 95% interval of the mean."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    half = t_quantile(n - 1) * std / math.sqrt(n) if n > 1 else float("inf")
    return {
        "mean": mean,
        "std": std,
        "n": n,
        "ci95": [mean - half, mean + half],
        "half_width": half,
    }


def paired_difference(arm: Sequence[float], raw: Sequence[float]) -> dict:
    """arm - raw, seed by seed: mean, std, 95% interval (negative = lower loss than raw)."""
    return summary([a - r for a, r in zip(arm, raw, strict=True)])


def verdict(diff: dict, unit: str = "nats") -> str:
    """A plain sentence about a paired difference (loss: lower is better)."""
    lo, hi = diff["ci95"]
    size = f"{abs(diff['mean']):.4f} ± {diff['half_width']:.4f} {unit}, {diff['n']} seeds"
    if hi < 0:
        return f"better than raw by {size}"
    if lo > 0:
        return f"worse than raw by {size}"
    return (
        f"no detectable difference (Δ {diff['mean']:+.4f} {unit}, "
        f"95% interval [{lo:+.4f}, {hi:+.4f}], {diff['n']} seeds)"
    )
