"""Which packed-attention backend this torch can run, found by trying it, not by its version.

`torch.nn.attention.varlen.varlen_attn` changed its signature three times within a year:

* Oct 2025 (PR #164502, the first public form; torch 2.9/2.10): `(q, k, v, cu_seq_q, cu_seq_k,
  max_q, max_k, is_causal=False, return_aux=None)`, later with `..., scale=None` appended.
* Jan 2026 (PRs #172238, #172245): `is_causal` removed; keyword-only `return_aux`, `scale`,
  `window_size=(-1, -1)` (causal is `(-1, 0)`), then `seqused_k`, `block_table`, `num_splits`.
  Assumed to be torch 2.11's form (it lies between 2.10 and the next change; not confirmed).
* Apr 2026 (PR #179468): `enable_gqa=False` added (the 2.12 docs and the 2.13 wheel have it).

So `choose_backend` reads the installed function's parameters, derives the call forms it could
take, in preference order (native GQA before K/V heads repeated; `window_size` before
`is_causal`), and runs each once, forward and backward, on a tiny packed batch against a masked
SDPA reference. The first form that agrees wins. If none does, `flex_attention` with a document
block mask is tried the same way, then masked SDPA (always exact). The winner and the reason are
cached per (request, device, dtype) and recorded in the training report.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from train.attention_masks import document_causal_mask, flex_block_mask

log = logging.getLogger("train")

_lock = threading.RLock()  # re-entrant: a probe under the lock builds the flex function
_choices: dict[tuple, AttentionChoice] = {}
_varlen_forms: dict[Callable, VarlenCall] = {}  # keyed by the function: a monkeypatch is a new key
_flex_fns: dict[str, Callable] = {}

# The trial batch: two documents (5 and 11 tokens) and a pad segment, 4 query heads over 2 K/V
# heads (GQA), head dim 64 (every flash/flex kernel supports it).
_TRIAL_SEGMENTS = (5, 11, 3)
_TRIAL_HEADS, _TRIAL_KV_HEADS, _TRIAL_DIM = 4, 2, 64


@dataclass(frozen=True)
class VarlenCall:
    """One way of calling the installed `varlen_attn` for causal, per-document attention."""

    fn: Callable
    causal: str  # "window_size": window_size=(-1, 0); "is_causal": is_causal=True
    native_gqa: bool  # pass enable_gqa=True; otherwise K/V heads are repeated to the query's count
    has_scale: bool  # pass scale=; otherwise the query is pre-scaled (the kernel uses 1/sqrt(D))

    def __call__(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        cu_seqlens: torch.Tensor,
        max_seqlen: int,
        scale: float | None = None,
    ) -> torch.Tensor:
        """Causal attention within each segment; q (T, Hq, D), k/v (T, Hkv, D) -> (T, Hq, D)."""
        kwargs: dict = {}
        groups = query.shape[1] // key.shape[1]
        if groups > 1:
            if self.native_gqa:
                kwargs["enable_gqa"] = True
            else:  # the same head mapping as SDPA's enable_gqa: query head h reads K/V head h // groups
                key = key.repeat_interleave(groups, dim=1)
                value = value.repeat_interleave(groups, dim=1)
        if self.causal == "window_size":
            kwargs["window_size"] = (-1, 0)
        else:
            kwargs["is_causal"] = True
        if scale is not None:
            if self.has_scale:
                kwargs["scale"] = scale
            else:
                factor = scale * math.sqrt(query.shape[-1])
                if abs(factor - 1.0) > 1e-12:  # Llama's scale is exactly the default: no rounding
                    query = query * factor
        cu = cu_seqlens
        return self.fn(query, key, value, cu, cu, max_seqlen, max_seqlen, **kwargs)

    def describe(self) -> str:
        """What this form does, in words, for the log and the report."""
        parts = [
            "window_size=(-1, 0)" if self.causal == "window_size" else "is_causal=True",
            "native GQA (enable_gqa)" if self.native_gqa else "K/V heads repeated",
        ]
        if not self.has_scale:
            parts.append("query pre-scaled (no scale argument)")
        return ", ".join(parts)


@dataclass(frozen=True)
class AttentionChoice:
    """The backend `PackedAttention` will use, and why."""

    backend: str  # "varlen" | "flex" | "sdpa"
    reason: str
    varlen: VarlenCall | None = None


def varlen_forms(fn: Callable) -> tuple[list[VarlenCall], list[str]]:
    """The call forms `fn`'s signature admits, best first, and notes on what it lacks."""
    try:
        params = inspect.signature(fn).parameters
        open_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    except (TypeError, ValueError):  # no signature (a C builtin): let the trials decide
        params, open_kw = {}, True
    accepts = lambda name: open_kw or name in params  # noqa: E731
    notes = []
    causal = [c for c in ("window_size", "is_causal") if accepts(c)]
    if "window_size" not in causal:
        notes.append("varlen_attn lacks window_size: is_causal=True form")
    gqa = [True, False] if accepts("enable_gqa") else [False]
    if not accepts("enable_gqa"):
        notes.append("varlen_attn lacks enable_gqa: K/V heads repeated")
    if not accepts("scale"):
        notes.append("varlen_attn lacks scale: query pre-scaled")
    forms = [VarlenCall(fn, c, g, accepts("scale")) for c in causal for g in gqa]
    if not causal:
        notes.append("varlen_attn takes neither window_size nor is_causal: no causal form")
    return forms, notes


