"""Language identification as a scorer: keep documents in allowed languages, confidently identified.

The rule is FineWeb's (Penedo et al. 2024, §3.3: fastText language classifier, keep English
with score >= 0.65; datatrove `LanguageFilter` uses the same 0.65 default): a document passes
when its most likely language is in `allowed` and that language's probability is at least
`min_confidence`. `allowed: null` accepts every language (the confidence rule alone).

Meta keys: `language` (ISO 639 code, `und` for text without words) and `language_score` (the
probability, a float32 shard column next to a string column `language`). Reason codes:
`language:not_allowed`, `language:low_confidence`.
"""

from __future__ import annotations

from typing import Any

from quality.langid import LanguageIdentifier
from quality.scorers.base import Failure, Rule, Scorer, check_fraction, raise_if
from quality.text import TextView


class LanguageId(Scorer):
    """Most likely language and its probability (fastText lid.176, see `quality.langid`)."""

    name = "language_v1"
    prefix = "language"
    features = ("language", "confidence", "allowed")
    main_features = ()

    def __init__(
        self,
        *,
        allowed: list[str] | None = ("en",),  # FineWeb keeps English
        min_confidence: float | None = 0.65,  # FineWeb §3.3, datatrove LanguageFilter
        max_chars: int = 2000,  # characters read per document (see quality.langid)
    ) -> None:
        problems: list[str] = []
        check_fraction(problems, min_confidence=min_confidence)
        if allowed is not None and (
            isinstance(allowed, str) or not all(isinstance(a, str) and a for a in allowed)
        ):
            problems.append(f"allowed must be a list of language codes or null, got {allowed!r}")
            allowed = None
        if not isinstance(max_chars, int) or max_chars <= 0:
            problems.append(f"max_chars must be a positive integer, got {max_chars!r}")
        raise_if(problems, self.name)
        self.allowed = frozenset(allowed) if allowed is not None else None
        self.identifier = LanguageIdentifier(max_chars)
        rules = [Rule("low_confidence", "confidence", min_confidence, None)]
        if self.allowed is not None:
            rules.insert(0, Rule("not_allowed", "allowed", 1.0, None))
        self.rules = [r for r in rules if r.low is not None]

    def compute(self, view: TextView) -> dict[str, Any]:
        code, prob = self.identifier.detect(view.text)
        ok = self.allowed is None or code in self.allowed
        return {"language": code, "confidence": prob, "allowed": 1.0 if ok else 0.0}

    def first_failure(self, features: dict[str, Any]) -> Failure | None:
        failure = super().first_failure(features)
        if failure is None:
            return None
        code, prob = features["language"], features["confidence"]
        if failure.reason.endswith("not_allowed"):
            return Failure(failure.reason, f"language={code} not in {sorted(self.allowed)}")
        return Failure(
            failure.reason, f"language={code} confidence={prob:.4g} < min {self.rules[-1].low:.4g}"
        )

    @classmethod
    def columns(cls) -> list[str]:
        return ["language_score"]

    def meta(self, features: dict[str, Any]) -> dict[str, Any]:
        return {"language": features["language"], "language_score": features["confidence"]}
