"""Token-summed cross-entropy (and KL to the base model) from hidden states, chunked.

With a 128k vocabulary a 2048-token row has 262M logits: 1 GiB in fp32 per row, plus as much again
for their gradient. The chunked path never holds more than `chunk` rows of logits: it takes the
final hidden states of the tokens that have a target, and for each chunk computes the logits, the
loss, and right away the gradient with respect to the hidden states (softmax - one_hot, times the
frozen head weight), keeping only that (n x hidden) gradient for backward. This is the
"fused linear cross-entropy" of Liger-Kernel / Apple's Cut-Cross-Entropy, in plain PyTorch.

A LoRA on the head itself (`target_modules` naming `lm_head`) is folded into the same pass. With a
random base (demo models built from config) it is what lets the loss fall at all: the frozen
random head's column space holds only hidden/vocab of any target distribution.

The same pass gives the forgetting-control term KL(p_base || p_adapted) per token from the base
model's hidden states (computed with the adapter disabled): its gradient with respect to the
adapted logits is simply p_adapted - p_base. Both terms are *sums* over tokens; the caller
normalises by the global token count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CHUNK_ELEMENTS = 1 << 27  # logits per chunk (512 MiB in fp32): ~1k tokens at a 128k vocabulary


def default_chunk(vocab_size: int) -> int:
    """Tokens per chunk so that one chunk of fp32 logits stays near CHUNK_ELEMENTS."""
    return max(64, CHUNK_ELEMENTS // max(1, vocab_size))


class _ChunkedHeadLoss(torch.autograd.Function):
    """Forward computes both sums and, chunk by chunk, their gradients; backward only scales them.

    The head is `W` (frozen) plus an optional LoRA `s * B A`. For each loss term t (CE, KL) with
    logit gradient G_t (chunk x V) we keep dh = G_t W + s (G_t B) A, dB = s G_t^T (h A^T) and
    dA = s (G_t B)^T h; the LoRA pieces are summed over chunks in fp32.
    """

    @staticmethod
    def forward(
        ctx, hidden, weight, lora_a, lora_b, scaling: float, labels, base_hidden, chunk: int
    ):
        lora = lora_a is not None
        n_terms = 2 if base_hidden is not None else 1
        sums = torch.zeros(2, dtype=torch.float32, device=hidden.device)
        grad_h = [torch.empty_like(hidden) for _ in range(n_terms)]
        grad_a = (
            [
                torch.zeros(lora_a.shape, dtype=torch.float32, device=hidden.device)
                for _ in range(n_terms)
            ]
            if lora
            else []
        )
        grad_b = (
            [
                torch.zeros(lora_b.shape, dtype=torch.float32, device=hidden.device)
                for _ in range(n_terms)
            ]
            if lora
            else []
        )
        for lo in range(0, hidden.shape[0], chunk):
            hi = min(lo + chunk, hidden.shape[0])
            h, target = hidden[lo:hi], labels[lo:hi]
            logits = h @ weight.t()
            if lora:
                ha = h @ lora_a.t()
                logits.addmm_(ha, lora_b.t(), alpha=scaling)
            logits = logits.float()
            lse = torch.logsumexp(logits, dim=-1)
            sums[0] += (lse - logits.gather(1, target[:, None]).squeeze(1)).sum()
            log_p = logits.sub_(lse[:, None])  # in place: the logits become log-probabilities
            p = log_p.exp()
            grads = []
            if base_hidden is not None:
                log_base = torch.log_softmax((base_hidden[lo:hi] @ weight.t()).float(), dim=-1)
                p_base = log_base.exp()
                sums[1] += (p_base * (log_base - log_p)).sum()
                grads.append((1, (p - p_base).to(weight.dtype)))
            p[torch.arange(hi - lo, device=p.device), target] -= 1.0  # d ce / d logits
            grads.append((0, p.to(weight.dtype)))
            for t, g in grads:
                grad_h[t][lo:hi] = g @ weight
                if lora:
                    gb = g @ lora_b  # (chunk, r)
                    grad_h[t][lo:hi].addmm_(gb, lora_a, alpha=scaling)
                    grad_b[t].add_((g.t() @ ha).float(), alpha=scaling)
                    grad_a[t].add_((gb.t() @ h).float(), alpha=scaling)
        ctx.lora, ctx.n_terms = lora, n_terms
        ctx.lora_dtype = lora_a.dtype if lora else None
        ctx.save_for_backward(*grad_h, *grad_a, *grad_b)
        return sums[0], sums[1]

    @staticmethod
    def backward(ctx, g_ce, g_kl):
        saved, k = ctx.saved_tensors, ctx.n_terms
        scales = (g_ce, g_kl)[:k]

        def combine(parts):
            return sum(part * s.to(part.dtype) for part, s in zip(parts, scales, strict=True))

        grad_hidden = combine(saved[:k])
        grad_a = combine(saved[k : 2 * k]).to(ctx.lora_dtype) if ctx.lora else None
        grad_b = combine(saved[2 * k : 3 * k]).to(ctx.lora_dtype) if ctx.lora else None
        return grad_hidden, None, grad_a, grad_b, None, None, None, None


def chunked_head_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    base_hidden: torch.Tensor | None = None,
    chunk: int | None = None,
    lora: tuple[torch.Tensor, torch.Tensor, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed CE (and KL to the base) of `labels` under logits `hidden @ (W + s B A).T`, chunked.

    Args:
        hidden: (n, H) final hidden states of the tokens that have a target.
        weight: (V, H) output head weight; must be frozen (its gradient is not computed).
        labels: (n,) target ids.
        base_hidden: (n, H) hidden states of the base model (no grad), or None for no KL. The base
            head is `weight` alone.
        chunk: tokens per chunk (default from the vocabulary size).
        lora: optional LoRA on the head: (A (r, H), B (V, r), scaling), trainable.

    Returns:
        (ce_sum, kl_sum) as fp32 scalars; kl_sum is 0 without `base_hidden`.
    """
    if weight.requires_grad:
        raise ValueError(
            "chunked_head_loss needs a frozen output head weight; use the full loss path"
        )
    if hidden.shape[0] == 0:
        zero = hidden.sum().float() * 0.0  # keeps the graph connected for DDP
        if lora is not None:
            zero = zero + 0.0 * (lora[0].sum() + lora[1].sum()).float()
        return zero, zero.detach()
    chunk = chunk or default_chunk(weight.shape[0])
    lora_a, lora_b, scaling = (
        (lora[0].to(weight.dtype), lora[1].to(weight.dtype), float(lora[2]))
        if lora is not None
        else (None, None, 0.0)
    )
    base_hidden = base_hidden.to(weight.dtype) if base_hidden is not None else None
    return _ChunkedHeadLoss.apply(
        hidden.to(weight.dtype), weight, lora_a, lora_b, scaling, labels, base_hidden, chunk
    )


def full_head_loss(
    logits: torch.Tensor, labels: torch.Tensor, base_logits: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: summed CE and KL(base || adapted) from materialised (n, V) logits."""
    log_p = torch.log_softmax(logits.float(), dim=-1)
    ce = F.nll_loss(log_p, labels, reduction="sum")
    if base_logits is None:
        return ce, torch.zeros((), dtype=torch.float32, device=logits.device)
    log_base = torch.log_softmax(base_logits.float(), dim=-1)
    return ce, F.kl_div(log_p, log_base, log_target=True, reduction="sum")
