"""Throughput accounting: FLOPs per token for LoRA training and model FLOPs utilisation (MFU).

Per token, a frozen weight matrix with N entries costs 2N FLOPs forward and 2N backward (gradient
to its input only), a trainable one 2N + 2N + 2N (input and weight gradients): 4*N_frozen +
6*N_trainable, counting matmul weights only (the output head included, embedding lookups not).
Attention adds, per layer, 4*d FLOPs per attended key forward (QK^T and AV, d = heads * head_dim),
three times that for training. With document masking a token of a document of length L attends
(L+1)/2 keys on average, so we use the batch's measured causal pairs, not the row length: padding
and cross-document pairs are not useful work and are not counted.
"""

from __future__ import annotations

import os

import torch

# Dense bf16 tensor-core peaks (FLOP/s) from vendor datasheets, matched on the device name.
GPU_PEAK_BF16 = (
    ("H200", 989.4e12),
    ("H100 PCIe", 756.0e12),
    ("H100", 989.4e12),
    ("GH200", 989.4e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("RTX 4090", 165e12),
    ("V100", 125e12),
)
# One CPU core: 2 AVX2 FMA units x 8 fp32 lanes x 2 FLOPs at ~2 GHz. An estimate; CPU MFU is indicative.
CPU_PEAK_PER_THREAD = 64e9


def peak_flops(device: torch.device, override: float | None = None) -> tuple[float | None, str]:
    """(peak FLOP/s of one device, where the number came from)."""
    if override:
        return float(override), "config output.peak_flops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in GPU_PEAK_BF16:
            if key in name:
                return value, f"datasheet bf16 dense peak for {name}"
        return None, f"unknown GPU {name!r}: set output.peak_flops for MFU"
    threads = torch.get_num_threads()
    return (
        threads * CPU_PEAK_PER_THREAD,
        f"estimate: {threads} threads x {CPU_PEAK_PER_THREAD:.0e} FLOP/s (AVX2 FMA fp32)",
    )


def flops_per_token(
    frozen_matmul: int, trainable: int, layers: int, attn_dim: int, mean_context: float
) -> float:
    """Training FLOPs per token: 4*N_frozen + 6*N_trainable + 12 * layers * attn_dim * context."""
    return 4.0 * frozen_matmul + 6.0 * trainable + 12.0 * layers * attn_dim * mean_context


class Throughput:
    """Per-step tokens, attention pairs and seconds; the summary leaves out a process's first step
    (it pays for warm-up, allocator growth and compilation) whenever there are others."""

    def __init__(
        self,
        frozen_matmul: int,
        trainable: int,
        layers: int,
        attn_dim: int,
        world_size: int,
        peak: float | None,
    ) -> None:
        self.frozen_matmul, self.trainable, self.layers, self.attn_dim = (
            frozen_matmul,
            trainable,
            layers,
            attn_dim,
        )
        self.world_size, self.peak = world_size, peak
        self.steps: list[tuple[int, int, float]] = []

    def add(self, tokens: int, attn_pairs: int, seconds: float) -> None:
        """Adds one step: global tokens, global causal (query, key) pairs, wall seconds."""
        self.steps.append((tokens, attn_pairs, seconds))

    def summary(self) -> dict:
        steps = self.steps[1:] if len(self.steps) > 1 else self.steps
        tokens = sum(s[0] for s in steps)
        seconds = sum(s[2] for s in steps)
        context = sum(s[1] for s in steps) / tokens if tokens else 0.0
        per_token = flops_per_token(
            self.frozen_matmul, self.trainable, self.layers, self.attn_dim, context
        )
        tokens_per_s = tokens / seconds if seconds else 0.0
        mfu = (
            tokens_per_s * per_token / (self.peak * self.world_size)
            if self.peak and seconds
            else None
        )
        return {
            "measured_steps": len(steps),
            "tokens": tokens,
            "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens_per_s, 1),
            "tokens_per_s_per_device": round(tokens_per_s / self.world_size, 1),
            "flops_per_token": per_token,
            "mean_attended_keys": round(context, 2),
            "mfu": None if mfu is None else round(mfu, 6),
        }


def host_description() -> str:
    """A short description of where the run happened (for reports)."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"cpu x{os.cpu_count()} ({torch.get_num_threads()} torch threads)"
