"""The scorer contract: named features, declarative rules, a keep/reject decision.

A scorer computes named float features of a document (`score`) and checks them against rules
(`filter`). A rule bounds one feature from below and/or above; a bound of `None` disables it,
so every threshold is a keyword argument of the scorer and can be overridden from the config.
A document passes a rule when `low <= value <= high` (bounds inclusive, as in the reference
implementations, which reject on strict inequality).

The same rules give each scorer a smooth *soft pass* in [0, 1], used by the composite quality
score (`meta["quality"]`, computed by `quality.stage.QualityStage`): 1 inside the bounds,
falling linearly with the relative distance outside them, to 0 at twice the bound (or at zero,
for a lower bound).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from quality.files import ReadBytes, read_local
from quality.text import TextView


@dataclass(frozen=True)
class Rule:
    """A bound on one feature; `code` is the suffix of the reason code (`scorer:code`)."""

    code: str
    feature: str
    low: float | None = None
    high: float | None = None

    def passes(self, value: float) -> bool:
        if self.low is not None and value < self.low:
            return False
        return not (self.high is not None and value > self.high)

    def soft(self, value: float) -> float:
        """1 when the rule passes, else 1 minus the relative violation, floored at 0."""
        if self.low is not None and value < self.low:
            return max(0.0, value / self.low) if self.low > 0 else 0.0
        if self.high is not None and value > self.high:
            if self.high <= 0:
                return 0.0
            return max(0.0, 1.0 - (value - self.high) / self.high)
        return 1.0

    def describe(self, value: float) -> str:
        """A human-readable detail: the value and the limit it broke."""
        if self.low is not None and value < self.low:
            return f"{self.feature}={value:.6g} < min {self.low:.6g}"
        return f"{self.feature}={value:.6g} > max {self.high:.6g}"


@dataclass(frozen=True)
class Failure:
    """The first rule a document broke: reason code (`scorer:code`) and detail."""

    reason: str
    detail: str


class Scorer(ABC):
    """A versioned heuristic: `score(text) -> features`, `filter(text | features) -> (keep, reason)`.

    Subclasses set `name` (versioned, the registry key), `prefix` (reason-code prefix),
    `features` (every key `compute` returns, in a fixed order) and `main_features` (the subset
    that becomes float32 columns of the shards), validate thresholds in `__init__` (raise
    ValueError, listing every bad one) and build `self.rules`.
    """

    name: ClassVar[str]
    prefix: ClassVar[str]
    features: ClassVar[tuple[str, ...]]
    main_features: ClassVar[tuple[str, ...]]

    rules: list[Rule]

    def load(self, read_bytes: ReadBytes = read_local) -> None:  # noqa: B027 - an optional hook
        """Reads the files the scorer needs (a model) with `read_bytes`; default: none.

        `QualityStage.load()` calls it once per instance, with the reader its caller gave
        (Beam steps: `transforms.infra.fs.read_bytes`, which reads URLs).
        """

    @abstractmethod
    def compute(self, view: TextView) -> dict[str, float]:
        """Every feature of `features`, as floats, from a shared `TextView`."""

    def compute_batch(self, views: list[TextView]) -> list[dict[str, float]]:
        """`compute` for many documents; scorers that vectorise across documents override it."""
        return [self.compute(view) for view in views]

    def score(self, text: str | TextView) -> dict[str, float]:
        return self.compute(text if isinstance(text, TextView) else TextView(text))

    def first_failure(self, features: dict[str, float]) -> Failure | None:
        """The first broken rule (rules are checked in declaration order), or None."""
        for rule in self.rules:
            value = features[rule.feature]
            if not rule.passes(value):
                return Failure(f"{self.prefix}:{rule.code}", rule.describe(value))
        return None

    def filter(self, doc: str | TextView | dict[str, float]) -> tuple[bool, str]:
        """(True, "") to keep, else (False, reason code such as `gopher_quality:word_count`)."""
        features = doc if isinstance(doc, dict) else self.score(doc)
        failure = self.first_failure(features)
        return (True, "") if failure is None else (False, failure.reason)

    def soft_pass(self, features: dict[str, float]) -> float:
        """Mean soft pass of the active rules (1.0 when the scorer has none)."""
        if not self.rules:
            return 1.0
        return sum(r.soft(features[r.feature]) for r in self.rules) / len(self.rules)

    @classmethod
    def column(cls, feature: str) -> str:
        """The meta key of one feature: `<versioned name>.<feature>`."""
        return f"{cls.name}.{feature}"

    @classmethod
    def columns(cls) -> list[str]:
        """The meta keys that become float32 shard columns (the main features by default)."""
        return [cls.column(f) for f in cls.main_features]

    def meta(self, features: dict[str, Any]) -> dict[str, Any]:
        """What a document's meta records of its features; scorers with plain keys override it."""
        return {self.column(key): value for key, value in features.items()}


def check_fraction(problems: list[str], **values: Any) -> None:
    """Appends a problem for every value that is set and outside [0, 1]."""
    for key, value in values.items():
        if value is not None and not 0.0 <= value <= 1.0:
            problems.append(f"{key} must be in [0, 1], got {value!r}")


def check_non_negative(problems: list[str], **values: Any) -> None:
    """Appends a problem for every value that is set and negative."""
    for key, value in values.items():
        if value is not None and value < 0:
            problems.append(f"{key} must be >= 0, got {value!r}")


def raise_if(problems: list[str], name: str) -> None:
    if problems:
        raise ValueError(f"{name}: " + "; ".join(problems))


def safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0
