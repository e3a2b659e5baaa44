"""Packing isolation: a document's logits and loss are the same packed with others or alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from train.batch import collate
from train.config import AdapterConfig, FromConfigModel, ModelConfig
from train.model import prepare_for_training
from train.objective import CausalLMObjective


class _Docs:
    """The two methods `collate` needs, over in-memory token lists."""

    def __init__(self, docs):
        self.docs = [np.asarray(d, dtype=np.int32) for d in docs]

    def tokens(self, i):
        return self.docs[i]

    def doc_id(self, i):
        return f"doc{i}"


def _lora_model(vocab=97):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
    )
    base = LlamaForCausalLM(config).requires_grad_(False)
    model, fused = prepare_for_training(
        base,
        ModelConfig(from_config=FromConfigModel()),
        AdapterConfig(r=4, alpha=8),
        "sdpa",
        torch.device("cpu"),
    )
    assert fused == 14
    with torch.no_grad():  # a non-zero adapter, so the LoRA path is part of what is compared
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.2)
    return model.eval(), base


def _reference(model, base, tokens):
    """The doc alone through transformers' own SDPA attention and unfused peft LoRA."""
    base.set_attn_implementation("sdpa")
    try:
        ids = torch.tensor([tokens])
        with torch.no_grad():
            out = model(input_ids=ids, labels=ids)
        return out.logits[0], out.loss * (len(tokens) - 1)
    finally:
        from train.attention import register_packed_attention

        base.set_attn_implementation(register_packed_attention())


@pytest.fixture(scope="module")
def docs():
    rng = np.random.default_rng(0)
    return _Docs([list(rng.integers(2, 97, size=n)) + [0] for n in (11, 23, 5, 17)])


def test_packed_logits_equal_each_document_alone(docs):
    model, base = _lora_model()
    objective = CausalLMObjective(model, "sdpa", "chunked")
    rows = [
        [(0, 0, 12), (1, 0, 24), (2, 0, 6)],
        [(2, 0, 6), (3, 0, 18), (0, 0, 12)],
    ]  # doc 0 and 2 at other offsets too
    batch = collate(rows, docs, max_seq_len=48, pad_id=1)
    with torch.no_grad():
        hidden = objective._hidden(objective._inputs(batch))
        packed = model.get_base_model().lm_head(hidden)
    for r, row in enumerate(rows):
        at = 0
        for doc, _, n in row:
            alone, _ = _reference(model, base, docs.tokens(doc).tolist())
            torch.testing.assert_close(packed[r, at : at + n], alone, atol=2e-5, rtol=1e-4)
            at += n


@pytest.mark.parametrize("loss_mode", ["chunked", "full"])
def test_loss_counts_only_real_within_document_targets(docs, loss_mode):
    model, base = _lora_model()
    objective = CausalLMObjective(model, "sdpa", loss_mode)
    batch = collate(
        [[(0, 0, 12), (1, 0, 24)], [(2, 0, 6), (3, 0, 18)]], docs, max_seq_len=40, pad_id=1
    )
    with torch.no_grad():
        ce, kl = objective(batch)
    expected = sum(float(_reference(model, base, docs.tokens(d).tolist())[1]) for d in range(4))
    assert batch.n_label_tokens == 11 + 23 + 5 + 17
    assert float(ce) == pytest.approx(expected, rel=1e-5)
    assert float(kl) == 0.0


def test_without_document_masking_the_logits_would_differ(docs):
    """Guards the test above: plain causal attention over the packed row does change the logits."""
    model, base = _lora_model()
    base.set_attn_implementation("sdpa")
    ids = torch.tensor([np.concatenate([docs.tokens(0), docs.tokens(1)]).tolist()])
    positions = torch.tensor(
        [list(range(12)) + list(range(24))]
    )  # same positions as alone: only attention differs
    with torch.no_grad():
        leaky = model(
            input_ids=ids, position_ids=positions, attention_mask=torch.ones_like(ids)
        ).logits[0, 12:]
    alone, _ = _reference(model, base, docs.tokens(1).tolist())
    assert (leaky - alone).abs().max() > 1e-2
