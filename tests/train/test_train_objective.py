"""The objective on a real (tiny) model: the KL term, loss paths and gradient checkpointing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from train.batch import collate
from train.config import AdapterConfig, FromConfigModel, ModelConfig
from train.model import prepare_for_training
from train.objective import CausalLMObjective, chunked_loss_supported

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]


class _Docs:
    def __init__(self, seed=0, vocab=97):
        rng = np.random.default_rng(seed)
        self.docs = [
            np.asarray(list(rng.integers(2, vocab, size=n)) + [0], dtype=np.int32)
            for n in (13, 30, 7, 20, 9)
        ]

    def tokens(self, i):
        return self.docs[i]

    def doc_id(self, i):
        return f"doc{i}"


def _model(checkpointing=False, targets=TARGETS):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
    )
    base = LlamaForCausalLM(config).requires_grad_(False)
    model_cfg = ModelConfig(from_config=FromConfigModel(), gradient_checkpointing=checkpointing)
    model, _ = prepare_for_training(
        base,
        model_cfg,
        AdapterConfig(r=4, alpha=8, target_modules=targets),
        "sdpa",
        torch.device("cpu"),
    )
    return model


def _batch():
    return collate(
        [[(0, 0, 14), (1, 0, 31)], [(2, 0, 8), (3, 0, 21), (4, 0, 10)]],
        _Docs(),
        max_seq_len=48,
        pad_id=1,
    )


def _perturb(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.2)


@pytest.mark.parametrize("loss_mode", ["chunked", "full"])
def test_kl_is_zero_for_a_zero_initialised_adapter_and_positive_after_training_moves_it(loss_mode):
    model = _model()
    objective = CausalLMObjective(model, "sdpa", loss_mode, kl_weight=1.0)
    batch = _batch()
    ce, kl = objective(batch)
    # LoRA B starts at zero: adapted == base up to float rounding (per-token KL ~1e-8 nats)
    assert abs(float(kl)) / batch.n_label_tokens < 1e-7
    assert float(ce) > 0
    _perturb(model)
    _, kl = objective(batch)
    assert float(kl) / batch.n_label_tokens > 1e-3


def test_chunked_and_full_paths_agree_on_loss_and_gradients():
    results = []
    for mode in ("chunked", "full"):
        model = _model()
        _perturb(model)
        objective = CausalLMObjective(model, "sdpa", mode, kl_weight=0.5, chunk=16)
        ce, kl = objective(_batch())
        (ce + 0.5 * kl).backward()
        results.append(
            (
                float(ce),
                float(kl),
                {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad},
            )
        )
    (ce_c, kl_c, g_c), (ce_f, kl_f, g_f) = results
    assert ce_c == pytest.approx(ce_f, rel=1e-5) and kl_c == pytest.approx(kl_f, rel=1e-4)
    assert any("lm_head" in n for n in g_c)
    for name in g_f:
        torch.testing.assert_close(g_c[name], g_f[name], rtol=1e-3, atol=1e-5)


def test_gradient_checkpointing_gives_the_same_gradients():
    grads = []
    for checkpointing in (False, True):
        model = _model(checkpointing)
        _perturb(model)
        model.train()
        ce, _ = CausalLMObjective(model, "sdpa", "chunked")(_batch())
        ce.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-7)


def test_unsupported_heads_fall_back_to_the_full_path():
    model = _model(targets="all-linear")
    assert chunked_loss_supported(model)
    model.get_base_model().lm_head.weight.requires_grad_(True)
    assert not chunked_loss_supported(model)
