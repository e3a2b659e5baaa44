"""Seed statistics of an ablation: paired differences to `raw`, their intervals, verdicts.

Two views of a difference, both *paired by seed* (seed s of every arm shares the weight init and
data-order seed, so d_s = loss(arm, s) - loss(raw, s) removes the variance both arms share):

- `paired_difference`: the Student-t 95% interval over seeds alone (n - 1 degrees of freedom).
  It treats the eval set as fixed, so it ignores which documents happened to be held out.
- `compare`: the verdict's statistic. Its standard error comes from a paired bootstrap that
  resamples seeds AND eval documents (in buckets, within each source, the same draw for both arms),
  seeded and therefore deterministic. The bootstrap SE is scaled by sqrt(n / (n - 1)) and used
  with the Student-t quantile at n - 1 degrees of freedom: with no document variance this is
  exactly the seed-only t interval, and document variance only widens it (a plain percentile
  bootstrap over 3 seeds would be far too narrow). The p-value is the matching two-sided t test.

A family of comparisons (every non-raw arm x every verdict eval set) is corrected with Holm's
step-down method (`holm`); intervals are shown at the Bonferroni level alpha / m, so each one is a
simultaneous interval, and the minimum detectable effect (`mde`) is the true difference that
would be found with probability `power` at that level: (t_{1-alpha/2m} + t_{power}) x SE.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


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


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down; monotone, capped at 1), in the input order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def mix_loss(ce: np.ndarray, tokens: np.ndarray, groups: list[np.ndarray],
             weights: Sequence[float]) -> np.ndarray:  # fmt: skip
    """The mix-matched loss: sum_s w_s * (CE of source s's buckets / their tokens).

    Args:
        ce: summed cross-entropy per bucket, shape (..., buckets).
        tokens: target tokens per bucket, same shape.
        groups: bucket indices of each source.
        weights: the target mix (one weight per group, summing to 1).
    """
    out = 0.0
    for idx, w in zip(groups, weights, strict=True):
        out = out + w * ce[..., idx].sum(-1) / tokens[..., idx].sum(-1)
    return np.asarray(out)


def bootstrap_se(arm_ce: np.ndarray, raw_ce: np.ndarray, tokens: np.ndarray,
                 groups: list[np.ndarray], weights: Sequence[float], draws: int,
                 seed: int) -> float:  # fmt: skip
    """SE of the mean paired difference from a bootstrap over seeds and eval-document buckets.

    Each draw resamples the seeds (rows) and, within each source, the buckets, with replacement;
    both arms get the same draw (paired). Deterministic for a given `seed`.

    Args:
        arm_ce, raw_ce: summed cross-entropy, shape (seeds, buckets).
        tokens: target tokens per bucket, shape (seeds, buckets) (equal rows: same eval data).
    """
    rng = np.random.default_rng(seed)
    n = arm_ce.shape[0]
    diff = 0.0
    for idx, w in zip(groups, weights, strict=True):
        k = len(idx)
        counts = rng.multinomial(k, np.full(k, 1.0 / k), size=draws).astype(float)  # (B, k)
        den = counts @ tokens[:, idx].T  # (B, seeds)
        diff = diff + w * ((counts @ arm_ce[:, idx].T) - (counts @ raw_ce[:, idx].T)) / den
    seeds = rng.multinomial(n, np.full(n, 1.0 / n), size=draws)  # (B, seeds)
    means = (seeds * diff).sum(1) / n
    return float(np.std(means, ddof=1))


def compare(diffs: Sequence[float], se_boot: float, alpha_family: float, power: float) -> dict:
    """The verdict statistic of one comparison from its per-seed differences and bootstrap SE.

    Args:
        diffs: per-seed paired differences (arm - raw).
        se_boot: `bootstrap_se` of their mean.
        alpha_family: the per-comparison level of the shown interval (alpha / m, Bonferroni).
        power: the power the minimum detectable effect is stated at.
    """
    from scipy.stats import t

    n = len(diffs)
    mean = float(np.mean(diffs))
    df = max(1, n - 1)
    se = se_boot * math.sqrt(n / df)
    if se > 0:
        p = float(2 * t.sf(abs(mean) / se, df))
    else:
        p = 0.0 if mean != 0 else 1.0
    half = t_quantile(df, 1 - alpha_family / 2) * se
    return {
        "mean": mean,
        "n": n,
        "se": se,
        "p": p,
        "level": 1 - alpha_family,
        "ci": [mean - half, mean + half],
        "half_width": half,
        "mde": mde(se, df, alpha_family, power),
        "per_seed": [float(d) for d in diffs],
    }


def mde(se: float, df: int, alpha: float, power: float) -> float:
    """Smallest true difference found with probability `power` by a two-sided test at `alpha`."""
    return (t_quantile(df, 1 - alpha / 2) + t_quantile(df, power)) * se


def sequential_stop(intervals: Sequence[Sequence[float]], min_effect: float, n: int,
                    cap: int) -> tuple[bool, str]:  # fmt: skip
    """The sequential seed rule: (stop, why).

    Stop when every interval excludes zero or is narrower than +-`min_effect` (the question is
    answered either way), or when `n` seeds reached the cap; otherwise add a seed.
    """
    open_ = [
        (lo, hi) for lo, hi in intervals
        if lo <= 0 <= hi and (hi - lo) / 2 >= min_effect
    ]  # fmt: skip
    if not open_:
        return True, f"resolved at {n} seeds: every interval excludes 0 or is within ±{min_effect}"
    if n >= cap:
        return True, f"seed cap {cap} reached with {len(open_)} interval(s) still open"
    return False, f"{len(open_)} interval(s) include 0 and are wider than ±{min_effect}"


def verdict(c: dict, adjusted_p: float, alpha: float, unit: str = "nats") -> str:
    """A plain sentence about a compared difference (loss: lower is better)."""
    lo, hi = c["ci"]
    size = (
        f"{abs(c['mean']):.4f} {unit} ({c['level']:.1%} interval [{lo:+.4f}, {hi:+.4f}], "
        f"Holm p {adjusted_p:.3g}, {c['n']} seeds)"
    )
    if adjusted_p < alpha and c["mean"] < 0:
        return f"better than raw by {size}"
    if adjusted_p < alpha and c["mean"] > 0:
        return f"worse than raw by {size}"
    return f"no detectable difference (Δ {c['mean']:+.4f} {unit}, {size.split('(', 1)[1]}"
