"""The attention probe picks a call form by what `varlen_attn` accepts, and every form is exact.

`varlen_attn` is replaced by plain functions with exactly the parameter lists torch has shipped
(see `train/attention_probe.py` for the PRs), each computing causal per-segment attention with
its own mask code on the CPU (and, like torch >= 2.12, refusing fewer K/V heads than query heads
unless told `enable_gqa`). So every varlen call path, and every fallback (flex, masked SDPA),
runs here and is compared with masked SDPA.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from train import attention_probe
from train.attention import PackedAttention, packed_attention_forward, resolve_attention
from train.attention_probe import AttentionChoice, choose_backend, probe_chain
from train.batch import collate

CPU = torch.device("cpu")
torch_varlen = pytest.importorskip("torch.nn.attention.varlen")  # torch >= 2.9


def _kernel(query, key, value, cu_seq_q, scale, window, gqa):
    """What the flash kernel computes: attention within each cu_seq segment, inside `window`."""
    if query.shape[1] != key.shape[1] and not gqa:
        raise ValueError("Expect query and key/value to have the same number of heads")
    lengths = (cu_seq_q[1:] - cu_seq_q[:-1]).long()
    seg = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    i = torch.arange(query.shape[0])
    allowed = seg[:, None] == seg[None, :]
    left, right = window
    if left >= 0:
        allowed &= (i[:, None] - i[None, :]) <= left
    if right >= 0:
        allowed &= (i[None, :] - i[:, None]) <= right
    out = F.scaled_dot_product_attention(
        *(t.transpose(0, 1)[None] for t in (query, key, value)),
        attn_mask=allowed,
        scale=scale,
        enable_gqa=gqa,
    )
    return out[0].transpose(0, 1)


# The parameter lists torch has shipped (torch/nn/attention/varlen.py).
def varlen_attn_2_9(
    query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, is_causal=False, return_aux=None
):
    return _kernel(query, key, value, cu_seq_q, None, (-1, 0 if is_causal else -1), False)


def varlen_attn_2_10(
    query,
    key,
    value,
    cu_seq_q,
    cu_seq_k,
    max_q,
    max_k,
    is_causal=False,
    return_aux=None,
    scale=None,
):
    return _kernel(query, key, value, cu_seq_q, scale, (-1, 0 if is_causal else -1), False)


def varlen_attn_2_11(
    query,
    key,
    value,
    cu_seq_q,
    cu_seq_k,
    max_q,
    max_k,
    *,
    return_aux=None,
    scale=None,
    window_size=(-1, -1),
    seqused_k=None,
    block_table=None,
    num_splits=None,
):
    return _kernel(query, key, value, cu_seq_q, scale, window_size, False)


def varlen_attn_2_13(
    query,
    key,
    value,
    cu_seq_q,
    cu_seq_k,
    max_q,
    max_k,
    *,
    return_aux=None,
    scale=None,
    window_size=(-1, -1),
    enable_gqa=False,
    seqused_k=None,
    block_table=None,
    num_splits=None,
):
    return _kernel(query, key, value, cu_seq_q, scale, window_size, enable_gqa)


def varlen_attn_no_gpu(
    query,
    key,
    value,
    cu_seq_q,
    cu_seq_k,
    max_q,
    max_k,
    *,
    scale=None,
    window_size=(-1, -1),
    enable_gqa=False,
):
    raise RuntimeError("FlashAttention only supports Ampere GPUs or newer.")


def varlen_attn_gqa_kernel_missing(
    query,
    key,
    value,
    cu_seq_q,
    cu_seq_k,
    max_q,
    max_k,
    *,
    scale=None,
    window_size=(-1, -1),
    enable_gqa=False,
):
    if enable_gqa:
        raise RuntimeError("no GQA kernel for this head dim")
    return _kernel(query, key, value, cu_seq_q, scale, window_size, False)


def varlen_attn_leaky(
    query,
    key,
    value,
    cu_seq_q,
    cu_seq_k,
    max_q,
    max_k,
    *,
    scale=None,
    window_size=(-1, -1),
    enable_gqa=False,
):
    """Runs, but ignores the segment boundaries: the probe must refuse it."""
    whole = torch.tensor([0, query.shape[0]], dtype=torch.int32)
    return _kernel(query, key, value, whole, scale, window_size, enable_gqa)


# (stand-in, causal keyword, native GQA, has scale, what the reason must say)
SIGNATURES = {
    "2.9": (varlen_attn_2_9, "is_causal", False, False, ["lacks window_size", "lacks enable_gqa", "lacks scale"]),
    "2.10": (varlen_attn_2_10, "is_causal", False, True, ["lacks window_size", "lacks enable_gqa"]),
    "2.11": (varlen_attn_2_11, "window_size", False, True, ["lacks enable_gqa: K/V heads repeated"]),
    "2.13": (varlen_attn_2_13, "window_size", True, True, ["native GQA"]),
}  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_probe():
    attention_probe.reset_probe_cache()
    yield
    attention_probe.reset_probe_cache()


def _packed_qkv(seed=0, dim=16):
    """Three documents and a pad segment in each of two rows; 4 query heads over 2 K/V heads."""
    torch.manual_seed(seed)
    segment_ids = torch.tensor([[0] * 5 + [1] * 9 + [2] * 4 + [3] * 2, [0] * 12 + [1] * 8])
    lengths = [5, 9, 4, 2, 12, 8]
    cu = torch.tensor([0, *np.cumsum(lengths)], dtype=torch.int32)
    q = torch.randn(2, 4, 20, dim)
    k, v = torch.randn(2, 2, 20, dim), torch.randn(2, 2, 20, dim)
    return q, k, v, segment_ids, cu


def _attend(backend, q, k, v, segment_ids, cu, scaling):
    layout = PackedAttention.build(backend, segment_ids, cu, 20)
    with torch.no_grad():
        out, _ = packed_attention_forward(None, q, k, v, None, scaling=scaling, curate_attn=layout)
    return out


@pytest.mark.parametrize("version", SIGNATURES)
def test_probe_reads_each_shipped_signature(monkeypatch, version):
    fn, causal, native_gqa, has_scale, says = SIGNATURES[version]
    monkeypatch.setattr(torch_varlen, "varlen_attn", fn)
    choice = probe_chain(CPU, torch.float32, grad=True)
    assert choice.backend == "varlen", choice.reason
    assert (choice.varlen.causal, choice.varlen.native_gqa, choice.varlen.has_scale) == (
        causal,
        native_gqa,
        has_scale,
    )
    for words in says:
        assert words in choice.reason


@pytest.mark.parametrize("scaling", [None, 0.37])
@pytest.mark.parametrize("version", SIGNATURES)
def test_each_varlen_call_form_equals_masked_sdpa(monkeypatch, version, scaling):
    monkeypatch.setattr(torch_varlen, "varlen_attn", SIGNATURES[version][0])
    assert probe_chain(CPU, torch.float32).backend == "varlen"
    q, k, v, segment_ids, cu = _packed_qkv()
    got = _attend("varlen", q, k, v, segment_ids, cu, scaling)
    want = _attend("sdpa", q, k, v, segment_ids, cu, scaling)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # and the comparison can fail: without the per-document mask the outputs differ
    leaky = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scaling, enable_gqa=True)
    assert (leaky.transpose(1, 2) - want).abs().max() > 1e-2


def test_flex_path_equals_masked_sdpa():
    q, k, v, segment_ids, cu = _packed_qkv(seed=1)
    torch.testing.assert_close(
        _attend("flex", q, k, v, segment_ids, cu, 0.25),
        _attend("sdpa", q, k, v, segment_ids, cu, 0.25),
        atol=1e-5,
        rtol=1e-5,
    )


def test_varlen_failing_its_trial_falls_back_to_flex(monkeypatch):
    monkeypatch.setattr(torch_varlen, "varlen_attn", varlen_attn_no_gpu)
    choice = probe_chain(CPU, torch.float32, grad=False)  # CPU flex has no backward: forward only
    assert choice.backend == "flex"
    assert choice.reason.count("failed its trial") == 2  # native GQA form, then K/V repeated
    assert "Ampere" in choice.reason and "flex_attention" in choice.reason


def test_nothing_but_sdpa_works_falls_back_to_masked_sdpa(monkeypatch):
    monkeypatch.setattr(torch_varlen, "varlen_attn", varlen_attn_no_gpu)
    choice = probe_chain(CPU, torch.float32, grad=True)  # flex cannot run backward on the CPU
    assert choice.backend == "sdpa"
    assert "flex failed its trial" in choice.reason and choice.reason.endswith("masked SDPA")


def test_torch_without_varlen_goes_to_flex(monkeypatch):
    monkeypatch.setattr(attention_probe, "load_varlen", lambda: None)
    choice = probe_chain(CPU, torch.float32, grad=False)
    assert choice.backend == "flex" and "no torch.nn.attention.varlen" in choice.reason


def test_a_failing_native_gqa_form_falls_back_to_repeated_heads(monkeypatch):
    monkeypatch.setattr(torch_varlen, "varlen_attn", varlen_attn_gqa_kernel_missing)
    choice = probe_chain(CPU, torch.float32)
    assert choice.backend == "varlen" and not choice.varlen.native_gqa
    assert "no GQA kernel" in choice.reason and "K/V heads repeated" in choice.reason


def test_a_kernel_that_leaks_across_documents_is_refused(monkeypatch):
    monkeypatch.setattr(torch_varlen, "varlen_attn", varlen_attn_leaky)
    choice = probe_chain(CPU, torch.float32, grad=False)
    assert choice.backend == "flex"
    assert "differs from masked SDPA" in choice.reason


def test_model_logits_through_each_varlen_form_equal_masked_sdpa(monkeypatch):
    from transformers import LlamaConfig, LlamaForCausalLM

    from train.config import AdapterConfig, FromConfigModel, ModelConfig
    from train.model import prepare_for_training
    from train.objective import CausalLMObjective

    class Docs:
        def __init__(self):
            rng = np.random.default_rng(0)
            self.docs = [rng.integers(2, 97, size=n).astype(np.int32) for n in (9, 14, 5)]

        def tokens(self, i):
            return self.docs[i]

        def doc_id(self, i):
            return str(i)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
    )
    base = LlamaForCausalLM(config).requires_grad_(False)
    model, _ = prepare_for_training(
        base, ModelConfig(from_config=FromConfigModel()), AdapterConfig(r=2), "sdpa", CPU
    )
    batch = collate([[(0, 0, 9), (1, 0, 14)], [(2, 0, 5), (0, 0, 9)]], Docs(), 26, pad_id=1)

    def hidden(backend):
        objective = CausalLMObjective(model, backend, "chunked")
        with torch.no_grad():
            return objective._hidden(objective._inputs(batch))

    want = hidden("sdpa")
    for version in SIGNATURES:
        attention_probe.reset_probe_cache()
        monkeypatch.setattr(torch_varlen, "varlen_attn", SIGNATURES[version][0])
        torch.testing.assert_close(hidden("varlen"), want, atol=1e-5, rtol=1e-5, msg=version)
    torch.testing.assert_close(hidden("flex"), want, atol=1e-5, rtol=1e-5)


def test_auto_on_cpu_is_masked_sdpa_with_a_reason():
    choice = resolve_attention("auto", CPU, torch.float32)
    assert choice.backend == "sdpa" and "cpu" in choice.reason
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_attention("varlen", CPU, torch.float32)


def test_the_probe_runs_once_however_many_threads_ask(monkeypatch):
    calls = []

    def slow_decide(requested, device, dtype):
        calls.append(requested)
        time.sleep(0.05)
        return AttentionChoice("sdpa", "stub")

    monkeypatch.setattr(attention_probe, "_decide", slow_decide)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(choose_backend("auto", CPU, torch.float32)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["auto"] and len(results) == 8
    assert all(r is results[0] for r in results)
