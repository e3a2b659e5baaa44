"""AdamW over the adapter parameters, with linear warmup then cosine decay."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from train.config import LoopConfig


def build_optimizer(
    params: list[torch.nn.Parameter], cfg: LoopConfig, device: torch.device
) -> torch.optim.AdamW:
    """AdamW on the trainable parameters; the fused CUDA kernel when training on a GPU."""
    return torch.optim.AdamW(
        params,
        lr=cfg.lr,
        betas=tuple(cfg.betas),
        eps=cfg.eps,
        weight_decay=cfg.weight_decay,
        fused=device.type == "cuda",
    )


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float
) -> LambdaLR:
    """LR multiplier: (s+1)/warmup during warmup, then cosine from 1 to `min_lr_ratio` at the last step.

    A plain function (not a lambda object with state) so the scheduler's state_dict holds only
    numbers and reloads with `torch.load(weights_only=True)`.
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps - 1)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
