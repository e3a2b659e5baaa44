"""A new scorer is its own module plus one registration: it flows into the shard columns, the
summary, the report and the sampling weights without any other file naming it."""

from __future__ import annotations

import sys
import textwrap

import pyarrow as pa
import pytest

from quality.config import QualityConfig, ScorerConfig
from quality.scorers import registry
from quality.stage import QualityStage, label_columns, quality_columns
from quality.summary import ScoringSummary
from transforms.sampling.config import SamplingConfig
from transforms.stages.shards import shard_schema

# A scorer written like language_v1: a unit score column, a label column, a threshold, its own
# summary block, report section and sampling weight term.
VOWELS = textwrap.dedent(
    """
    from typing import Any

    from quality.scorers.base import ReportSection, Rule, Scorer, SummaryPart, raise_if


    class VowelSummary(SummaryPart):
        key = "vowel_classes"

        def empty(self):
            return {}

        def add(self, state, meta, source):
            label = meta.get("vowel_class")
            if label is not None:
                state[label] = state.get(label, 0) + 1
            return state

        def merge(self, into, other):
            for k, n in other.items():
                into[k] = into.get(k, 0) + n
            return into

        def to_json(self, state):
            return dict(sorted(state.items()))


    class Vowels(Scorer):
        name = "vowels_v1"
        prefix = "vowels"
        features = ("frac",)
        main_features = ()
        value_range = (0.0, 1.0)

        def __init__(self, *, min_frac: float | None = 0.2) -> None:
            problems = []
            if min_frac is not None and not 0 <= min_frac <= 1:
                problems.append(f"min_frac must be in [0, 1], got {min_frac!r}")
            raise_if(problems, self.name)
            self.min_frac = min_frac
            self.rules = [Rule("few_vowels", "frac", min_frac)] if min_frac is not None else []

        def compute(self, view):
            letters = [c for c in view.text.lower() if c.isalpha()]
            return {"frac": sum(c in "aeiou" for c in letters) / len(letters) if letters else 0.0}

        @classmethod
        def columns(cls):
            return ["vowel_frac"]

        def label_columns(self):
            return ["vowel_class"]

        def meta(self, features):
            frac = features["frac"]
            return {"vowel_frac": frac, "vowel_class": "high" if frac >= 0.4 else "low"}

        def summary_part(self):
            return VowelSummary()

        def report_thresholds(self):
            return {"vowel_frac": self.min_frac}

        @classmethod
        def weight_defaults(cls):
            return {"vowel_frac": 1.0}

        @classmethod
        def report_section(cls, summary: dict[str, Any]):
            block = summary.get("vowel_classes")
            if not block:
                return None
            rows = [[label, n] for label, n in block.items()]
            return ReportSection("vowels", "Vowel classes", ["class", "documents"], rows)
    """
)
TEXTS = ["A quiet morning over the old harbour.", "Brrr, rhythm: nth crypt."]


@pytest.fixture
def vowels_module(tmp_path, monkeypatch):
    (tmp_path / "my_vowels.py").write_text(VOWELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_vowels"
    sys.modules.pop("my_vowels", None)


@pytest.fixture
def registered(vowels_module, monkeypatch):
    """The one registration line, undone after the test."""
    monkeypatch.setattr(registry, "SCORERS", dict(registry.SCORERS))
    import my_vowels

    registry.register(my_vowels.Vowels)
    return "vowels_v1"


def _flows_everywhere(name: str, *, weights: bool) -> None:
    cfg = QualityConfig(
        scorers=[ScorerConfig("gopher_quality_v1", action="score_only"), ScorerConfig(name)],
        toxicity=QualityConfig().toxicity.__class__(enabled=False),
    )
    assert cfg.problems() == []
    # shard (and spill run) schema: a float32 score column and a string label column
    floats, labels = quality_columns(cfg), label_columns(cfg)
    assert "vowel_frac" in floats and labels == ["vowel_class"]
    schema = shard_schema(floats, False, labels)
    assert schema.field("vowel_frac").type == pa.float32()
    assert schema.field("vowel_class").type == pa.string()
    # the stage: meta and the decision
    stage = QualityStage(cfg)
    results = stage.score_batch(TEXTS)
    assert set(floats) <= set(results[0].meta) and results[0].meta["vowel_class"] == "high"
    assert results[1].reason == "vowels:few_vowels"
    # the summary: its block per scope, its kept/rejected histogram, its threshold
    summary = ScoringSummary.for_config(cfg)
    for result in results:
        summary.add("web", result)
    out = summary.to_json()
    assert out["vowel_classes"] == {"high": 1, "low": 1}
    assert out["by_source"]["web"]["vowel_classes"] == {"high": 1, "low": 1}
    assert sum(out["score_outcomes"]["vowel_frac"]["rejected"]) == 1
    assert out["score_thresholds"]["vowel_frac"] == 0.2
    # the report: its section, found from the summary and the run's scorer names
    sections = registry.report_sections(out, [name])
    assert [s.title for s in sections] == ["Vowel classes"]
    # sampling: a weight may name its term without score_defaults
    sampling = SamplingConfig(mode="top_k", k=1, weight="quality * vowel_frac")
    assert (sampling.validate() == []) is weights


def test_registered_scorer_flows_into_columns_summary_report_and_weights(registered):
    _flows_everywhere(registered, weights=True)
    assert "vowel_frac" in registry.unit_score_columns()


def test_plugin_scorer_class_is_used_as_it_is(vowels_module):
    """Named `module:Class`, a `Scorer` subclass needs no adapter; sampling weights only see
    registered scorers (the sampling section does not read the scorer list)."""
    _flows_everywhere(f"{vowels_module}:Vowels", weights=False)


def test_bad_threshold_joins_the_other_problems(registered):
    cfg = QualityConfig(
        scorers=[ScorerConfig(registered, thresholds={"min_frac": 2.0})], batch_size=0
    )
    problems = cfg.problems()
    assert any("min_frac must be in [0, 1]" in p for p in problems)
    assert any("batch_size" in p for p in problems)
