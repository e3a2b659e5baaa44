"""The scoring stage's summary: a mergeable accumulator of integer counts, JSON at the end.

Per corpus and per source: documents, kept, rejections by reason, per-scorer pass/fail counts
(`score_only` scorers included: a fail there is "would have been rejected") with the failing
rule, a toxicity histogram, the language mix (documents per identified language, before
filtering), the trained classifier's score histogram, PII counts per type, and the
identity-group report of
`quality.bias.BiasAccumulator`, and (corpus only) each unit score's histogram split into kept
and rejected documents, so the report shows what a threshold cut. All state is integers (the toxicity sum in millionths), so
merging partial summaries in any order and grouping gives identical JSON.
"""

from __future__ import annotations

from typing import Any

from quality.bias import BiasAccumulator
from quality.stage import DocResult

HISTOGRAM_BINS = 20
_MICRO = 1_000_000
# Scores in [0, 1] whose kept-vs-rejected histograms the summary keeps (fixed bins: bounded).
OUTCOME_SCORES = ("quality", "toxicity", "language_score", "classifier")


def _scope() -> dict[str, Any]:
    return {
        "docs": 0,
        "kept": 0,
        "rejected": {},
        "scorers": {},
        "toxicity": {
            "scored": 0,
            "above_threshold": 0,
            "sum_micro": 0,
            "histogram": [0] * HISTOGRAM_BINS,
        },
        "pii": {"docs_with_pii": 0, "counts": {}},
        "languages": {},
        "classifier": {"scored": 0, "histogram": [0] * HISTOGRAM_BINS},
    }


def _outcome_bins() -> dict[str, list[int]]:
    return {"kept": [0] * HISTOGRAM_BINS, "rejected": [0] * HISTOGRAM_BINS}


def _bin(value: float) -> int:
    return max(0, min(int(value * HISTOGRAM_BINS), HISTOGRAM_BINS - 1))


def _bump(d: dict[str, int], key: str, n: int = 1) -> None:
    d[key] = d.get(key, 0) + n


def _merge_scope(into: dict[str, Any], other: dict[str, Any]) -> None:
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
    tox, otox = into["toxicity"], other["toxicity"]
    for key in ("scored", "above_threshold", "sum_micro"):
        tox[key] += otox[key]
    tox["histogram"] = [a + b for a, b in zip(tox["histogram"], otox["histogram"], strict=True)]
    into["pii"]["docs_with_pii"] += other["pii"]["docs_with_pii"]
    for kind, n in other["pii"]["counts"].items():
        _bump(into["pii"]["counts"], kind, n)
    for lang, n in other["languages"].items():
        _bump(into["languages"], lang, n)
    cls, ocls = into["classifier"], other["classifier"]
    cls["scored"] += ocls["scored"]
    cls["histogram"] = [a + b for a, b in zip(cls["histogram"], ocls["histogram"], strict=True)]


def _scope_json(scope: dict[str, Any]) -> dict[str, Any]:
    tox = scope["toxicity"]
    scored = tox["scored"]
    return {
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
        "toxicity": {
            "scored": scored,
            "mean": round(tox["sum_micro"] / _MICRO / scored, 6) if scored else None,
            "above_threshold": tox["above_threshold"],
            "rate_above_threshold": round(tox["above_threshold"] / scored, 6) if scored else None,
            "histogram": list(tox["histogram"]),
        },
        "pii": {
            "docs_with_pii": scope["pii"]["docs_with_pii"],
            "counts": dict(sorted(scope["pii"]["counts"].items())),
        },
        # Most frequent first, ties by code: the language mix reads top-down.
        "languages": dict(sorted(scope["languages"].items(), key=lambda kv: (-kv[1], kv[0]))),
        "classifier": {
            "scored": scope["classifier"]["scored"],
            "histogram": list(scope["classifier"]["histogram"]),
        },
    }


