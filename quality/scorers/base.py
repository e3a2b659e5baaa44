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

A scorer also declares everything the rest of curate needs to know about it, so the stage, the
shard and spill schemas, the summary, the report and the sampling weights loop over the enabled
scorers and never name one (see docs/architecture.md, "Scorers"):

- its output columns and their Arrow types (`output_columns`: float32 scores, string labels),
  and the range of its float columns (`value_range`; (0, 1) makes them unit scores, bounded by
  the validation suite and drawn kept-vs-rejected by the report: `outcome_columns`);
- its thresholds and their validation (`__init__` keyword arguments; every problem in one
  ValueError, which `quality.config` adds to the run's one ConfigError);
- its summary (`summary_part`: a mergeable block of integer counts in stats.json);
- its report section (`report_section`, from its summary block) and the cut-off drawn on its
  score chart (`report_thresholds`);
- whether it weighs sampling (`weight_defaults`: names the `sampling.weight` expression may use,
  with the neutral value of a document the scorer did not score).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
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


HISTOGRAM_BINS = 20  # fixed bins over [0, 1] of every histogram in the scoring summary


def bin_of(value: float) -> int:
    """The histogram bin of a unit score (values outside [0, 1] go to the end bins)."""
    return max(0, min(int(value * HISTOGRAM_BINS), HISTOGRAM_BINS - 1))


class SummaryPart:
    """A scorer's block of the scoring summary: mergeable plain data, JSON at the end.

    `per_scope` parts keep one state per scope (the corpus and each source) and appear under
    `key` in each; others keep one state for the run (which may count by source itself) and
    appear under `key` at the top. States are plain data (ints, strs, lists, dicts: Beam's
    coders) and `merge` must be exact in any order and grouping (integer counts).
    """

    key: str = ""
    per_scope: bool = True

    def empty(self) -> Any:
        raise NotImplementedError

    def add(self, state: Any, meta: dict[str, Any], source: str) -> Any:
        """Counts one scored document (its meta) into `state`; returns the state."""
        raise NotImplementedError

    def merge(self, into: Any, other: Any) -> Any:
        raise NotImplementedError

    def to_json(self, state: Any) -> Any:
        raise NotImplementedError

    def dump(self, state: Any) -> Any:
        """The state as plain data (default: it is plain data already); `restore` inverts it."""
        return state

    def restore(self, data: Any) -> Any:
        return data

    def extras(self) -> dict[str, Any]:
        """Top-level keys of the summary this part adds (e.g. its threshold)."""
        return {}


@dataclass
class ReportSection:
    """What the report renders for one scorer: a table, an optional chart and details.

    `columns` head the table, `rows` are lists of cells (strings, or numbers the report
    formats); `chart` is drawn by the report as curves, one per series:
    {"name", "series": {label: {x: y}}, "title", "xlabel", "ylabel"}; `details` are shown as
    JSON under their heading.
    """

    anchor: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""
    short: str = ""  # its name in the report's headings (default: the anchor)
    chart: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Scorer(ABC):
    """A versioned heuristic: `score(text) -> features`, `filter(text | features) -> (keep, reason)`.

    Subclasses set `name` (versioned, the registry key), `prefix` (reason-code prefix),
    `features` (every key `compute` returns, in a fixed order) and `main_features` (the subset
    that becomes float32 columns of the shards), validate thresholds in `__init__` (raise
    ValueError, listing every bad one) and build `self.rules`. The declarations below have
    defaults that suit a rule-based heuristic (float features, no summary of its own beyond the
    pass/fail counts every scorer gets, no report section, no sampling weight).
    """

    name: ClassVar[str]
    prefix: ClassVar[str]
    features: ClassVar[tuple[str, ...]]
    main_features: ClassVar[tuple[str, ...]]
    # Range of every float column; (0.0, 1.0) declares unit scores. None: unbounded features.
    value_range: ClassVar[tuple[float, float] | None] = None
    # Whether its pass/fail counts and rule verdicts appear in the summary's `scorers` block
    # and it takes part in the composite quality (config-listed heuristics do).
    has_verdicts: ClassVar[bool] = True

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

    def compute_with_meta(
        self, views: list[TextView], metas: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """`compute_batch` for a scorer that reads what earlier scorers wrote to the meta."""
        return self.compute_batch(views)

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

    # Declarations: what the stage, the schemas, the summary, the report and sampling read ---

    def prepare(self, text: str) -> tuple[str, dict[str, Any]]:
        """A step before every scorer sees the text (PII redaction): (text, meta); default: none."""
        return text, {}

    def label_columns(self) -> list[str]:
        """Meta keys that become string shard columns (e.g. the identified language)."""
        return []

    def output_columns(self) -> dict[str, str]:
        """Every shard column of this scorer and its Arrow type (`float32` or `string`)."""
        out = dict.fromkeys(self.columns(), "float32")
        out.update(dict.fromkeys(self.label_columns(), "string"))
        return out

    @classmethod
    def unit_columns(cls) -> list[str]:
        """Float columns bounded to [0, 1] (validated, drawn as scores rather than features)."""
        return list(cls.columns()) if cls.value_range == (0.0, 1.0) else []

    @classmethod
    def outcome_columns(cls) -> list[str]:
        """Unit scores whose kept-vs-rejected histogram the summary keeps (default: all)."""
        return cls.unit_columns()

    def summary_part(self) -> SummaryPart | None:
        """This scorer's block of the scoring summary; None: pass/fail counts only."""
        return None

    def report_thresholds(self) -> dict[str, float]:
        """{column: cut-off} drawn on the report's chart of that column."""
        return {}

    @classmethod
    def report_section(cls, summary: dict[str, Any]) -> ReportSection | None:
        """The report's section of this scorer, from the run's `quality_summary`; None: none."""
        return None

    @classmethod
    def config_files(cls, thresholds: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(threshold key, path, kind: `model` or `lexicon`) of files these thresholds name,
        checked by `pipelines.config` when they are URLs (this package cannot read those)."""
        return []

    @classmethod
    def report_facts(cls, scorers: list[Scorer], read_bytes: ReadBytes) -> dict[str, Any]:
        """Extra top-level summary keys about the run's instances (e.g. model metrics)."""
        return {}

    @classmethod
    def weight_defaults(cls) -> dict[str, float]:
        """{name: neutral value} the `sampling.weight` expression may use; {}: does not weigh."""
        return {}


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
