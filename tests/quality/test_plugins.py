"""User plugin classes (`quality.plugins`) through the scorer registry and the stage, in-process.

The end-to-end runs (an installed package, entry points, both runners) are in
tests/spine/test_plugins.py.
"""

from __future__ import annotations

import pytest

from quality.config import QualityConfig
from quality.plugins import PluginError, load_plugin, plugin_name
from quality.scorers.registry import build_scorer, scorer_class
from quality.stage import QualityStage, quality_columns
from train.typed_config import ConfigError, build

MODULE = "curate_test_plugins_q"
SOURCE = """
from quality.plugins import Filter, Scorer


class LongWords(Filter):
    reason = "long_word"

    def __init__(self, max_len=12):
        self.max_len = max_len

    def filter(self, text):
        return all(len(w) <= self.max_len for w in text.split())


class Digits(Scorer):
    name = "digits_v2"

    def score(self, text):
        return sum(map(str.isdigit, text)) / len(text)


class Boom:
    def filter(self, text):
        raise RuntimeError("boom")


class OnlyStub(Filter):
    pass


class Gopher:
    name = "gopher_quality_v1"

    def filter(self, text):
        return True
"""


@pytest.fixture(autouse=True)
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / f"{MODULE}.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))


def _stage(*scorers: dict) -> QualityStage:
    cfg = build(
        QualityConfig,
        {
            "scorers": list(scorers),
            "toxicity": {"enabled": False},
            "bias": {"enabled": False},
            "pii": {"enabled": False},
        },
    )
    return QualityStage(cfg)


def test_a_bare_false_gets_the_class_reason_and_thresholds_are_keywords():
    stage = _stage({"name": f"{MODULE}:LongWords", "thresholds": {"max_len": 5}})
    kept, rejected = stage.score_batch(["short words only", "an extraordinarily long word"])
    assert kept.reason is None and kept.meta["quality"] == 1.0
    assert rejected.reason == "long_words:long_word"
    assert rejected.verdicts == {"long_words": "long_words:long_word"}


def test_a_scorer_gives_a_column_and_rejects_past_max_score():
    name = f"{MODULE}:Digits"
    stage = _stage({"name": name, "thresholds": {"max_score": 0.5}})
    assert quality_columns(stage.cfg) == ["quality", "digits_v2.score"]
    kept, rejected = stage.score_batch(["abc1", "1234"])
    assert kept.meta["digits_v2.score"] == 0.25 and kept.reason is None
    assert rejected.reason == "digits_v2:max_score"
    assert scorer_class(name).columns() == ["digits_v2.score"]


def test_a_plugin_that_raises_rejects_the_document_as_an_error():
    (result,) = _stage({"name": f"{MODULE}:Boom"}).score_batch(["anything"])
    assert result.reason == "quality:error" and "boom" in result.detail


def test_names_and_stub_methods():
    assert plugin_name(load_plugin(f"{MODULE}:LongWords", "filter")) == "long_words"
    with pytest.raises(PluginError, match="has no `filter"):
        load_plugin(f"{MODULE}:OnlyStub", "filter")
    with pytest.raises(ValueError, match="unknown threshold"):
        build_scorer(f"{MODULE}:LongWords", {"min_len": 3})


def test_every_plugin_problem_is_one_config_error():
    with pytest.raises(ConfigError) as err:
        _stage(
            {"name": f"{MODULE}:OnlyStub"},
            {"name": f"{MODULE}:Gopher"},
            {"name": f"{MODULE}:Digits", "thresholds": {"nope": 1}},
            {"name": "not_a_module_here:X"},
        )
    text = str(err.value)
    assert "4 problem(s)" in text
    assert "class OnlyStub has no" in text
    assert "a built-in scorer's name" in text
    assert "unknown threshold(s) ['nope']" in text
    assert "module 'not_a_module_here' cannot be imported" in text
