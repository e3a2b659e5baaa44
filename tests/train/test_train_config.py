"""The training config: one error listing every problem, overrides, and the run identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from train.config import load_train_config, run_identity
from train.typed_config import ConfigError


def test_every_problem_is_reported_at_once(tiny_config):
    tiny_config["adapter"]["r"] = 0  # range check
    tiny_config["data"]["max_seq_len"] = "long"  # type error
    tiny_config["train"]["learning_rate"] = 1e-3  # unknown key
    tiny_config["adapter"]["type"] = "prefix_tuning"  # cross-field: needs packing off
    tiny_config["model"]["path"] = "/nonexistent/model"  # both path and from_config
    with pytest.raises(ConfigError) as err:
        load_train_config(tiny_config)
    problems = "\n".join(err.value.problems)
    assert "adapter: r must be > 0" in problems
    assert "data.max_seq_len: expected an integer" in problems
    assert "train.learning_rate: unknown key" in problems
    assert "model: give exactly one of model.path" in problems
    assert len(err.value.problems) >= 4


def test_cross_field_problems_are_reported_when_types_are_fine(tiny_config):
    tiny_config["adapter"]["type"] = "prompt_tuning"
    tiny_config["output"] = {"merge": True}
    with pytest.raises(ConfigError) as err:
        load_train_config(tiny_config)
    assert any("needs data.packing: false" in p for p in err.value.problems)
    assert any("output.merge is only possible" in p for p in err.value.problems)


def test_overrides_are_parsed_as_yaml(tiny_config):
    cfg = load_train_config(
        tiny_config,
        [
            "train.max_steps=7",
            "adapter.target_modules=[q_proj, v_proj]",
            "model.gradient_checkpointing=true",
        ],
    )
    assert cfg.train.max_steps == 7
    assert cfg.adapter.target_modules == ["q_proj", "v_proj"]
    assert cfg.model.gradient_checkpointing is True
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        load_train_config(tiny_config, ["train.max_steps"])


def test_yaml_configs_in_the_repo_load(tiny_config):
    paths = sorted((Path(__file__).resolve().parents[2] / "configs" / "train").glob("*.yaml"))
    assert len(paths) >= 2, "configs/train/lora_demo.yaml and lora_local_model.yaml expected"
    for path in paths:
        text = path.read_text()
        assert text.startswith("#") and "--config configs/train/" in text.split("\n\n")[0], (
            f"{path} must open with purpose + command"
        )
        try:
            load_train_config(path)
        except (
            ConfigError
        ) as exc:  # a local model path may not exist on this machine: nothing else may fail
            assert all("is not a local model directory" in p for p in exc.problems), exc


def test_run_identity_ignores_logging_and_cadence_but_not_the_recipe(tiny_config):
    base = run_identity(load_train_config(tiny_config))
    same = load_train_config(
        tiny_config,
        [
            "output.log_every=5",
            "eval.every_steps=3",
            "checkpoint.every_steps=2",
            "train.halt_after_steps=2",
        ],
    )
    assert run_identity(same) == base
    assert run_identity(load_train_config(tiny_config, ["train.lr=0.5"])) != base
