"""Drift of the hashed n-gram distribution: run vs previous run, and source vs source.

**Where the distribution lives.** The pipeline writes `stats.json`; this run's distribution goes
under `stats["sampling"]["ngram_distribution"]` (`STATS_KEY`), as returned by
`distribution_entry`:

    {"features": "hashed_ngrams_v1", "buckets": 16384, "orders": [1, 2], "seed": 0,
     "overall": {"docs": n, "counts": [16384 ints], "labels": {"bucket": "readable n-gram"}, ...},
     "by_source": {"code": {...same...}, ...}}

Counts are a dense list (16384 ints is ~100 kB of JSON per source: small next to a corpus, and
readable by any tool). Labels are one readable n-gram per bucket (see feature_counts.py).

**What is compared.** Jensen–Shannon divergence (base 2, so in [0, 1]; 0 = identical) between the
normalised count vectors: overall, per source present in both runs, and between each pair of
sources of this run. The n-grams that moved most are the buckets with the largest contribution to
the overall JSD, shown with their label, both probabilities and the direction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import numpy as np

from transforms.infra import fs
from transforms.sampling.feature_counts import FeatureCounts

STATS_KEY = ("sampling", "ngram_distribution")


def _probs(counts: np.ndarray) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    return c / total if total > 0 else c


def jsd_terms(p_counts: np.ndarray, q_counts: np.ndarray) -> np.ndarray:
    """Per-bucket contributions to the base-2 Jensen–Shannon divergence (they sum to the JSD)."""
    p, q = _probs(p_counts), _probs(q_counts)
    m = 0.5 * (p + q)
    out = np.zeros_like(m)
    for x in (p, q):
        nz = x > 0
        out[nz] += 0.5 * x[nz] * np.log2(x[nz] / m[nz])
    return out


def jensen_shannon(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """JSD(p, q) in bits, in [0, 1]; NaN when either side has no counts at all."""
    if np.sum(p_counts) <= 0 or np.sum(q_counts) <= 0:
        return float("nan")
    return float(min(1.0, max(0.0, jsd_terms(p_counts, q_counts).sum())))


def distribution_entry(overall: FeatureCounts, by_source: Mapping[str, FeatureCounts]) -> dict:
    """The value to store at stats["sampling"]["ngram_distribution"]."""
    sig = overall.hasher.signature
    strip = lambda fc: {k: v for k, v in fc.to_json().items() if k not in sig}  # noqa: E731
    return {
        **sig,
        "overall": strip(overall),
        "by_source": {s: strip(fc) for s, fc in sorted(by_source.items())},
    }


def _counts_from_entry(entry: Mapping) -> tuple[FeatureCounts, dict[str, FeatureCounts]]:
    sig = {k: entry[k] for k in ("features", "buckets", "orders", "seed")}
    overall = FeatureCounts.from_json({**sig, **entry["overall"]})
    by_source = {
        s: FeatureCounts.from_json({**sig, **v}) for s, v in entry.get("by_source", {}).items()
    }
    return overall, by_source


def load_previous(path: str) -> tuple[dict | None, str | None]:
    """(entry, problem) read from a previous run's stats.json; the problem says why there is none."""
    try:
        node = json.loads(fs.read_text(path if fs.is_remote(path) else os.path.expanduser(path)))
    except (OSError, ValueError) as exc:
        return None, f"cannot read {path}: {exc}"
    for key in STATS_KEY:
        if not isinstance(node, dict) or key not in node:
            return None, f"{path} has no {'.'.join(STATS_KEY)} (run made without drift enabled?)"
        node = node[key]
    return node, None


def moved_ngrams(current: FeatureCounts, previous: FeatureCounts, top: int) -> list[dict]:
    """The `top` buckets that contribute most to JSD(current, previous), largest first."""
    terms = jsd_terms(current.counts, previous.counts)
    p_cur, p_prev = _probs(current.counts), _probs(previous.counts)
    order = np.lexsort((np.arange(len(terms)), -terms))[:top]  # ties by bucket: deterministic
    out = []
    for b in order.tolist():
        if terms[b] <= 0:
            break
        out.append(
            {
                "bucket": b,
                "ngram": current.labels.get(b) or previous.labels.get(b) or "",
                "previous": float(p_prev[b]),
                "current": float(p_cur[b]),
                "direction": "up" if p_cur[b] > p_prev[b] else "down",
                "jsd_share": float(terms[b]),
            }
        )
    return out


def compare_sources(entry: Mapping) -> dict:
    """JSD of each source against the whole run and between each pair of sources."""
    overall, by_source = _counts_from_entry(entry)
    names = sorted(by_source)
    return {
        "vs_overall": {s: jensen_shannon(by_source[s].counts, overall.counts) for s in names},
        "pairwise": {
            f"{a}|{b}": jensen_shannon(by_source[a].counts, by_source[b].counts)
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        },
    }


def compare_runs(current: Mapping, previous: Mapping, top: int = 20) -> dict:
    """JSD between this run's and a previous run's distributions, overall and per source."""
    sig_keys = ("features", "buckets", "orders", "seed")
    cur_sig = {k: current.get(k) for k in sig_keys}
    prev_sig = {k: previous.get(k) for k in sig_keys}
    if cur_sig != prev_sig:
        return {
            "comparable": False,
            "note": f"feature definitions differ: now {cur_sig}, before {prev_sig}",
        }
    cur_all, cur_src = _counts_from_entry(current)
    prev_all, prev_src = _counts_from_entry(previous)
    both = sorted(set(cur_src) & set(prev_src))
    return {
        "comparable": True,
        "jsd": jensen_shannon(cur_all.counts, prev_all.counts),
        "by_source": {s: jensen_shannon(cur_src[s].counts, prev_src[s].counts) for s in both},
        "new_sources": sorted(set(cur_src) - set(prev_src)),
        "missing_sources": sorted(set(prev_src) - set(cur_src)),
        "moved": moved_ngrams(cur_all, prev_all, top),
    }


def drift_report(current: Mapping, previous_stats: str | None, top: int = 20) -> dict:
    """Everything the report shows about drift: between sources, and against the previous run."""
    out: dict = {"sources": compare_sources(current)}
    if previous_stats is None:
        out["previous_run"] = None
        return out
    prev, problem = load_previous(previous_stats)
    if prev is not None:
        try:
            return {
                **out,
                "previous_run": {"path": previous_stats, **compare_runs(current, prev, top)},
            }
        except (KeyError, TypeError, ValueError) as exc:  # a damaged or foreign stats file
            problem = f"{previous_stats}: unreadable n-gram distribution ({exc!r})"
    out["previous_run"] = {"path": previous_stats, "comparable": False, "note": problem}
    return out
