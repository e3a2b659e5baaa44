"""CUDA-only checks: the GPU fast paths agree with the CPU-verified references.

Skipped without a GPU. Run on one with `pytest tests/train/test_train_gpu.py -m gpu`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

DEVICE = torch.device("cuda")


class _Docs:
    def __init__(self, lengths, vocab=97, seed=0):
        rng = np.random.default_rng(seed)
        self.docs = [
            np.asarray(list(rng.integers(2, vocab, size=n - 1)) + [0], dtype=np.int32)
            for n in lengths
        ]

    def tokens(self, i):
        return self.docs[i]

    def doc_id(self, i):
        return f"doc{i}"


def _model(backend, fused=True):
    from transformers import LlamaConfig, LlamaForCausalLM

    from train.config import AdapterConfig, FromConfigModel, ModelConfig
    from train.model import prepare_for_training

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=256,
    )
    base = LlamaForCausalLM(config).to(torch.bfloat16).requires_grad_(False)
    adapter = AdapterConfig(
        r=8,
        alpha=16,
        fused=fused,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
            "lm_head",
        ],
    )
    model, _ = prepare_for_training(
        base, ModelConfig(from_config=FromConfigModel()), adapter, backend, DEVICE
    )
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return model


def _batch():
    from train.batch import collate

    docs = _Docs([40, 100, 7, 60, 33, 120])
    rows = [[(0, 0, 40), (1, 0, 100), (2, 0, 7)], [(3, 0, 60), (4, 0, 33)], [(5, 0, 120)]]
    return collate(rows, docs, max_seq_len=160, pad_id=1).to(DEVICE)


def _loss_and_grads(backend, fused=True):
    from train.objective import CausalLMObjective

    model = _model(backend, fused)
    objective = CausalLMObjective(
        model, backend, "chunked", kl_weight=0.1, autocast_dtype=torch.bfloat16
    )
    ce, kl = objective(_batch())
    (ce + 0.1 * kl).backward()
    return float(ce), {
        n: p.grad.float().clone() for n, p in model.named_parameters() if p.requires_grad
    }


@pytest.mark.parametrize("backend", ["varlen", "flex"])
def test_gpu_attention_backends_match_masked_sdpa(backend):
    ce_ref, grads_ref = _loss_and_grads("sdpa")
    ce, grads = _loss_and_grads(backend)
    assert ce == pytest.approx(ce_ref, rel=2e-2)
    for name, g in grads_ref.items():
        assert (
            torch.nn.functional.cosine_similarity(grads[name].flatten(), g.flatten(), dim=0) > 0.99
        ), name


def test_fused_lora_in_bf16_matches_peft():
    ce_ref, grads_ref = _loss_and_grads("sdpa", fused=False)
    ce, grads = _loss_and_grads("sdpa", fused=True)
    assert ce == pytest.approx(ce_ref, rel=1e-2)
    for name, g in grads_ref.items():
        assert (
            torch.nn.functional.cosine_similarity(grads[name].flatten(), g.flatten(), dim=0) > 0.995
        ), name


@pytest.mark.parametrize("compile_layers", [False, True])
def test_gpu_training_run(corpus, tiny_config, tmp_path, compile_layers):
    from train.recipe import run_training

    tiny_config["train"].update(max_steps=8, lr=2e-2)
    tiny_config["adapter"]["target_modules"] = [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
        "lm_head",
    ]
    tiny_config["model"]["compile"] = compile_layers
    report = run_training(corpus, tiny_config, output=tmp_path / "out")
    assert report["model"]["attention"] == "varlen" and report["model"]["dtype"] == "bfloat16"
    assert report["steps_skipped"] == 0
    assert report["eval_perplexity"] < report["initial_eval_perplexity"]
    assert report["throughput"]["mfu"] is not None
