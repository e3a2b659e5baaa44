"""The trained quality classifier as a scorer (`curate classifier train` makes the model file).

Meta key and float32 shard column `classifier`: the probability that a document is like the
reference text. With `action: filter` a document is rejected (`classifier:low_score`) below
`min_score`, or, with `keep_top_fraction: f`, below the score that the top f of the raw corpus
reaches, read from the held-out raw-score quantiles saved at training time (a fixed threshold
per worker: no corpus-wide pass, nothing gathered; see `quality.classifier.training`). The score
is also a sampling weight term (`sampling.weight: "quality * classifier"`).
"""

from __future__ import annotations

import os
from typing import Any

from quality.classifier.model import load_model_cached, read_metadata, top_fraction_threshold
from quality.scorers.base import Rule, Scorer, check_fraction, raise_if
from quality.text import TextView


class Classifier(Scorer):
    """Probability of the reference class under a `LinearModel` (loaded once per process)."""

    name = "classifier_v1"
    prefix = "classifier"
    features = ("score",)
    main_features = ()

    def __init__(
        self,
        *,
        model: str | None = None,  # the .safetensors file `curate classifier train` wrote
        min_score: float | None = 0.5,
        keep_top_fraction: float | None = None,  # replaces min_score: keep the top f of raw text
    ) -> None:
        problems: list[str] = []
        check_fraction(problems, min_score=min_score, keep_top_fraction=keep_top_fraction)
        self.metadata: dict[str, Any] = {}
        if not model:
            problems.append("model is required: the file `curate classifier train` wrote")
        elif not os.path.isfile(model):
            problems.append(f"model file {model!r} does not exist")
        else:
            try:
                self.metadata = read_metadata(model)
            except ValueError as exc:
                problems.append(str(exc))
        if keep_top_fraction is not None and keep_top_fraction == 0:
            problems.append("keep_top_fraction must be > 0")
        raise_if(problems, self.name)
        self.model_path = model
        low = min_score
        if keep_top_fraction is not None:
            low = top_fraction_threshold(
                self.metadata.get("raw_score_quantiles") or [], keep_top_fraction
            )
        self.threshold = low
        self.rules = [Rule("low_score", "score", low, None)] if low is not None else []

    def compute(self, view: TextView) -> dict[str, float]:
        return self.compute_batch([view])[0]

    def compute_batch(self, views: list[TextView]) -> list[dict[str, float]]:
        scores = load_model_cached(self.model_path).score([v.text for v in views])
        return [{"score": float(s)} for s in scores]

    @classmethod
    def columns(cls) -> list[str]:
        return ["classifier"]

    def meta(self, features: dict[str, Any]) -> dict[str, Any]:
        return {"classifier": features["score"]}


def classifier_models(cfg) -> dict[str, dict[str, Any]]:
    """{model path: training summary} of every model the `QualityConfig` uses, for the report.

    The held-out AUC, precision and recall at the training threshold, held-out document counts
    and the training-data fingerprint, read from each file's header (weights are not loaded).
    """
    paths = set()
    for sc in cfg.active_scorers():
        if sc.name != Classifier.name:
            continue
        for source in [None, *cfg.named_sources()]:
            paths.add(sc.settings(cfg.policy_of(source), source)[1].get("model"))
    out = {}
    for path in sorted(p for p in paths if p):
        try:
            meta = read_metadata(path)
        except (OSError, ValueError) as exc:
            out[path] = {"error": str(exc)}
            continue
        training = meta.get("training", {})
        out[path] = {
            k: training.get(k) for k in ("auc", "threshold", "precision", "recall", "held_out_docs")
        }
        out[path]["data"] = meta.get("data", {})
    return out
