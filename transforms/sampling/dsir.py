"""DSIR: data selection by importance resampling on hashed n-gram features.

Xie, Santurkar, Ma, Liang (2023), "Data Selection for Language Models via Importance Resampling".
Two bag-of-hashed-n-grams models are fitted: p_target on a sample of the data we want more of,
p_raw on a sample of the raw corpus. A document's log importance ratio is

    log_ratio(x) = sum over n-gram occurrences of (log p_target[b] - log p_raw[b])
                 = counts(x) . (log p_target - log p_raw)

and sampling with weight exp(log_ratio) (Gumbel top-k in the paper, Efraimidis–Spirakis keys
here: the same thing) makes the selection's feature distribution approach the target's. The
paper's diagnostic is the KL divergence from the target feature distribution to the selection's,
compared with a random selection of the same size (`kl_diagnostic`).

Probabilities use add-alpha smoothing of the bucket counts (alpha = `smoothing`, 1 by default)
where the reference code adds 1e-8 to probabilities: with a small target sample, unseen buckets
otherwise get log-ratios near -18 per occurrence and dominate the score.

The scorer is small (two float vectors of `buckets` entries) and pickles without its word cache.
Its name, `SCORER_NAME`, versions the behaviour: change it when the features or the formula change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from transforms.sampling.feature_counts import FeatureCounts
from transforms.sampling.ngrams import FEATURES_VERSION, NgramHasher

SCORER_NAME = "dsir_hashed_v1"
FIT_BATCH = 512  # texts per featurisation batch while fitting (bounds memory, not results)


def smoothed_probs(counts: np.ndarray, smoothing: float) -> np.ndarray:
    """(counts + alpha) / (total + alpha * buckets)."""
    c = np.asarray(counts, dtype=np.float64) + smoothing
    return c / c.sum()


def _count(hasher: NgramHasher, texts: Iterable[str]) -> FeatureCounts:
    fc = FeatureCounts(hasher)
    batch: list[str] = []
    for t in texts:
        batch.append(t)
        if len(batch) == FIT_BATCH:
            fc.add_texts(batch)
            batch = []
    if batch:
        fc.add_texts(batch)
    return fc


class DsirScorer:
    """Fitted DSIR importance model. Build it with `DsirScorer.fit`.

    Attributes:
        hasher: the feature definition.
        log_diff: log p_target - log p_raw per bucket.
        target_probs: p_target (smoothed), for the KL diagnostic.
    """

    name = SCORER_NAME

    def __init__(
        self, hasher: NgramHasher, log_diff: np.ndarray, target_probs: np.ndarray, smoothing: float
    ) -> None:
        self.hasher = hasher
        self.log_diff = np.asarray(log_diff, dtype=np.float64)
        self.target_probs = np.asarray(target_probs, dtype=np.float64)
        self.smoothing = float(smoothing)

    @classmethod
    def fit(cls, target_texts: Sequence[str], raw_texts: Sequence[str], cfg) -> DsirScorer:
        """Fits both bag-of-n-grams models.

        Args:
            target_texts: the target sample (what the selection should look like).
            raw_texts: a sample of the raw corpus (what it is drawn from).
            cfg: a `DsirConfig` (buckets, ngram_orders, smoothing, hash_seed).

        Raises:
            ValueError: either sample has no n-gram at all (fail before any work is done).
        """
        hasher = NgramHasher(cfg.buckets, cfg.ngram_orders, cfg.hash_seed)
        target = _count(hasher, target_texts).counts
        raw = _count(hasher, raw_texts).counts
        for name, c in (("target", target), ("raw", raw)):
            if c.sum() == 0:
                raise ValueError(
                    f"DSIR {name} sample has no words: check dsir.target_paths and the input"
                )
        p_target = smoothed_probs(target, cfg.smoothing)
        p_raw = smoothed_probs(raw, cfg.smoothing)
        return cls(hasher, np.log(p_target) - np.log(p_raw), p_target, cfg.smoothing)

    def log_ratio(self, texts: Sequence[str]) -> np.ndarray:
        """log importance ratio of each text (float64; a non-string scores 0).

        Each row's sum runs over its own sorted feature columns, so a document's value does not
        depend on which other documents share its batch.
        """
        if not len(texts):
            return np.zeros(0)
        return self.hasher.features(texts) @ self.log_diff

    def describe(self) -> dict:
        """What identifies this scorer in reports and manifests."""
        return {"scorer": self.name, **self.hasher.signature, "smoothing": self.smoothing}


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) in nats for probability vectors (q > 0 wherever p > 0)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    m = p > 0
    return float(np.sum(p[m] * (np.log(p[m]) - np.log(q[m]))))


def feature_kl(target_probs: np.ndarray, counts: np.ndarray, smoothing: float = 1.0) -> float:
    """KL(target || selection) over hashed features; the selection's counts are smoothed add-alpha."""
    return kl_divergence(target_probs, smoothed_probs(counts, smoothing))


def kl_diagnostic(scorer: DsirScorer, selected: FeatureCounts, baseline: FeatureCounts) -> dict:
    """The paper's diagnostic: KL to the target of the selection vs of a random selection.

    Args:
        scorer: the fitted scorer (its target distribution and smoothing are used).
        selected: feature counts of the selected documents.
        baseline: feature counts of a uniform random selection of the same size.
    """
    for fc in (selected, baseline):
        if fc.hasher.signature != scorer.hasher.signature:
            raise ValueError(f"feature counts {fc.hasher.signature} do not match the scorer's")
    kl_sel = feature_kl(scorer.target_probs, selected.counts, scorer.smoothing)
    kl_rand = feature_kl(scorer.target_probs, baseline.counts, scorer.smoothing)
    return {
        "features": FEATURES_VERSION,
        "kl_selected": kl_sel,
        "kl_random": kl_rand,
        "kl_reduction": kl_rand - kl_sel,
        "relative_reduction": (kl_rand - kl_sel) / kl_rand if kl_rand > 0 else 0.0,
        "selected_docs": int(selected.docs),
        "random_docs": int(baseline.docs),
    }