def load_varlen() -> Callable | None:
    """The installed `varlen_attn`, or None if this torch has none."""
    try:
        from torch.nn.attention import varlen
    except ImportError:
        return None
    return getattr(varlen, "varlen_attn", None)


def current_varlen_call() -> VarlenCall:
    """The form `PackedAttention` calls: the probe's pick, else the signature's preferred form.

    Raises:
        RuntimeError: this torch has no usable `varlen_attn`.
    """
    fn = load_varlen()
    call = _varlen_forms.get(fn) if fn is not None else None
    if call is not None:
        return call
    with _lock:
        if fn is None:
            raise RuntimeError("this torch has no torch.nn.attention.varlen.varlen_attn")
        if fn not in _varlen_forms:
            forms, notes = varlen_forms(fn)
            if not forms:
                raise RuntimeError("; ".join(notes))
            _varlen_forms[fn] = forms[0]
        return _varlen_forms[fn]


def flex_function(device: torch.device) -> Callable:
    """`flex_attention`, compiled on CUDA (its fast path) and eager elsewhere (CPU tests)."""
    key = device.type
    fn = _flex_fns.get(key)
    if fn is not None:
        return fn
    with _lock:
        if key not in _flex_fns:
            from torch.nn.attention.flex_attention import flex_attention

            _flex_fns[key] = (
                torch.compile(flex_attention, dynamic=False) if key == "cuda" else flex_attention
            )
        return _flex_fns[key]


@functools.cache
def flex_accepts_gqa() -> bool:
    """Whether `flex_attention` takes `enable_gqa` (torch >= 2.5); else K/V heads are repeated."""
    from torch.nn.attention.flex_attention import flex_attention

    try:
        return "enable_gqa" in inspect.signature(flex_attention).parameters
    except (TypeError, ValueError):
        return False


def run_flex(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    block_mask: Any,
    scale: float | None,
) -> torch.Tensor:
    """flex attention on (B, H, S, D) tensors, with native GQA where this torch has it."""
    gqa = query.shape[1] != key.shape[1]
    kwargs = {}
    if gqa and flex_accepts_gqa():
        kwargs["enable_gqa"] = True
    elif gqa:
        groups = query.shape[1] // key.shape[1]
        key, value = key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1)
    fn = flex_function(query.device)
    return fn(query, key, value, block_mask=block_mask, scale=scale, **kwargs)


# ------------------------------------------------------------------------------------ trials
def _trial_inputs(device: torch.device, dtype: torch.dtype, grad: bool):
    gen = torch.Generator().manual_seed(0)
    total = sum(_TRIAL_SEGMENTS)

    def rand(heads):
        t = torch.randn(total, heads, _TRIAL_DIM, generator=gen).to(device, dtype)
        return t.requires_grad_(grad)

    q, k, v = rand(_TRIAL_HEADS), rand(_TRIAL_KV_HEADS), rand(_TRIAL_KV_HEADS)
    segment_ids = torch.repeat_interleave(
        torch.arange(len(_TRIAL_SEGMENTS)), torch.tensor(_TRIAL_SEGMENTS)
    ).to(device)[None]
    cu = torch.tensor([0, *torch.tensor(_TRIAL_SEGMENTS).cumsum(0).tolist()], dtype=torch.int32)
    return q, k, v, segment_ids, cu.to(device)


def reference_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, segment_ids: torch.Tensor
) -> torch.Tensor:
    """Masked SDPA in float32 on (B, H, S, D) tensors: the exact answer every backend must give."""
    return F.scaled_dot_product_attention(
        query.float(),
        key.float(),
        value.float(),
        attn_mask=document_causal_mask(segment_ids),
        enable_gqa=query.shape[1] != key.shape[1],
    )


def _check(out: torch.Tensor, ref: torch.Tensor, tensors, grad: bool) -> None:
    # Half precision keeps 8 (bf16) or 11 (fp16) significant bits: a correct kernel lands within a
    # couple of eps of the float32 answer, relative to the outputs' size (averages of unit-normal
    # values, so up to ~3). A cross-document leak or a missing causal mask moves outputs by ~0.3-1.
    eps = 1e-5 if out.dtype == torch.float32 else 2.0 * torch.finfo(out.dtype).eps
    tol = eps * max(1.0, ref.abs().max().item())
    err = (out.float() - ref).abs().max().item()
    if not err <= tol:
        raise AssertionError(f"output differs from masked SDPA by {err:.3g} (> {tol:.3g})")
    if grad:
        out.float().square().sum().backward()
        for t in tensors:
            if t.grad is None or not torch.isfinite(t.grad).all():
                raise AssertionError("backward gave no or non-finite gradients")


