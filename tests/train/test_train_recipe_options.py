"""Recipe options beyond the default LoRA: other adapters, eval splits, accumulation, schedule."""

from __future__ import annotations

import math

import pytest
import torch

from train.optim import warmup_cosine
from train.recipe import run_training


@pytest.mark.parametrize(
    "adapter",
    [
        {"type": "prompt_tuning", "num_virtual_tokens": 4},
        {"type": "prefix_tuning", "num_virtual_tokens": 4},
        {"type": "lora", "use_dora": True, "use_rslora": True},
    ],
    ids=["prompt_tuning", "prefix_tuning", "dora+rslora"],
)
def test_other_adapters_train(corpus, tiny_config, tmp_path, adapter):
    tiny_config["adapter"] = adapter
    tiny_config["data"]["packing"] = adapter["type"] == "lora"
    report = run_training(corpus, tiny_config, ["train.max_steps=3"], output=tmp_path / "out")
    assert report["steps"] == 3 and report["steps_skipped"] == 0
    assert report["model"]["attention"] == ("sdpa" if adapter["type"] == "lora" else "hf")
    # DoRA layers keep peft's forward, but the head is a plain frozen linear: chunked loss applies
    assert report["model"]["loss"] == ("chunked" if adapter["type"] == "lora" else "full")
    assert (
        report["model"]["fused_lora_layers"] == 0
    )  # prompt/prefix have none; DoRA keeps peft's forward
    assert (
        math.isfinite(report["eval_perplexity"])
        and (tmp_path / "out" / "adapter_model.safetensors").is_file()
    )


@pytest.mark.parametrize(
    "shards,eval_docs,source", [(2, 0, "last_shard"), (1, 0, "holdout_fraction")]
)
def test_eval_split_without_eval_shards(
    make_corpus, tiny_config, tmp_path, shards, eval_docs, source
):
    manifest = make_corpus(n_shards=shards, n_eval_docs=eval_docs)
    report = run_training(manifest, tiny_config, ["train.max_steps=1"], output=tmp_path / "out")
    assert report["manifest"]["eval_source"] == source
    expected_eval = (
        60 if source == "last_shard" else 12
    )  # 120 docs: the second shard, or 10% of one
    assert report["eval_docs"] == expected_eval and report["train_docs"] == 120 - expected_eval


def test_accumulated_gradient_is_the_token_mean_over_the_whole_step(corpus, tiny_config, tmp_path):
    """One micro-batch of 4 rows and two of 2 rows see the same rows; with the loss normalised by
    the step's total token count their gradients (hence norms) agree. A mean of per-micro-batch
    means would weight the two halves unequally whenever their token counts differ, which rows of
    one document each (no packing) make sure of."""
    tiny_config["data"]["packing"] = False
    one = run_training(
        corpus, tiny_config, ["train.max_steps=1", "data.micro_batch_size=4"], output=tmp_path / "a"
    )
    two = run_training(
        corpus,
        tiny_config,
        ["train.max_steps=1", "data.micro_batch_size=2", "train.grad_accum=2"],
        output=tmp_path / "b",
    )
    assert one["tokens_seen"] == two["tokens_seen"]
    assert two["loss_curve"][0]["loss"] == pytest.approx(one["loss_curve"][0]["loss"], rel=1e-6)
    assert two["loss_curve"][0]["grad_norm"] == pytest.approx(
        one["loss_curve"][0]["grad_norm"], rel=1e-5
    )


def test_warmup_then_cosine_schedule():
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, warmup_steps=4, total_steps=14, min_lr_ratio=0.1)
    lrs = []
    for _ in range(14):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4] == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False))
