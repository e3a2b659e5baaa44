"""The scoring stage's summary: a mergeable accumulator of integer counts, JSON at the end.

Per corpus and per source: documents, kept, rejections by reason, per-scorer pass/fail counts
(`score_only` scorers included: a fail there is "would have been rejected") with the failing
rule, and the block each enabled scorer declares (`Scorer.summary_part`: e.g. a toxicity
histogram, the language mix, PII counts); blocks that are not per scope (the identity-group
report) sit at the top. The corpus also keeps each unit score's histogram split into kept and
rejected documents (`Scorer.outcome_columns`), so the report shows what a threshold cut. All
state is integers, so merging partial summaries in any order and grouping gives identical JSON.
"""

from __future__ import annotations

from typing import Any

from quality.scorers.base import HISTOGRAM_BINS, Scorer, SummaryPart, bin_of
from quality.stage import DocResult, enabled_scorers

COMPOSITE = "quality"  # the composite score of `quality.stage`, drawn kept vs rejected too


def _scope(parts: list[SummaryPart]) -> dict[str, Any]:
    scope = {"docs": 0, "kept": 0, "rejected": {}, "scorers": {}}
    scope.update({p.key: p.empty() for p in parts if p.per_scope})
    return scope


def _outcome_bins() -> dict[str, list[int]]:
    return {"kept": [0] * HISTOGRAM_BINS, "rejected": [0] * HISTOGRAM_BINS}


def _bump(d: dict[str, int], key: str, n: int = 1) -> None:
    d[key] = d.get(key, 0) + n


