"""SamplingConfig: defaults keep everything; every problem is reported through the typed loader."""

import pytest

from train.typed_config import ConfigError, build
from transforms.sampling.config import SamplingConfig


def test_default_keeps_everything():
    cfg = build(SamplingConfig, {})
    assert cfg.mode == "all" and cfg.validate() == []


def test_a_full_budget_config_loads():
    cfg = build(
        SamplingConfig,
        {
            "mode": "budget",
            "token_budget": 1_000_000,
            "weight": "quality ** 2 * bias_weight * (1 - toxicity) * novelty",
            "score_defaults": {"novelty": 1.0},
            "mixture": {"code": 0.5, "docs": 0.3, "man": 0.2},
            "redistribute": True,
            "eval_fraction": 0.05,
            "drift": {"enabled": True, "buckets": 4096},
        },
    )
    assert cfg.defaults()["novelty"] == 1.0 and cfg.defaults()["toxicity"] == 0.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mode": "sometimes"}, "must be one of"),
        ({"mode": "budget"}, "mode budget needs token_budget"),
        ({"mode": "top_k", "k": 5, "token_budget": 10}, "exactly one of k or token_budget"),
        ({"mode": "all", "token_budget": 10}, "mode all keeps everything"),
        ({"mode": "budget", "token_budget": -1}, "token_budget must be > 0"),
        ({"mode": "budget", "token_budget": 10, "mixture": {"a": 0.5, "b": 0.4}}, "must sum to 1"),
        ({"mode": "top_k", "k": 3, "mixture": {"a": 1.0}}, "mixture needs token_budget"),
        ({"eval_fraction": 1.0}, "eval_fraction"),
        ({"weight": "__import__('os')"}, "weight:"),
        ({"weight": "quality * novelty"}, "without a default"),
        ({"weight": "exp(dsir)"}, "dsir.enabled is false"),
        ({"dsir": {"enabled": True}}, "needs target_paths"),
        ({"dsir": {"enabled": True, "target_paths": ["/nonexistent/*.jsonl"]}}, "no file matches"),
        ({"dsir": {"buckets": 3}}, "buckets"),
        ({"dsir": {"ngram_orders": [1, 4]}}, "ngram_orders"),
        ({"drift": {"previous_stats": "/nonexistent/stats.json"}}, "does not exist"),
        ({"lookahead": -0.5}, "lookahead"),
    ],
)
def test_bad_values_are_reported(data, message):
    with pytest.raises(ConfigError, match=message):
        build(SamplingConfig, data)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as exc:
        build(SamplingConfig, {"mode": "budget", "eval_fraction": 2.0, "lookahead": 99.0})
    assert len(exc.value.problems) == 3


def test_remote_target_and_previous_stats_are_looked_up(tmp_path, monkeypatch):
    """URLs are checked through Beam's FileSystems (the driver reads them), not skipped."""
    from tests.spine.fake_remote import ROOT_ENV, SCHEME

    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "target.jsonl").write_text('{"text": "a target document"}\n')
    (tmp_path / "b" / "stats.json").write_text("{}")
    ok = {"dsir": {"enabled": True, "target_paths": [f"{SCHEME}://b/target*.jsonl"]},
          "drift": {"enabled": True, "previous_stats": f"{SCHEME}://b/stats.json"}}  # fmt: skip
    build(SamplingConfig, ok)
    bad = {"dsir": {"enabled": True, "target_paths": [f"{SCHEME}://b/nope*.jsonl"]},
           "drift": {"enabled": True, "previous_stats": f"{SCHEME}://b/old.json"}}  # fmt: skip
    with pytest.raises(ConfigError) as err:
        build(SamplingConfig, bad)
    assert "nope*.jsonl" in str(err.value) and "old.json" in str(err.value)
