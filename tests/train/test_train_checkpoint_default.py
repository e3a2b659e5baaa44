"""A run killed under the default checkpoint settings leaves a checkpoint it resumes from."""

from __future__ import annotations

import itertools

from train import recipe
from train.checkpoint import latest_checkpoint
from train.config import CheckpointConfig


def test_checkpoints_are_on_by_default():
    defaults = CheckpointConfig()
    assert defaults.every_steps > 0 and defaults.every_minutes > 0


def test_a_default_config_run_killed_midway_resumes(corpus, tiny_config, tmp_path, monkeypatch):
    assert "checkpoint" not in tiny_config  # the defaults are what is under test
    tiny_config["eval"]["at_start"] = False
    minutes = CheckpointConfig().every_minutes
    clock = itertools.count(0.0, 60.0 * minutes)  # each reading: one checkpoint interval later
    monkeypatch.setattr(recipe, "_now", lambda: next(clock))

    out = tmp_path / "out"
    halted = recipe.run_training(corpus, tiny_config, ["train.halt_after_steps=3"], output=out)
    assert halted["halted"] and halted["steps"] == 3
    assert latest_checkpoint(out / "checkpoints").name == "step-00000003"

    monkeypatch.setattr(recipe, "_now", lambda: 0.0)  # time stands still: resume alone saves none
    report = recipe.run_training(corpus, tiny_config, output=out)
    assert report["resumed_from"] == 3 and report["steps"] == tiny_config["train"]["max_steps"]
    assert report["model"]["attention"] == "sdpa"
    assert "masked SDPA" in report["model"]["attention_reason"]
