"""Document-masked attention for packed rows, plugged into Hugging Face models.

We register one attention function, `curate_packed`, with transformers' `AttentionInterface`; the
model's attention layers call it with (query, key, value) and whatever extra keyword arguments the
model's forward received, so the trainer passes the row layout once per step as
`curate_attn=PackedAttention(...)`. Because the name is not in transformers' mask registry, the
model builds no mask of its own. Backends, all computing causal attention that never crosses a
segment boundary:

* `sdpa`: `scaled_dot_product_attention` with a block-diagonal causal boolean mask. Exact, works on
  every device (the CPU path and the reference the others are tested against); costs S^2 per row.
* `varlen`: flash attention over the flattened batch with cumulative segment lengths
  (`torch.nn.attention.varlen`, CUDA, bf16/fp16): no mask, no work across documents. Called in
  whichever form the installed torch accepts (`train.attention_probe`).
* `flex`: `flex_attention` with a document block mask (CUDA; compiled; skips masked blocks).

`resolve_backend` turns `model.attention` into one of these by trying them here
(`train.attention_probe.choose_backend`), never by reading torch's version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from train.attention_masks import document_causal_mask, flex_block_mask
from train.attention_probe import (
    AttentionChoice,
    VarlenCall,
    choose_backend,
    current_varlen_call,
    run_flex,
)

ATTENTION_NAME = "curate_packed"


@dataclass
class PackedAttention:
    """The row layout of one micro-batch, in the form the chosen backend needs."""

    backend: str
    doc_mask: torch.Tensor | None = None  # sdpa: (B, 1, S, S) bool, True where attention is allowed
    cu_seqlens: torch.Tensor | None = None  # varlen: int32 boundaries over the flattened batch
    max_seqlen: int = 0
    block_mask: Any = None  # flex: a BlockMask
    varlen: VarlenCall | None = None  # varlen: the call form this torch accepts

    @classmethod
    def build(
        cls, backend: str, segment_ids: torch.Tensor, cu_seqlens: torch.Tensor, max_seqlen: int
    ) -> PackedAttention:
        """Prepares `backend`'s inputs from a batch's segment ids / boundaries (once per micro-batch)."""
        if backend == "sdpa":
            return cls(backend, doc_mask=document_causal_mask(segment_ids))
        if backend == "varlen":
            return cls(
                backend,
                cu_seqlens=cu_seqlens.to(segment_ids.device, torch.int32),
                max_seqlen=int(max_seqlen),
                varlen=current_varlen_call(),
            )
        if backend == "flex":
            return cls(backend, block_mask=flex_block_mask(segment_ids))
        raise ValueError(f"unknown attention backend {backend!r}")


def packed_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    curate_attn: PackedAttention | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention over packed rows; query (B, Hq, S, D), key/value (B, Hkv, S, D) -> (B, S, Hq, D)."""
    if curate_attn is None:
        raise RuntimeError(
            f"attention '{ATTENTION_NAME}' needs curate_attn=PackedAttention(...) in the model call"
        )
    gqa = query.shape[1] != key.shape[1]
    if curate_attn.backend == "sdpa":
        out = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=curate_attn.doc_mask,
            dropout_p=dropout,
            scale=scaling,
            enable_gqa=gqa,
        )
        return out.transpose(1, 2).contiguous(), None
    if curate_attn.backend == "varlen":
        batch, heads, n, dim = query.shape
        flat = lambda t: t.transpose(1, 2).reshape(batch * n, t.shape[1], dim)  # noqa: E731
        call = curate_attn.varlen or current_varlen_call()
        out = call(
            flat(query),
            flat(key),
            flat(value),
            curate_attn.cu_seqlens,
            curate_attn.max_seqlen,
            scale=scaling,
        )
        return out.reshape(batch, n, heads, dim), None
    if curate_attn.backend == "flex":
        out = run_flex(query, key, value, curate_attn.block_mask, scale=scaling)
        return out.transpose(1, 2).contiguous(), None
    raise ValueError(f"unknown attention backend {curate_attn.backend!r}")


def register_packed_attention() -> str:
    """Registers `curate_packed` with transformers (idempotent) and returns its name."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, packed_attention_forward)
    return ATTENTION_NAME


def resolve_attention(requested: str, device: torch.device, dtype: torch.dtype) -> AttentionChoice:
    """The backend `model.attention = requested` means here, and why (probed once, cached)."""
    return choose_backend(requested, device, dtype)


def resolve_backend(requested: str, device: torch.device, dtype: torch.dtype) -> str:
    """The backend name `requested` means here: `varlen`, `flex` or `sdpa` (see `resolve_attention`)."""
    return choose_backend(requested, device, dtype).backend