class ScoringSummary:
    """Accumulates `DocResult`s by source; `merge` partial summaries; `to_json` at the end."""

    def __init__(self, toxicity_threshold: float = 0.8, bias_threshold: float = 0.8) -> None:
        self.toxicity_threshold = toxicity_threshold
        self.corpus = _scope()
        self.sources: dict[str, dict[str, Any]] = {}
        self.bias = BiasAccumulator(bias_threshold)
        self.outcomes: dict[str, dict[str, list[int]]] = {}  # score -> kept/rejected bins

    @classmethod
    def for_config(cls, cfg) -> ScoringSummary:
        """An empty summary with the thresholds of a `QualityConfig`."""
        return cls(cfg.toxicity.threshold, cfg.bias.toxicity_threshold)

    def add(self, source: str, result: DocResult) -> None:
        """Counts one document's outcome under the corpus and its source."""
        for scope in (self.corpus, self.sources.setdefault(source, _scope())):
            self._add(scope, result)
        outcome = "kept" if result.reason is None else "rejected"
        for name in OUTCOME_SCORES:
            value = result.meta.get(name)
            if isinstance(value, (int, float)) and value == value:
                bins = self.outcomes.setdefault(name, _outcome_bins())
                bins[outcome][_bin(value)] += 1
        groups = result.meta.get("identity_groups")
        if groups is not None:
            self.bias.add(groups, result.meta.get("toxicity"), source)

    def _add(self, scope: dict[str, Any], result: DocResult) -> None:
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
        toxicity = result.meta.get("toxicity")
        if toxicity is not None:
            tox = scope["toxicity"]
            tox["scored"] += 1
            tox["above_threshold"] += toxicity >= self.toxicity_threshold
            tox["sum_micro"] += round(toxicity * _MICRO)
            tox["histogram"][_bin(toxicity)] += 1
        language = result.meta.get("language")
        if language is not None:
            _bump(scope["languages"], language)
        score = result.meta.get("classifier")
        if score is not None:
            scope["classifier"]["scored"] += 1
            scope["classifier"]["histogram"][_bin(score)] += 1
        pii = result.meta.get("pii")
        if pii:
            scope["pii"]["docs_with_pii"] += any(pii.values())
            for kind, n in pii.items():
                _bump(scope["pii"]["counts"], kind, n)

    def merge(self, other: ScoringSummary) -> ScoringSummary:
        """Adds `other` into this summary (returns self)."""
        _merge_scope(self.corpus, other.corpus)
        for source, scope in other.sources.items():
            _merge_scope(self.sources.setdefault(source, _scope()), scope)
        self.bias.merge(other.bias)
        for name, bins in other.outcomes.items():
            mine = self.outcomes.setdefault(name, _outcome_bins())
            for outcome in ("kept", "rejected"):
                mine[outcome] = [a + b for a, b in zip(mine[outcome], bins[outcome], strict=True)]
        return self

    def to_state(self) -> dict[str, Any]:
        """Plain data (ints, strs, lists, dicts) for Beam's coders; `from_state` inverts it."""
        return {
            "thresholds": [self.toxicity_threshold, self.bias.toxicity_threshold],
            "corpus": self.corpus,
            "sources": self.sources,
            "bias": self.bias.to_state(),
            "outcomes": self.outcomes,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ScoringSummary:
        out = cls(*state["thresholds"])
        out.corpus = state["corpus"]
        out.sources = state["sources"]
        out.bias = BiasAccumulator.from_state(state["bias"])
        out.outcomes = state.get("outcomes") or {}
        return out

    def to_json(self) -> dict[str, Any]:
        """The summary document (JSON-able, keys sorted where they come from data)."""
        edges = [round(i / HISTOGRAM_BINS, 6) for i in range(HISTOGRAM_BINS + 1)]
        return {
            "toxicity_threshold": self.toxicity_threshold,
            "toxicity_histogram_edges": edges,
            **_scope_json(self.corpus),
            "bias": self.bias.to_json(),
            # bins of toxicity_histogram_edges; scores of every scored document by its outcome
            "score_outcomes": {n: dict(self.outcomes[n]) for n in sorted(self.outcomes)},
            "by_source": {s: _scope_json(self.sources[s]) for s in sorted(self.sources)},
        }
