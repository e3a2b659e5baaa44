"""Training the quality classifier: reference text (positives) against raw text (negatives).

The DCLM recipe (Li et al. 2024, "DataComp-LM", §4.4: a fastText classifier of reference text
against random crawl) without a model hub: a logistic regression over hashed word and character
n-grams (`quality.classifier.features`). Documents are split into train and held-out parts by a
seeded hash of their text (so the split does not depend on input order), the model is fitted on
the train part, and the held-out part gives ROC-AUC and precision/recall at the threshold.

The held-out part of the negatives (those identical to a positive included) is a uniform sample
of the raw corpus when negatives come from the raw input, so its score quantiles estimate the
corpus's: `keep_top_fraction: f` at run time keeps
documents scoring above the (1 - f) quantile, a fixed threshold that every worker applies alone
(no pass over the whole corpus, no gather into one worker).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quality.classifier.features import FeatureConfig, HashedFeatures
from quality.classifier.model import LinearModel

QUANTILE_POINTS = 101


@dataclass
class TrainSettings:
    """Knobs of `train_classifier` (defaults measured in benchmarks/RESULTS.md)."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    holdout_fraction: float = 0.2
    threshold: float = 0.5  # the operating point reported (precision, recall)
    c: float = 4.0  # inverse L2 strength of the logistic regression
    seed: int = 0

    def problems(self) -> list[str]:
        out = self.features.problems()
        if not 0.0 < self.holdout_fraction < 1.0:
            out.append(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")
        if not 0.0 < self.threshold < 1.0:
            out.append(f"threshold must be in (0, 1), got {self.threshold}")
        if self.c <= 0:
            out.append(f"c must be > 0, got {self.c}")
        return out


def text_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def fingerprint(texts: list[str]) -> str:
    """sha256 over the sorted sha256 of every text: the same set gives the same fingerprint."""
    h = hashlib.sha256()
    for d in sorted(text_digest(t) for t in texts):
        h.update(d)
    return h.hexdigest()


def _held_out(text: str, seed: int, fraction: float) -> bool:
    # Salted apart from any hash a caller sampled the texts with (a bottom-k sample by the same
    # hash would put its smallest hashes, i.e. the held-out part, over-proportionally in).
    h = hashlib.blake2b(
        text.encode("utf-8", "surrogatepass"), digest_size=8, key=f"holdout:{seed}".encode()
    )
    return int.from_bytes(h.digest(), "big") / 2**64 < fraction


def train_classifier(
    positives: list[str], negatives: list[str], settings: TrainSettings | None = None
) -> tuple[LinearModel, dict[str, Any]]:
    """Fits the model; returns it (metadata filled) and the training report.

    Negatives identical to a positive are dropped first (a raw corpus may contain the reference).
    Raises ValueError when a class has no document in the train or held-out part.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    s = settings or TrainSettings()
    problems = s.problems()
    if problems:
        raise ValueError("; ".join(problems))
    pos_digests = {text_digest(t) for t in positives}
    negatives_kept = [t for t in negatives if text_digest(t) not in pos_digests]
    texts = list(positives) + negatives_kept
    labels = np.array([1] * len(positives) + [0] * len(negatives_kept), dtype=np.int8)
    held = np.array([_held_out(t, s.seed, s.holdout_fraction) for t in texts], dtype=bool)
    for part, mask in (("train", ~held), ("held-out", held)):
        for cls, name in ((1, "positive"), (0, "negative")):
            if not np.any(labels[mask] == cls):
                raise ValueError(f"no {name} document in the {part} part; give more documents")
    feats = HashedFeatures(s.features)
    x = feats.transform(texts)
    clf = LogisticRegression(C=s.c, solver="liblinear", class_weight="balanced", max_iter=200)
    clf.fit(x[~held], labels[~held])
    model = LinearModel(s.features, clf.coef_[0].astype(np.float32), float(clf.intercept_[0]))
    scores = model.score([t for t, h in zip(texts, held, strict=True) if h])
    y = labels[held]
    pred = scores >= s.threshold
    tp = int(np.sum(pred & (y == 1)))
    report = {
        "auc": round(float(roc_auc_score(y, scores)), 6),
        "threshold": s.threshold,
        "precision": round(tp / int(pred.sum()), 6) if pred.any() else None,
        "recall": round(tp / int(np.sum(y == 1)), 6),
        "train_docs": {
            "positive": int(np.sum(labels[~held] == 1)),
            "negative": int(np.sum(labels[~held] == 0)),
        },
        "held_out_docs": {"positive": int(np.sum(y == 1)), "negative": int(np.sum(y == 0))},
        "negatives_dropped_as_positive": len(negatives) - len(negatives_kept),
        "c": s.c,
        "seed": s.seed,
    }
    # The raw sample's quantiles include the held-out raw documents that were dropped as
    # negatives for being positives: they are part of the raw corpus a top fraction is taken of
    # (the split is by text, so they were held out of training as positives too).
    dropped = [
        t
        for t in negatives
        if text_digest(t) in pos_digests and _held_out(t, s.seed, s.holdout_fraction)
    ]
    raw = np.concatenate([scores[y == 0], model.score(dropped)])
    grid = np.linspace(0.0, 1.0, QUANTILE_POINTS)
    report["raw_score_quantiles"] = [round(float(v), 6) for v in np.quantile(raw, grid)]
    report["raw_held_out_docs"] = int(len(raw))
    report["positive_score_quantiles"] = [
        round(float(v), 6) for v in np.quantile(scores[y == 1], grid)
    ]
    model.metadata = {
        "training": report,
        "raw_score_quantiles": report["raw_score_quantiles"],
        "data": {
            "positives": {"docs": len(positives), "sha256": fingerprint(list(positives))},
            "negatives": {"docs": len(negatives_kept), "sha256": fingerprint(negatives_kept)},
        },
    }
    return model, report
