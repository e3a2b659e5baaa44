"""Identity-term mentions as a scorer: groups per document, and what to do with toxic ones.

Configured by the `quality.bias` section (`quality.config.BiasConfig`). Meta keys:
`identity_groups` (the groups the lexicons of `quality.bias` find) and `bias_weight` (float32
shard column: `downweight` for a document that mentions a group and is toxic, toxicity >=
`toxicity_threshold`, under `policy: downweight`; 1.0 otherwise). Under `policy: drop` such a
document is rejected as `bias:toxic_identity`. It runs after toxicity, whose score it reads.

Summary block `bias` (top level: `quality.bias.BiasAccumulator`, corpus and per source);
sampling weight term `bias_weight` (neutral 1.0 where the scorer is off).
"""

from __future__ import annotations

from typing import Any

from quality.bias import BiasAccumulator, IdentityTagger
from quality.files import ReadBytes, read_local
from quality.scorers.base import Failure, Scorer, SummaryPart
from quality.text import TextView


class BiasSummary(SummaryPart):
    """Identity groups, their toxicity rates and representation, corpus and per source."""

    key = "bias"
    per_scope = False

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def empty(self) -> BiasAccumulator:
        return BiasAccumulator(self.threshold)

    def add(self, state: BiasAccumulator, meta: dict[str, Any], source: str) -> BiasAccumulator:
        groups = meta.get("identity_groups")
        if groups is not None:
            state.add(groups, meta.get("toxicity"), source)
        return state

    def merge(self, into: BiasAccumulator, other: BiasAccumulator) -> BiasAccumulator:
        return into.merge(other)

    def to_json(self, state: BiasAccumulator) -> dict[str, Any]:
        return state.to_json()

    def dump(self, state: BiasAccumulator) -> dict[str, Any]:
        return state.to_state()

    def restore(self, data: dict[str, Any]) -> BiasAccumulator:
        return BiasAccumulator.from_state(data)


class Bias(Scorer):
    """Tags identity groups; flags (downweights or drops) those mentions in toxic documents."""

    name = "bias"
    prefix = "bias"
    section = "bias"  # the config section it is built from (`QualityConfig.bias`)
    features = ("identity_groups", "flagged")
    main_features = ()
    has_verdicts = False

    def __init__(
        self,
        *,
        lexicon_paths: dict[str, str] | None = None,
        policy: str = "report",
        toxicity_threshold: float = 0.8,
        downweight: float = 0.5,
    ) -> None:
        # Validated by quality.config.BiasConfig (its problems join the one ConfigError).
        self.lexicon_paths = dict(lexicon_paths or {})
        self.policy, self.toxicity_threshold = policy, toxicity_threshold
        self.downweight = downweight
        self.rules = []
        self.tagger: IdentityTagger | None = None

    @classmethod
    def from_section(cls, section: Any) -> Bias:
        return cls(
            lexicon_paths=section.lexicon_paths(),
            policy=section.policy,
            toxicity_threshold=section.toxicity_threshold,
            downweight=section.downweight,
        )

    def load(self, read_bytes: ReadBytes = read_local) -> None:
        self.tagger = IdentityTagger(self.lexicon_paths, read_bytes)

    def compute(self, view: TextView) -> dict[str, Any]:
        return self.compute_with_meta([view], [{}])[0]

    def compute_with_meta(
        self, views: list[TextView], metas: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        if self.tagger is None:
            self.load()
        out = []
        for view, meta in zip(views, metas, strict=True):
            groups = self.tagger.tag_tokens(view.tokens)
            toxicity = meta.get("toxicity")
            flagged = bool(groups) and toxicity is not None and toxicity >= self.toxicity_threshold
            out.append({"identity_groups": groups, "flagged": flagged, "toxicity": toxicity})
        return out

    def first_failure(self, features: dict[str, Any]) -> Failure | None:
        if not (features["flagged"] and self.policy == "drop"):
            return None
        groups, limit = features["identity_groups"], self.toxicity_threshold
        detail = f"toxicity={features['toxicity']:.6g} >= {limit:.6g} with {','.join(groups)}"
        return Failure("bias:toxic_identity", detail)

    def meta(self, features: dict[str, Any]) -> dict[str, Any]:
        down = features["flagged"] and self.policy == "downweight"
        return {
            "identity_groups": features["identity_groups"],
            "bias_weight": self.downweight if down else 1.0,
        }

    def columns(self) -> list[str]:
        return ["bias_weight"]

    def summary_part(self) -> SummaryPart:
        return BiasSummary(self.toxicity_threshold)

    @classmethod
    def weight_defaults(cls) -> dict[str, float]:
        return {"bias_weight": 1.0}
