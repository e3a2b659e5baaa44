"""Token-summed cross-entropy (and KL to the base model) from hidden states, chunked.

With a 128k vocabulary a 2048-token row has 262M logits: 1 GiB in fp32 per row, plus as much again
for their gradient. The chunked path never holds more than `chunk` rows of logits: it takes the
final hidden states of the tokens that have a target, and for each chunk computes the logits, the
loss, and right away the gradient with respect to the hidden states (softmax - one_hot, times the
frozen head weight), keeping only that (n x hidden) gradient for backward. This is the
"fused linear cross-entropy" of Liger-Kernel / Apple's Cut-Cross-Entropy, in plain PyTorch.

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
    @staticmethod
    def forward(ctx, hidden, weight, labels, base_hidden, chunk: int):
        ce = torch.zeros((), dtype=torch.float32, device=hidden.device)
        kl = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_ce = torch.empty_like(hidden)
        grad_kl = torch.empty_like(hidden) if base_hidden is not None else None
        for lo in range(0, hidden.shape[0], chunk):
            hi = min(lo + chunk, hidden.shape[0])
            target = labels[lo:hi]
            logits = (hidden[lo:hi] @ weight.t()).float()
            lse = torch.logsumexp(logits, dim=-1)
            ce += (lse - logits.gather(1, target[:, None]).squeeze(1)).sum()
            log_p = logits.sub_(lse[:, None])  # in place: the logits become log-probabilities
            p = log_p.exp()
            if base_hidden is not None:
                log_base = torch.log_softmax((base_hidden[lo:hi] @ weight.t()).float(), dim=-1)
                p_base = log_base.exp()
                kl += (p_base * (log_base - log_p)).sum()
                grad_kl[lo:hi] = (p - p_base).to(weight.dtype) @ weight
            p[torch.arange(hi - lo, device=p.device), target] -= 1.0  # d ce / d logits
            grad_ce[lo:hi] = p.to(weight.dtype) @ weight
        ctx.save_for_backward(grad_ce, grad_kl)
        return ce, kl

    @staticmethod
    def backward(ctx, g_ce, g_kl):
        grad_ce, grad_kl = ctx.saved_tensors
        grad = grad_ce * g_ce.to(grad_ce.dtype)
        if grad_kl is not None:
            grad = grad + grad_kl * g_kl.to(grad_kl.dtype)
        return grad, None, None, None, None


def chunked_head_loss(
    hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, base_hidden: torch.Tensor | None = None, chunk: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed CE (and KL to the base) of `labels` under logits `hidden @ weight.T`, chunked.

    Args:
        hidden: (n, H) final hidden states of the tokens that have a target.
        weight: (V, H) output head weight; must be frozen (its gradient is not computed).
        labels: (n,) target ids.
        base_hidden: (n, H) hidden states of the base model (no grad), or None for no KL.
        chunk: tokens per chunk (default from the vocabulary size).

    Returns:
        (ce_sum, kl_sum) as fp32 scalars; kl_sum is 0 without `base_hidden`.
    """
    if weight.requires_grad:
        raise ValueError("chunked_head_loss needs a frozen output head; use the full loss path")
    if hidden.shape[0] == 0:
        zero = hidden.sum().float() * 0.0  # keeps the graph connected for DDP
        return zero, zero.detach()
    chunk = chunk or default_chunk(weight.shape[0])
    return _ChunkedHeadLoss.apply(hidden, weight, labels, base_hidden, chunk)


def full_head_loss(logits: torch.Tensor, labels: torch.Tensor, base_logits: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: summed CE and KL(base || adapted) from materialised (n, V) logits."""
    log_p = torch.log_softmax(logits.float(), dim=-1)
    ce = F.nll_loss(log_p, labels, reduction="sum")
    if base_logits is None:
        return ce, torch.zeros((), dtype=torch.float32, device=logits.device)
    log_base = torch.log_softmax(base_logits.float(), dim=-1)
    return ce, F.kl_div(log_p, log_base, log_target=True, reduction="sum")
