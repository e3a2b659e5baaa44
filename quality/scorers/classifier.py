"""The trained quality classifier as a scorer (`curate classifier train` makes the model file).

Meta key and float32 shard column `classifier`: the probability that a document is like the
reference text. With `action: filter` a document is rejected (`classifier:low_score`) below
`min_score`, or, with `keep_top_fraction: f`, below the score that the top f of the raw corpus
reaches, read from the held-out raw-score quantiles saved at training time (a fixed threshold
per worker: no corpus-wide pass, nothing gathered; see `quality.classifier.training`). The score
is also a sampling weight term (`sampling.weight: "quality * classifier"`, neutral 1.0 where the
scorer is off). Summary block `classifier` per scope (documents scored, a histogram), plus
`classifier_models` (each model's held-out metrics from training); report section "Classifier
score distribution per source".

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
from quality.scorers.base import (
    HISTOGRAM_BINS,
    ReportSection,
    Rule,
    Scorer,
    SummaryPart,
    bin_of,
    check_fraction,
    raise_if,
)
from quality.text import TextView


class ClassifierSummary(SummaryPart):
    """Documents scored and a histogram of their scores, per scope."""

    key = "classifier"

    def empty(self) -> dict[str, Any]:
        return {"scored": 0, "histogram": [0] * HISTOGRAM_BINS}

    def add(self, state: dict[str, Any], meta: dict[str, Any], source: str) -> dict[str, Any]:
        score = meta.get("classifier")
        if score is not None:
            state["scored"] += 1
            state["histogram"][bin_of(score)] += 1
        return state

    def merge(self, into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
        into["scored"] += other["scored"]
        into["histogram"] = [
            a + b for a, b in zip(into["histogram"], other["histogram"], strict=True)
        ]
        return into

    def to_json(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"scored": state["scored"], "histogram": list(state["histogram"])}


class Classifier(Scorer):
    """Probability of the reference class under a `LinearModel` (loaded once per process)."""

    name = "classifier_v1"
    prefix = "classifier"
    features = ("score",)
    main_features = ()
    value_range = (0.0, 1.0)

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

    def summary_part(self) -> SummaryPart:
        return ClassifierSummary()

    @classmethod
    def weight_defaults(cls) -> dict[str, float]:
        return {"classifier": 1.0}

    @classmethod
    def config_files(cls, thresholds: dict[str, Any]) -> list[tuple[str, str, str]]:
        model = thresholds.get("model")
        return [("model", model, "model")] if isinstance(model, str) and model else []

    @classmethod
    def report_facts(cls, scorers: list[Scorer], read_bytes: ReadBytes) -> dict[str, Any]:
        """`classifier_models`: {model path: training summary} of every model the run uses.

        The held-out AUC, precision and recall at the training threshold, held-out document
        counts and the training-data fingerprint, read from each file's header (weights are
        not loaded).
        """
        out = {}
        for path in sorted({s.model_path for s in scorers if s.model_path}):
            try:
                meta = metadata_from_bytes(read_bytes(path), path)
            except Exception as exc:  # noqa: BLE001 - a filesystem's own errors: reported, not fatal
                out[path] = {"error": str(exc)}
                continue
            training = meta.get("training", {})
            out[path] = {
                k: training.get(k)
                for k in ("auc", "threshold", "precision", "recall", "held_out_docs")
            }
            out[path]["data"] = meta.get("data", {})
        return {"classifier_models": out} if out else {}

    @classmethod
    def report_section(cls, summary: dict[str, Any]) -> ReportSection | None:
        """Per-source score distributions (share of the source's documents per bin), metrics."""
        series, scored = {}, {}
        for source, scope in sorted((summary.get("by_source") or {}).items()):
            block = scope.get(ClassifierSummary.key) or {}
            hist, n = block.get("histogram") or [], block.get("scored", 0)
            if n and hist:
                width = 1.0 / len(hist)
                series[source] = {round((i + 0.5) * width, 4): c / n for i, c in enumerate(hist)}
                scored[source] = n
        if not series:
            return None
        models = summary.get("classifier_models") or {}
        aucs = [m.get("auc") for m in models.values() if isinstance(m, dict) and m.get("auc")]
        title = "Classifier score by source" + (
            f" (held-out AUC {', '.join(f'{a:.3f}' for a in aucs)})" if aucs else ""
        )
        rows = []
        for source, points in series.items():
            above = sum(v for x, v in points.items() if x >= 0.5)
            rows.append([source, scored[source], f"{100 * above:.1f}%"])
        return ReportSection(
            "classifier",
            "Classifier score distribution per source",
            ["source", "scored", "score >= 0.5"],
            rows,
            chart={
                "name": "classifier_scores",
                "series": series,
                "title": title,
                "xlabel": "classifier score",
                "ylabel": "share of documents",
            },
            details={"Model (from training, on held-out documents):": models},
        )