class ScoringSummary:
    """Accumulates `DocResult`s by source; `merge` partial summaries; `to_json` at the end.

    Args:
        parts: the summary blocks of the enabled scorers (`for_config` collects them).
        outcome_columns: unit scores whose kept/rejected histograms are kept.
        thresholds: {column: cut-off} the scorers declare (`score_thresholds` in the JSON).
    """

    def __init__(
        self,
        parts: list[SummaryPart] = (),
        outcome_columns: list[str] = (COMPOSITE,),
        thresholds: dict[str, float] | None = None,
    ) -> None:
        self.parts = list(parts)
        self.outcome_columns = list(outcome_columns)
        self.thresholds = dict(thresholds or {})  # column -> cut-off, for the report's charts
        self.corpus = _scope(self.parts)
        self.sources: dict[str, dict[str, Any]] = {}
        self.run = {p.key: p.empty() for p in self.parts if not p.per_scope}
        self.outcomes: dict[str, dict[str, list[int]]] = {}  # score -> kept/rejected bins

    @classmethod
    def for_config(cls, cfg) -> ScoringSummary:
        """An empty summary with the blocks of the scorers a `QualityConfig` enables."""
        return cls.for_scorers(enabled_scorers(cfg))

    @classmethod
    def for_scorers(cls, scorers: list[Scorer]) -> ScoringSummary:
        """An empty summary with the blocks these scorers declare."""
        parts = [p for p in (s.summary_part() for s in scorers) if p is not None]
        outcomes, thresholds = [COMPOSITE], {}
        for scorer in scorers:
            outcomes += [c for c in scorer.outcome_columns() if c not in outcomes]
            thresholds.update(scorer.report_thresholds())
        return cls(parts, outcomes, thresholds)

    def add(self, source: str, result: DocResult) -> None:
        """Counts one document's outcome under the corpus and its source."""
        for scope in (self.corpus, self.sources.setdefault(source, _scope(self.parts))):
            self._add(scope, result, source)
        outcome = "kept" if result.reason is None else "rejected"
        for name in self.outcome_columns:
            value = result.meta.get(name)
            if isinstance(value, (int, float)) and value == value:
                bins = self.outcomes.setdefault(name, _outcome_bins())
                bins[outcome][bin_of(value)] += 1
        for part in self.parts:
            if not part.per_scope:
                self.run[part.key] = part.add(self.run[part.key], result.meta, source)

    def _add(self, scope: dict[str, Any], result: DocResult, source: str) -> None:
        scope["docs"] += 1
        if result.reason is None:
            scope["kept"] += 1
        else:
            _bump(scope["rejected"], result.reason)
        for name, failed in result.verdicts.items():
            row = scope["scorers"].setdefault(name, {"pass": 0, "fail": 0, "fail_by_rule": {}})
            if failed:
                row["fail"] += 1
                _bump(row["fail_by_rule"], failed)
            else:
                row["pass"] += 1
        for part in self.parts:
            if part.per_scope:
                scope[part.key] = part.add(scope[part.key], result.meta, source)

    def _merge_scope(self, into: dict[str, Any], other: dict[str, Any]) -> None:
        into["docs"] += other["docs"]
        into["kept"] += other["kept"]
        for reason, n in other["rejected"].items():
            _bump(into["rejected"], reason, n)
        for name, row in other["scorers"].items():
            mine = into["scorers"].setdefault(name, {"pass": 0, "fail": 0, "fail_by_rule": {}})
            mine["pass"] += row["pass"]
            mine["fail"] += row["fail"]
            for reason, n in row["fail_by_rule"].items():
                _bump(mine["fail_by_rule"], reason, n)
        for part in self.parts:
            if part.per_scope:
                into[part.key] = part.merge(into[part.key], other[part.key])

    def merge(self, other: ScoringSummary) -> ScoringSummary:
        """Adds `other` (a summary of the same config) into this summary (returns self)."""
        self._merge_scope(self.corpus, other.corpus)
        for source, scope in other.sources.items():
            self._merge_scope(self.sources.setdefault(source, _scope(self.parts)), scope)
        for part in self.parts:
            if not part.per_scope:
                self.run[part.key] = part.merge(self.run[part.key], other.run[part.key])
        for name, bins in other.outcomes.items():
            mine = self.outcomes.setdefault(name, _outcome_bins())
            for outcome in ("kept", "rejected"):
                mine[outcome] = [a + b for a, b in zip(mine[outcome], bins[outcome], strict=True)]
        return self

    def to_state(self) -> dict[str, Any]:
        """Plain data (ints, strs, lists, dicts) for Beam's coders; `merge_state` reads it."""
        return {
            "corpus": self.corpus,
            "sources": self.sources,
            "run": {p.key: p.dump(self.run[p.key]) for p in self.parts if not p.per_scope},
            "outcomes": self.outcomes,
        }

    def merge_state(self, state: dict[str, Any]) -> ScoringSummary:
        """Adds a `to_state` of a summary of the same config into this one (returns self)."""
        other = ScoringSummary(self.parts, self.outcome_columns, self.thresholds)
        other.corpus, other.sources = state["corpus"], state["sources"]
        other.run = {p.key: p.restore(state["run"][p.key]) for p in self.parts if not p.per_scope}
        other.outcomes = state.get("outcomes") or {}
        return self.merge(other)

    def _scope_json(self, scope: dict[str, Any]) -> dict[str, Any]:
        out = {
            "docs": scope["docs"],
            "kept": scope["kept"],
            "rejected": dict(sorted(scope["rejected"].items())),
            "scorers": {
                name: {
                    "pass": row["pass"],
                    "fail": row["fail"],
                    "fail_by_rule": dict(sorted(row["fail_by_rule"].items())),
                }
                for name, row in sorted(scope["scorers"].items())
            },
        }
        out.update({p.key: p.to_json(scope[p.key]) for p in self.parts if p.per_scope})
        return out

    def to_json(self) -> dict[str, Any]:
        """The summary document (JSON-able, keys sorted where they come from data)."""
        edges = [round(i / HISTOGRAM_BINS, 6) for i in range(HISTOGRAM_BINS + 1)]
        out: dict[str, Any] = {}
        for part in self.parts:
            out.update(part.extras())
        out.update(
            {
                # the bins of every histogram below (its name predates the other histograms)
                "toxicity_histogram_edges": edges,
                **self._scope_json(self.corpus),
                **{p.key: p.to_json(self.run[p.key]) for p in self.parts if not p.per_scope},
                # scores of every scored document by its outcome, in the bins above
                "score_outcomes": {n: dict(self.outcomes[n]) for n in sorted(self.outcomes)},
                "score_thresholds": dict(sorted(self.thresholds.items())),
                "by_source": {s: self._scope_json(self.sources[s]) for s in sorted(self.sources)},
            }
        )
        return out
