"""The trained quality classifier as a scorer (`curate classifier train` makes the model file).

Meta key and float32 shard column `classifier`: the probability that a document is like the
reference text. With `action: filter` a document is rejected (`classifier:low_score`) below
`min_score`, or, with `keep_top_fraction: f`, below the score that the top f of the raw corpus
reaches, read from the held-out raw-score quantiles saved at training time (a fixed threshold
per worker: no corpus-wide pass, nothing gathered; see `quality.classifier.training`). The score
is also a sampling weight term (`sampling.weight: "quality * classifier"`).

The model may be a URL (`gs://...`): its checks then run in `pipelines.config` (through Beam's
filesystems), and the threshold of `keep_top_fraction` is read when the scorer is loaded
(`load(read_bytes)`, see `quality.files`).
"""

from __future__ import annotations

import os
from typing import Any

from quality.classifier.model import (
    LinearModel,
    load_model_cached,
    metadata_from_bytes,
    read_metadata,
    top_fraction_threshold,
)
from quality.files import ReadBytes, is_url, read_local
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
        elif is_url(model):
            pass  # checked through Beam's filesystems (pipelines.config); read by load()
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
        self._min_score, self._keep_top_fraction = min_score, keep_top_fraction
        self._model: LinearModel | None = None
        self._set_threshold()

    def _set_threshold(self) -> None:
        low = self._min_score
        if self._keep_top_fraction is not None:
            if not self.metadata:  # a URL model not loaded yet: no rule until load()
                self.threshold, self.rules = None, []
                return
            low = top_fraction_threshold(
                self.metadata.get("raw_score_quantiles") or [], self._keep_top_fraction
            )
        self.threshold = low
        self.rules = [Rule("low_score", "score", low, None)] if low is not None else []

    def load(self, read_bytes: ReadBytes = read_local) -> None:
        """Reads the model (shared per process) and, for a URL, its threshold metadata."""
        self._model = load_model_cached(self.model_path, read_bytes)
        if not self.metadata:
            self.metadata = dict(self._model.metadata)
            self._set_threshold()

    def compute(self, view: TextView) -> dict[str, float]:
        return self.compute_batch([view])[0]

    def compute_batch(self, views: list[TextView]) -> list[dict[str, float]]:
        if self._model is None:
            self.load()
        scores = self._model.score([v.text for v in views])
        return [{"score": float(s)} for s in scores]

    @classmethod
    def columns(cls) -> list[str]:
        return ["classifier"]

    def meta(self, features: dict[str, Any]) -> dict[str, Any]:
        return {"classifier": features["score"]}


def classifier_models(cfg, read_bytes: ReadBytes = read_local) -> dict[str, dict[str, Any]]:
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
            meta = metadata_from_bytes(read_bytes(path), path)
        except Exception as exc:  # noqa: BLE001 - a filesystem's own errors: reported, not fatal
            out[path] = {"error": str(exc)}
            continue
        training = meta.get("training", {})
        out[path] = {
            k: training.get(k) for k in ("auc", "threshold", "precision", "recall", "held_out_docs")
        }
        out[path]["data"] = meta.get("data", {})
    return out
