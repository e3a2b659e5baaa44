"""The fast paths match their references: fused LoRA vs peft's LoRA, chunked vs full logits loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from train.fused_lora import fuse_lora_layers
from train.lm_loss import chunked_head_loss, full_head_loss


def _peft_pair(bias: bool, dropout: float = 0.0, use_dora: bool = False):
    from peft import LoraConfig, get_peft_model

    def make():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(24, 40, bias=bias), nn.SiLU(), nn.Linear(40, 16, bias=bias))
        net.requires_grad_(False)
        model = get_peft_model(
            net,
            LoraConfig(
                r=4,
                lora_alpha=12,
                lora_dropout=dropout,
                use_dora=use_dora,
                target_modules=["0", "2"],
            ),
        )
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.3)
        return model

    return make(), make()


@pytest.mark.parametrize("bias", [False, True])
def test_fused_lora_matches_peft_forward_and_gradients(bias):
    reference, fused = _peft_pair(bias)
    assert fuse_lora_layers(fused) == 2
    x = torch.randn(3, 5, 24)
    outs, grads = [], []
    for model in (reference, fused):
        xi = x.clone().requires_grad_(True)
        out = model(xi)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        outs.append(out)
        grads.append([xi.grad] + [p.grad for p in model.parameters() if p.requires_grad])
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-5, atol=1e-5)
    for g_fused, g_ref in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(g_fused, g_ref, rtol=1e-4, atol=1e-5)


def test_fused_lora_under_bf16_autocast_stays_close_to_fp32_peft():
    reference, fused = _peft_pair(bias=True)
    fuse_lora_layers(fused)
    x = torch.randn(64, 24)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = fused(x)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), reference(x), rtol=3e-2, atol=3e-2)


def test_disabled_adapter_and_ineligible_layers_use_peft():
    _, fused = _peft_pair(bias=False)
    fuse_lora_layers(fused)
    x = torch.randn(4, 24)
    with fused.disable_adapter():
        torch.testing.assert_close(fused(x), fused.get_base_model()(x))
    assert (
        fuse_lora_layers(_peft_pair(bias=False, dropout=0.1)[0]) == 0
    )  # dropout needs its mask: peft path
    assert fuse_lora_layers(_peft_pair(bias=False, use_dora=True)[0]) == 0


@pytest.mark.parametrize("with_kl", [False, True])
@pytest.mark.parametrize("with_lora", [False, True])
def test_chunked_loss_matches_full_logits(with_kl, with_lora):
    torch.manual_seed(0)
    n, hidden, vocab, r = 37, 16, 50, 4
    h = torch.randn(n, hidden, requires_grad=True)
    weight = torch.randn(vocab, hidden) * 0.3
    a = (torch.randn(r, hidden) * 0.2).requires_grad_(with_lora)
    b = (torch.randn(vocab, r) * 0.2).requires_grad_(with_lora)
    labels = torch.randint(0, vocab, (n,))
    base = torch.randn(n, hidden) if with_kl else None
    lora = (a, b, 1.5) if with_lora else None

    ce, kl = chunked_head_loss(h, weight, labels, base, chunk=8, lora=lora)
    (ce + 0.7 * kl).backward()
    got = [h.grad.clone()] + ([a.grad.clone(), b.grad.clone()] if with_lora else [])
    for t in (h, a, b):
        t.grad = None

    effective = weight + (1.5 * b @ a if with_lora else 0)
    ce_ref, kl_ref = full_head_loss(
        h @ effective.t(), labels, base @ weight.t() if with_kl else None
    )
    (ce_ref + 0.7 * kl_ref).backward()
    want = [h.grad] + ([a.grad, b.grad] if with_lora else [])
    torch.testing.assert_close(ce, ce_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(kl, kl_ref, rtol=1e-5, atol=1e-5)
    if not with_kl:
        assert float(kl) == 0.0
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_chunked_loss_refuses_a_trainable_head():
    with pytest.raises(ValueError, match="frozen"):
        chunked_head_loss(
            torch.randn(2, 4), torch.randn(5, 4, requires_grad=True), torch.tensor([0, 1])
        )
