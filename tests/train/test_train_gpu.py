"""The GPU fast paths, checked with teeth: document isolation, fused LoRA, learning, exact resume.

Every test runs on CUDA in bf16 (the `cuda` cases, skipped without a GPU; run them with
`CUBLAS_WORKSPACE_CONFIG=:4096:8 pytest tests/train/test_train_gpu.py`, the setting exact resume
needs, or `bash benchmarks/gpu_check.sh`) and, where practical, as a tiny float32 smoke on the
CPU so the logic itself runs in CI.

Tolerances come from bf16 rounding, measured, not guessed: the same model in float32 on the
same document alone is the truth, and `noise` is how far this dtype's own alone-run lands from it.
Two bf16 computations of one quantity, each within `noise` of the truth, differ by at most
2 x noise; we allow 3 x. A negative control shows the bound has teeth: the same backend over the
same packed rows without document boundaries must break it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from train import attention_probe
from train.attention import PackedAttention
from train.batch import collate

HAS_CUDA = torch.cuda.is_available()
CUDA_ONLY = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
DEVICES = [
    pytest.param("cpu", id="cpu-fp32"),
    pytest.param("cuda", id="cuda-bf16", marks=[pytest.mark.gpu, CUDA_ONLY]),
]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]
LENGTHS = [40, 100, 7, 60, 33, 120]
ROWS = [[0, 1, 2], [3, 4], [5]]  # documents per packed row (row length 160)
SEQ = 160


@pytest.fixture(autouse=True)
def fresh_probe():
    attention_probe.reset_probe_cache()
    yield
    attention_probe.reset_probe_cache()


class _Docs:
    def __init__(self, vocab=97, seed=0):
        rng = np.random.default_rng(seed)
        self.docs = [
            np.asarray(list(rng.integers(2, vocab, size=n - 1)) + [0], dtype=np.int32)
            for n in LENGTHS
        ]

    def tokens(self, i):
        return self.docs[i]

    def doc_id(self, i):
        return f"doc{i}"


def _dtype(device: str) -> torch.dtype:
    return torch.bfloat16 if device == "cuda" else torch.float32


def _build(device: str, dtype: torch.dtype, fused: bool = True):
    """A 2-layer GQA Llama with non-zero LoRA on every linear; the same weights whatever `dtype`."""
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
        max_position_embeddings=256,
        initializer_range=0.1,  # large enough that attention, and so a leak, moves the logits
    )
    base = LlamaForCausalLM(config).requires_grad_(False)
    adapter = AdapterConfig(r=8, alpha=16, fused=fused, target_modules=TARGETS)
    model, _ = prepare_for_training(
        base, ModelConfig(from_config=FromConfigModel()), adapter, "sdpa", torch.device("cpu")
    )
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return model.to(device=device, dtype=dtype).eval()


def _packed_batch(device):
    rows = [[(d, 0, LENGTHS[d]) for d in row] for row in ROWS]
    return collate(rows, _Docs(), SEQ, pad_id=1).to(torch.device(device))


def _alone_batch(device):
    """Each document alone in its own row (then padding, its own segment): one shape for all."""
    return collate([[(d, 0, n)] for d, n in enumerate(LENGTHS)], _Docs(), SEQ, pad_id=1).to(
        torch.device(device)
    )


def _logits(model, backend, batch, segment_ids=None, cu_seqlens=None) -> torch.Tensor:
    segment_ids = batch.segment_ids if segment_ids is None else segment_ids
    cu_seqlens = batch.cu_seqlens if cu_seqlens is None else cu_seqlens
    layout = PackedAttention.build(backend, segment_ids, cu_seqlens, batch.max_seqlen)
    with torch.no_grad():
        out = model(
            input_ids=batch.input_ids,
            position_ids=batch.position_ids,
            use_cache=False,
            curate_attn=layout,
        )
    return out.logits.float()


def _slices():
    """(packed row, offset, alone row, length, first in its row) for every document."""
    out = []
    for r, row in enumerate(ROWS):
        at = 0
        for i, d in enumerate(row):
            out.append((r, at, d, LENGTHS[d], i == 0))
            at += LENGTHS[d]
    return out


def _cases():
    cases = [pytest.param("cpu", b, id=f"cpu-fp32-{b}") for b in ("sdpa", "flex")]
    for b in ("varlen", "flex", "sdpa"):
        cases.append(
            pytest.param("cuda", b, id=f"cuda-bf16-{b}", marks=[pytest.mark.gpu, CUDA_ONLY])
        )
    return cases


def _varlen_forms_here():
    fn = attention_probe.load_varlen()
    forms = attention_probe.varlen_forms(fn)[0] if fn is not None else []
    if not forms:
        pytest.skip("this torch has no usable varlen_attn (the probe falls back to flex)")
    return fn, forms


@pytest.mark.parametrize("device,backend", _cases())
def test_packed_documents_equal_each_document_alone(device, backend):
    dtype = _dtype(device)
    model, truth_model = _build(device, dtype), _build(device, torch.float32)
    packed_b, alone_b = _packed_batch(device), _alone_batch(device)
    truth = _logits(truth_model, "sdpa", alone_b)
    scale = max(truth[d, :n].abs().max().item() for _, _, d, n, _ in _slices())

    # varlen: every call form this torch admits (native GQA and K/V repeated, ...), on the kernel
    fn, forms = _varlen_forms_here() if backend == "varlen" else (None, [None])
    for form in forms:
        if form is not None:
            attention_probe._varlen_forms[fn] = form  # what PackedAttention.build will call
        packed = _logits(model, backend, packed_b)
        alone = _logits(model, backend, alone_b)
        noise = max((alone[d, :n] - truth[d, :n]).abs().max().item() for _, _, d, n, _ in _slices())
        tol = max(3.0 * noise, 1e-5 * scale)  # fp32: noise ~ 0, so a relative 1e-5 floor
        worst = max(
            (packed[r, at : at + n] - alone[d, :n]).abs().max().item()
            for r, at, d, n, _ in _slices()
        )
        label = form.describe() if form is not None else backend
        assert worst <= tol, f"{label}: packed differs from alone by {worst:.3g} > {tol:.3g}"

        # Negative control: the same backend, the same rows, but one segment per row.
        rows, n_rows = torch.zeros_like(packed_b.segment_ids), packed_b.input_ids.shape[0]
        cu_rows = torch.arange(0, (n_rows + 1) * SEQ, SEQ, dtype=torch.int32, device=device)
        leaky = _logits(model, backend, packed_b, rows, cu_rows)
        leak = max(
            (leaky[r, at : at + n] - alone[d, :n]).abs().max().item()
            for r, at, d, n, first in _slices()
            if not first
        )
        assert leak > tol, (
            f"{label}: the unmasked control passed the bound ({leak:.3g} <= {tol:.3g})"
        )


def _loss_grads(model, batch):
    from train.objective import CausalLMObjective

    model.zero_grad(set_to_none=True)
    ce, _ = CausalLMObjective(model, "sdpa", "chunked")(batch)
    (ce / batch.n_label_tokens).backward()
    grads = [p.grad.float().flatten() for p in model.parameters() if p.requires_grad]
    return torch.cat(grads)


@pytest.mark.parametrize("device", DEVICES)
def test_fused_lora_matches_peft(device):
    dtype = _dtype(device)
    fused, plain = _build(device, dtype, fused=True), _build(device, dtype, fused=False)
    truth = _build(device, torch.float32, fused=False)
    batch = _packed_batch(device)
    want = _logits(truth, "sdpa", batch)
    scale = want.abs().max().item()
    p_logits, f_logits = _logits(plain, "sdpa", batch), _logits(fused, "sdpa", batch)
    noise = (p_logits - want).abs().max().item()
    gap = (f_logits - p_logits).abs().max().item()
    assert gap <= max(3.0 * noise, 1e-5 * scale), (gap, noise)

    g_truth, g_plain, g_fused = (_loss_grads(m, batch) for m in (truth, plain, fused))
    norm = g_truth.norm().item()
    noise = (g_plain - g_truth).norm().item() / norm
    gap = (g_fused - g_plain).norm().item() / norm
    assert gap <= max(3.0 * noise, 1e-5), (gap, noise)


@pytest.fixture
def deterministic(request):
    """Deterministic kernels on CUDA (flash backward, index_add): exact resume needs them."""
    if request.node.callspec.params.get("device") != "cuda":
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # gpu_check.sh sets it earlier
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(False)


@pytest.mark.parametrize("device", DEVICES)
def test_training_run_learns_and_resumes_bit_exactly(
    device, deterministic, corpus, tiny_config, tmp_path
):
    from train.recipe import run_training

    if device == "cpu" and HAS_CUDA:
        pytest.skip("the recipe trains on CUDA when there is one (CPU: test_train_resume)")
    steps, halt = (8, 4) if device == "cuda" else (4, 2)
    tiny_config["train"].update(max_steps=steps, lr=2e-2)
    tiny_config["adapter"]["target_modules"] = TARGETS
    tiny_config["checkpoint"] = {"every_steps": halt}
    full = run_training(corpus, tiny_config, output=tmp_path / "full")
    assert full["steps_skipped"] == 0
    assert full["eval_perplexity"] < full["initial_eval_perplexity"]
    assert full["model"]["attention_reason"]
    if device == "cuda":
        assert full["model"]["dtype"] == "bfloat16" and full["throughput"]["mfu"] is not None
        assert full["model"]["attention"] in ("varlen", "flex"), full["model"]["attention_reason"]

    halted = run_training(
        corpus, tiny_config, [f"train.halt_after_steps={halt}"], output=tmp_path / "resumed"
    )
    assert halted["halted"]
    resumed = run_training(corpus, tiny_config, output=tmp_path / "resumed")
    assert resumed["resumed_from"] == halt
    assert [p["loss"] for p in resumed["loss_curve"]] == [p["loss"] for p in full["loss_curve"]]
    a = (tmp_path / "full" / "adapter_model.safetensors").read_bytes()
    assert a == (tmp_path / "resumed" / "adapter_model.safetensors").read_bytes()


@pytest.mark.gpu
@CUDA_ONLY
def test_compiled_layers_train_on_the_gpu(corpus, tiny_config, tmp_path):
    from train.recipe import run_training

    tiny_config["train"].update(max_steps=8, lr=2e-2)
    tiny_config["model"]["compile"] = True
    report = run_training(corpus, tiny_config, output=tmp_path / "out")
    assert report["steps_skipped"] == 0
    assert report["eval_perplexity"] < report["initial_eval_perplexity"]
