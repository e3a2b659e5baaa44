"""DSIR: data selection by importance resampling on hashed n-gram features.

Xie, Santurkar, Ma, Liang (2023), "Data Selection for Language Models via Importance Resampling".
Two bag-of-hashed-n-grams models are fitted: p_target on a sample of the data we want more of,
p_raw on a sample of the raw corpus. A document's log importance ratio is

    log_ratio(x) = sum over n-gram occurrences of (log p_target[b] - log p_raw[b])
                 = counts(x) . (log p_target - log p_raw)

and sampling with weight exp(log_ratio) (Gumbel top-k in the paper, Efraimidis–Spirakis keys
here: the same thing) makes the selection's feature distribution approach the target's.

The score the pipeline stores, `log_weight = temperature * log_ratio`, is what sampling uses.
With `temperature=None` it is calibrated at fit time to 1 / (IQR / 1.349) of the log-ratios of
the raw sample: the bag-of-n-grams model treats every n-gram of a document as independent
evidence, so its log-ratios are overconfident by orders of magnitude (on the benchmark corpus
their robust spread is ~80 nats for ~100-token documents) and T=1 selects only the most extreme
documents. A robust spread (not the standard deviation) because log-ratios scale with length and a
few very long documents would otherwise set the scale. The
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
            cfg: a `DsirConfig` (buckets, ngram_orders, smoothing, hash_seed, temperature).

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
        scorer = cls(hasher, np.log(p_target) - np.log(p_raw), p_target, cfg.smoothing)
        if cfg.temperature is None:
            ratios = np.concatenate(
                [
                    scorer.log_ratio(raw_texts[i : i + FIT_BATCH])
                    for i in range(0, len(raw_texts), FIT_BATCH)
                ]
            )
            scorer.temperature = calibrated_temperature(ratios)
        else:
            scorer.temperature = float(cfg.temperature)
        return scorer

    def log_ratio(self, texts: Sequence[str]) -> np.ndarray:
        """log importance ratio of each text (float64; a non-string scores 0).

        Equal to `features(texts) @ log_diff` (the CSR form); computed as a bincount of the
        per-occurrence log-ratios, which skips building the matrix. Each document's sum runs over
        its own occurrences in text order, so its value does not depend on the rest of the batch.
        """
        if not len(texts):
            return np.zeros(0)
        rows, cols = self.hasher.bucket_ids(texts)
        return np.bincount(rows, weights=self.log_diff[cols], minlength=len(texts))

    def log_weight(self, texts: Sequence[str]) -> np.ndarray:
        """temperature * log_ratio: the `dsir` score that sampling uses as log-weight."""
        return self.temperature * self.log_ratio(texts)

    def describe(self) -> dict:
        """What identifies this scorer in reports and manifests."""
        return {
            "scorer": self.name,
            **self.hasher.signature,
            "smoothing": self.smoothing,
            "temperature": self.temperature,
        }


def calibrated_temperature(raw_log_ratios: np.ndarray) -> float:
    """1 / robust spread (IQR / 1.349) of the raw sample's log-ratios; 1.0 when it has none."""
    r = np.asarray(raw_log_ratios, dtype=np.float64)
    if len(r) < 2:
        return 1.0
    q25, q75 = np.quantile(r, [0.25, 0.75])
    spread = (q75 - q25) / 1.349
    return 1.0 / spread if spread > 1e-9 else 1.0


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
