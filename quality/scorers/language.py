"""Language identification as a scorer: keep documents in allowed languages, confidently identified.

The rule is FineWeb's (Penedo et al. 2024, §3.3: fastText language classifier, keep English
with score >= 0.65; datatrove `LanguageFilter` uses the same 0.65 default): a document passes
when its most likely language is in `allowed` and that language's probability is at least
`min_confidence`. `allowed: null` accepts every language (the confidence rule alone).

Meta keys: `language` (ISO 639 code, `und` for text without words) and `language_score` (the
probability, a float32 shard column next to a string column `language`). Reason codes:
`language:not_allowed`, `language:low_confidence`. Summary block `languages` per scope
(documents per identified language, before filtering); report section "Language mix";
sampling weight term `language_score` (neutral 1.0 where the scorer is off).
"""

from __future__ import annotations

from typing import Any

from quality.langid import LanguageIdentifier
from quality.scorers.base import (
    Failure,
    ReportSection,
    Rule,
    Scorer,
    SummaryPart,
    check_fraction,
    raise_if,
)
from quality.text import TextView

TOP_LANGUAGES = 5  # languages named per source in the report (the rest are "other")


class LanguageSummary(SummaryPart):
    """Documents per identified language, per scope."""

    key = "languages"

    def empty(self) -> dict[str, int]:
        return {}

    def add(self, state: dict[str, int], meta: dict[str, Any], source: str) -> dict[str, int]:
        language = meta.get("language")
        if language is not None:
            state[language] = state.get(language, 0) + 1
        return state

    def merge(self, into: dict[str, int], other: dict[str, int]) -> dict[str, int]:
        for lang, n in other.items():
            into[lang] = into.get(lang, 0) + n
        return into

    def to_json(self, state: dict[str, int]) -> dict[str, int]:
        # Most frequent first, ties by code: the language mix reads top-down.
        return dict(sorted(state.items(), key=lambda kv: (-kv[1], kv[0])))


class LanguageId(Scorer):
    """Most likely language and its probability (fastText lid.176, see `quality.langid`)."""

    name = "language_v1"
    prefix = "language"
    features = ("language", "confidence", "allowed")
    main_features = ()
    value_range = (0.0, 1.0)

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
        self.min_confidence = min_confidence
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

    def label_columns(self) -> list[str]:
        return ["language"]

    def summary_part(self) -> SummaryPart:
        return LanguageSummary()

    def report_thresholds(self) -> dict[str, float]:
        return {} if self.min_confidence is None else {"language_score": self.min_confidence}

    @classmethod
    def weight_defaults(cls) -> dict[str, float]:
        return {"language_score": 1.0}

    @classmethod
    def report_section(cls, summary: dict[str, Any]) -> ReportSection | None:
        """Per source: documents identified, languages, the top languages with their shares."""
        rows = []
        for source, scope in sorted((summary.get("by_source") or {}).items()):
            mix = scope.get(LanguageSummary.key) or {}
            total = sum(mix.values())
            if not total:
                continue
            top = sorted(mix.items(), key=lambda kv: (-kv[1], kv[0]))
            shares = [f"{code} {n / total:.1%}" for code, n in top[:TOP_LANGUAGES]]
            other = sum(n for _, n in top[TOP_LANGUAGES:]) / total
            shares += [f"other {other:.1%}"] * bool(other)
            rows.append([source, total, len(mix), ", ".join(shares)])
        if not rows:
            return None
        return ReportSection(
            "languages",
            "Language mix per source (before filtering)",
            ["source", "documents", "languages", "top languages"],
            rows,
            short="language mix",
        )
