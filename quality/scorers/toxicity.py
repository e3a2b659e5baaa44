"""Toxicity as a scorer: the profanity classifier (`quality.toxicity`) and an optional lexicon.

Configured by the `quality.toxicity` section (`quality.config.ToxicityConfig`), not the scorer
list. Meta keys and float32 shard columns: `toxicity` (max over token windows), `toxicity_mean`
(mean over windows), both in [0, 1], and `toxicity_lexicon_hits` when a lexicon is set. With
`action: filter` a document is rejected as `toxicity:classifier` (toxicity >= threshold), else
as `toxicity:lexicon` (at least `lexicon_min_hits` lexicon matches). It runs after the listed
scorers (their reasons come first) and takes no part in the composite quality.

Summary block `toxicity` per scope (scored, mean, documents above the threshold, a histogram);
sampling weight term `toxicity` (neutral 0.0 where the scorer is off).
"""

from __future__ import annotations

from typing import Any

from quality.automaton import PhraseAutomaton
from quality.files import ReadBytes, read_local
from quality.lexicon import load_lexicon
from quality.scorers.base import HISTOGRAM_BINS, Failure, Scorer, SummaryPart, bin_of
from quality.text import TextView
from quality.toxicity import ToxicityClassifier

_MICRO = 1_000_000  # the toxicity sum is kept in millionths: integer state merges exactly


class ToxicitySummary(SummaryPart):
    """Documents scored, above the threshold, the mean and a histogram, per scope."""

    key = "toxicity"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def empty(self) -> dict[str, Any]:
        return {
            "scored": 0,
            "above_threshold": 0,
            "sum_micro": 0,
            "histogram": [0] * HISTOGRAM_BINS,
        }

    def add(self, state: dict[str, Any], meta: dict[str, Any], source: str) -> dict[str, Any]:
        toxicity = meta.get("toxicity")
        if toxicity is not None:
            state["scored"] += 1
            state["above_threshold"] += toxicity >= self.threshold
            state["sum_micro"] += round(toxicity * _MICRO)
            state["histogram"][bin_of(toxicity)] += 1
        return state

    def merge(self, into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
        for key in ("scored", "above_threshold", "sum_micro"):
            into[key] += other[key]
        into["histogram"] = [
            a + b for a, b in zip(into["histogram"], other["histogram"], strict=True)
        ]
        return into

    def to_json(self, state: dict[str, Any]) -> dict[str, Any]:
        scored = state["scored"]
        return {
            "scored": scored,
            "mean": round(state["sum_micro"] / _MICRO / scored, 6) if scored else None,
            "above_threshold": state["above_threshold"],
            "rate_above_threshold": round(state["above_threshold"] / scored, 6) if scored else None,
            "histogram": list(state["histogram"]),
        }

    def extras(self) -> dict[str, Any]:
        return {"toxicity_threshold": self.threshold}


class Toxicity(Scorer):
    """Profanity probability over token windows (max and mean), lexicon hits, the decision."""

    name = "toxicity"
    prefix = "toxicity"
    section = "toxicity"  # the config section it is built from (`QualityConfig.toxicity`)
    features = ("toxicity", "toxicity_mean", "lexicon_hits")
    main_features = ()
    value_range = (0.0, 1.0)
    has_verdicts = False

    def __init__(
        self,
        *,
        window_tokens: int = 64,
        threshold: float = 0.8,
        action: str = "score_only",
        backend: str = "auto",
        lexicon: str | None = None,
        lexicon_min_hits: int = 1,
    ) -> None:
        # Validated by quality.config.ToxicityConfig (its problems join the one ConfigError).
        self.window_tokens, self.backend = window_tokens, backend
        self.threshold, self.action = threshold, action
        self.lexicon_path, self.lexicon_min_hits = lexicon, lexicon_min_hits
        self.rules = []
        self.classifier: ToxicityClassifier | None = None
        self.lexicon: PhraseAutomaton | None = None

    @classmethod
    def from_section(cls, section: Any) -> Toxicity:
        return cls(
            window_tokens=section.window_tokens,
            threshold=section.threshold,
            action=section.action,
            backend=section.backend,
            lexicon=section.lexicon,
            lexicon_min_hits=section.lexicon_min_hits,
        )

    def load(self, read_bytes: ReadBytes = read_local) -> None:
        self.classifier = ToxicityClassifier(self.window_tokens, self.backend).load()
        if self.lexicon_path:
            entries = load_lexicon(self.lexicon_path, read_bytes=read_bytes)
            self.lexicon = PhraseAutomaton((e.term, e.group) for e in entries if not e.exclude)

    def compute(self, view: TextView) -> dict[str, Any]:
        return self.compute_batch([view])[0]

    def compute_batch(self, views: list[TextView]) -> list[dict[str, Any]]:
        if self.classifier is None:
            self.load()
        scores = self.classifier.score_tokens([v.tokens for v in views])
        out = []
        for view, (toxicity, mean) in zip(views, scores, strict=True):
            hits = self.lexicon.count(view.tokens) if self.lexicon is not None else None
            out.append({"toxicity": toxicity, "toxicity_mean": mean, "lexicon_hits": hits})
        return out

    def first_failure(self, features: dict[str, Any]) -> Failure | None:
        if self.action != "filter":
            return None
        toxicity, hits = features["toxicity"], features["lexicon_hits"]
        if toxicity >= self.threshold:
            return Failure(
                "toxicity:classifier", f"toxicity={toxicity:.6g} >= threshold {self.threshold:.6g}"
            )
        if hits is not None and hits >= self.lexicon_min_hits:
            return Failure(
                "toxicity:lexicon", f"lexicon_hits={hits} >= min {self.lexicon_min_hits}"
            )
        return None

    def meta(self, features: dict[str, Any]) -> dict[str, Any]:
        out = {"toxicity": features["toxicity"], "toxicity_mean": features["toxicity_mean"]}
        if features["lexicon_hits"] is not None:
            out["toxicity_lexicon_hits"] = float(features["lexicon_hits"])
        return out

    def columns(self) -> list[str]:  # an instance's: the lexicon column only with a lexicon
        return ["toxicity", "toxicity_mean"] + ["toxicity_lexicon_hits"] * bool(self.lexicon_path)

    @classmethod
    def unit_columns(cls) -> list[str]:
        return ["toxicity", "toxicity_mean"]

    @classmethod
    def outcome_columns(cls) -> list[str]:
        return ["toxicity"]

    def summary_part(self) -> SummaryPart:
        return ToxicitySummary(self.threshold)

    def report_thresholds(self) -> dict[str, float]:
        return {"toxicity": self.threshold}

    @classmethod
    def weight_defaults(cls) -> dict[str, float]:
        return {"toxicity": 0.0}
