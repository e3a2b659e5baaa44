"""Full training from scratch (adapter.type none): every weight trained, resumed exactly, reloadable."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from train.config import ConfigError, load_train_config
from train.recipe import run_training


@pytest.fixture
def scratch_config(tiny_config) -> dict:
    tiny_config["adapter"] = {"type": "none"}
    tiny_config["train"].update(max_steps=8, lr=5e-3, warmup_steps=1)
    tiny_config["eval"]["at_start"] = True
    return tiny_config


def test_training_from_scratch_lowers_loss_and_trains_every_weight(
    corpus, scratch_config, tmp_path
):
    report = run_training(corpus, scratch_config, output=tmp_path / "run")
    params = report["model"]["params"]
    assert params["trainable"] == params["total"] > 0 and params["frozen_matmul"] == 0
    assert report["eval_curve"][-1]["loss"] < report["eval_curve"][0]["loss"] - 0.1
    assert report["outputs"]["model"] == "model" and report["outputs"]["adapter"] is None
    assert not (tmp_path / "run" / "adapter_model.safetensors").exists()

    # Every tensor moved away from its random init (so every parameter received gradients).
    from transformers import AutoModelForCausalLM

    from train.manifest import load_manifest
    from train.model import build_base_model

    cfg = load_train_config(scratch_config)
    init = build_base_model(cfg.model, load_manifest(corpus).tokenizer, torch.float32, 64)
    trained = AutoModelForCausalLM.from_pretrained(str(tmp_path / "run" / "model"))
    init_state = init.state_dict()
    for name, tensor in trained.state_dict().items():
        assert not torch.equal(tensor, init_state[name]), f"{name} was not trained"
    # The saved model is the final one: its weights equal the last checkpoint's.
    ckpt = load_file(str(tmp_path / "run" / "checkpoints" / "step-00000008" / "model.safetensors"))
    for name, tensor in ckpt.items():
        assert torch.equal(tensor, trained.state_dict()[name])


def test_full_training_resumes_bit_for_bit(corpus, scratch_config, tmp_path):
    scratch_config["train"].update(max_steps=6, grad_accum=2)
    scratch_config["checkpoint"] = {"every_steps": 2}
    scratch_config["eval"]["at_start"] = False
    whole = run_training(corpus, scratch_config, output=tmp_path / "whole")
    halted = run_training(
        corpus, scratch_config, ["train.halt_after_steps=3"], output=tmp_path / "resumed"
    )
    assert halted["halted"] and not (tmp_path / "resumed" / "model").exists()
    resumed = run_training(corpus, scratch_config, output=tmp_path / "resumed")
    assert resumed["resumed_from"] == 2
    assert [p["loss"] for p in resumed["loss_curve"]] == [p["loss"] for p in whole["loss_curve"]]
    a = load_file(str(tmp_path / "whole" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_full_training_refuses_the_kl_term():
    with pytest.raises(ConfigError, match="kl_weight"):
        load_train_config(
            {"model": {"from_config": {}}, "adapter": {"type": "none"}, "train": {"kl_weight": 0.1}}
        )
