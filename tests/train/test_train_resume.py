"""Checkpoints resume exactly: killed at step 3 and resumed == never interrupted, bit for bit."""

from __future__ import annotations

import pytest
import torch

from train.checkpoint import latest_checkpoint
from train.recipe import run_training


@pytest.mark.parametrize("dropout", [0.0, 0.1], ids=["fused", "dropout-rng"])
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(
    corpus, tiny_config, tmp_path, dropout
):
    tiny_config["adapter"]["dropout"] = dropout  # with dropout the RNG state must be restored too
    tiny_config["train"].update(max_steps=6, grad_accum=2, kl_weight=0.1)
    tiny_config["checkpoint"] = {"every_steps": 2}
    tiny_config["eval"]["at_start"] = False

    full = run_training(corpus, tiny_config, output=tmp_path / "full")
    halted = run_training(
        corpus, tiny_config, ["train.halt_after_steps=3"], output=tmp_path / "resumed"
    )
    assert halted == {"halted": True, "steps": 3, "output_dir": str(tmp_path / "resumed")}
    # Killed after step 3: only the step-2 checkpoint exists, and no final adapter.
    assert latest_checkpoint(tmp_path / "resumed" / "checkpoints").name == "step-00000002"
    assert not (tmp_path / "resumed" / "adapter_model.safetensors").exists()

    resumed = run_training(corpus, tiny_config, output=tmp_path / "resumed")
    assert resumed["resumed_from"] == 2 and resumed["steps"] == 6
    assert [p["loss"] for p in resumed["loss_curve"]] == [p["loss"] for p in full["loss_curve"]]
    a = (tmp_path / "full" / "adapter_model.safetensors").read_bytes()
    b = (tmp_path / "resumed" / "adapter_model.safetensors").read_bytes()
    assert a == b
    # and training did change the adapter (the comparison above is not between two zero adapters)
    from safetensors.torch import load_file

    lora_b = [
        t
        for k, t in load_file(str(tmp_path / "full" / "adapter_model.safetensors")).items()
        if "lora_B" in k
    ]
    assert all(torch.count_nonzero(t) > 0 for t in lora_b)


def test_resume_refuses_a_checkpoint_from_a_different_recipe(corpus, tiny_config, tmp_path):
    tiny_config["checkpoint"] = {"every_steps": 1}
    tiny_config["eval"]["at_start"] = False
    run_training(corpus, tiny_config, ["train.halt_after_steps=1"], output=tmp_path / "run")
    with pytest.raises(ValueError, match="different run .*run_identity"):
        run_training(corpus, tiny_config, ["train.lr=0.5"], output=tmp_path / "run")
    report = run_training(
        corpus,
        tiny_config,
        ["train.lr=0.5", "checkpoint.resume=never"],
        output=tmp_path / "run",
    )
    assert report["resumed_from"] is None and report["steps"] == 4