def trial_varlen(call: VarlenCall, device: torch.device, dtype: torch.dtype, grad: bool) -> None:
    """Runs `call` once on the trial batch; raises if it fails or disagrees with the reference."""
    q, k, v, segment_ids, cu = _trial_inputs(device, dtype, grad)
    out = call(q, k, v, cu, max(_TRIAL_SEGMENTS), scale=1.0 / math.sqrt(_TRIAL_DIM))
    to_bhsd = lambda t: t.detach().transpose(0, 1)[None]  # noqa: E731
    ref = reference_attention(to_bhsd(q), to_bhsd(k), to_bhsd(v), segment_ids)
    _check(out, ref[0].transpose(0, 1), (q, k, v), grad)


def trial_flex(device: torch.device, dtype: torch.dtype, grad: bool) -> None:
    """Runs flex attention with a document block mask once; raises if it fails or disagrees."""
    q, k, v, segment_ids, _ = _trial_inputs(device, dtype, grad)
    bhsd = [t.detach().transpose(0, 1)[None].contiguous().requires_grad_(grad) for t in (q, k, v)]
    out = run_flex(*bhsd, flex_block_mask(segment_ids), scale=None)
    _check(out, reference_attention(*(t.detach() for t in bhsd), segment_ids), bhsd, grad)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}"


def probe_chain(device: torch.device, dtype: torch.dtype, grad: bool = True) -> AttentionChoice:
    """Tries varlen (every admissible form), then flex, then settles for masked SDPA.

    Args:
        device: where training runs.
        dtype: the attention inputs' dtype.
        grad: also run backward in each trial (training needs it; CPU flex has no backward).
    """
    failures: list[str] = []
    fn = load_varlen()
    if fn is None:
        failures.append("torch has no torch.nn.attention.varlen")
    else:
        forms, notes = varlen_forms(fn)
        for call in forms:
            try:
                trial_varlen(call, device, dtype, grad)
            except Exception as exc:  # any failure means: not this form, try the next
                failures.append(f"varlen [{call.describe()}] failed its trial: {_short(exc)}")
                continue
            _varlen_forms[fn] = call
            said = "; ".join(notes + failures) or "varlen_attn accepts window_size and enable_gqa"
            return AttentionChoice("varlen", f"{said} -> {call.describe()}", call)
        failures[:0] = notes  # what the signature lacked, then what the trials said
    try:
        trial_flex(device, dtype, grad)
    except Exception as exc:
        failures.append(f"flex failed its trial: {_short(exc)}")
    else:
        return AttentionChoice(
            "flex", "; ".join(failures) + " -> flex_attention, document BlockMask"
        )
    return AttentionChoice("sdpa", "; ".join(failures) + " -> masked SDPA")


def choose_backend(requested: str, device: torch.device, dtype: torch.dtype) -> AttentionChoice:
    """The packed-attention backend for `model.attention = requested` here (cached, thread-safe).

    `auto` probes on CUDA and takes masked SDPA elsewhere. An explicit `varlen` or `flex` must
    pass its own trial on CUDA; an explicit `sdpa` is taken as is.

    Raises:
        ValueError: `varlen`/`flex` requested off CUDA or failing its trial here.
    """
    key = (requested, str(device), dtype, load_varlen())
    choice = _choices.get(key)
    if choice is not None:
        return choice
    with _lock:  # one probe per key even if several threads ask at once
        if key not in _choices:
            _choices[key] = _decide(requested, device, dtype)
            log.info("attention backend %s: %s", _choices[key].backend, _choices[key].reason)
        return _choices[key]


def _decide(requested: str, device: torch.device, dtype: torch.dtype) -> AttentionChoice:
    if requested == "sdpa":
        return AttentionChoice("sdpa", "model.attention sdpa: masked SDPA as configured")
    if device.type != "cuda":
        if requested != "auto":
            raise ValueError(
                f"model.attention {requested!r} needs a CUDA device; use 'sdpa' or 'auto' on {device.type}"
            )
        return AttentionChoice(
            "sdpa", f"{device.type}: masked SDPA (varlen and flex are CUDA paths)"
        )
    choice = probe_chain(device, dtype)
    if requested in ("varlen", "flex") and choice.backend != requested:
        if requested == "flex":  # varlen may have won the chain: flex gets its own trial
            try:
                trial_flex(device, dtype, grad=True)
                return AttentionChoice("flex", "model.attention flex: passed its trial")
            except Exception as exc:
                raise ValueError(f"model.attention flex does not work here: {_short(exc)}") from exc
        raise ValueError(f"model.attention varlen does not work here: {choice.reason}")
    return choice


def reset_probe_cache() -> None:
    """Forgets every probe result (tests that swap `varlen_attn`)."""
    with _lock:
        _choices.clear()
        _varlen_forms.clear()
        _flex_fns.clear()
