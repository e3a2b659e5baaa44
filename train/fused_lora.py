"""A fused forward/backward for peft's LoRA linear layers (plain LoRA, no dropout).

peft's `lora.Linear.forward` computes `base(x) + lora_B(lora_A(dropout(x))) * scaling`: it casts the
activation `x` to the adapter dtype (fp32 adapters under bf16 autocast copy every activation to
fp32 and back), allocates a separate output for the low-rank path and then adds it. Here one
autograd Function does, in the compute dtype:

    forward:  xa = x A^T            (T x r, kept for backward)
              y  = x W^T (+ b);  y += s * xa B^T          (in place: no extra T x N buffer)
    backward: g_xa = s * g B;  dB = s * g^T xa;  dA = g_xa^T x
              dx = g W;  dx += g_xa A                      (in place)

so the frozen weight costs exactly what it costs a frozen model (one matmul each way), the
adapter adds only rank-r work, and only the tiny A and B are cast (the fp32 master copies stay
with the optimizer). We patch the *instance's* forward rather than replacing the module, so the
state dict, peft's save/load, `disable_adapter()` and merging all keep working; any call the fused
path does not cover (adapter disabled or merged, several adapters, variants such as DoRA) falls back
to peft's own forward.
"""

from __future__ import annotations

import types

import torch
from torch import nn


class _LoRALinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, lora_a, lora_b, scaling: float):
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        xa = x2 @ lora_a.t()
        out = x2 @ weight.t() if bias is None else torch.addmm(bias, x2, weight.t())
        out.addmm_(xa, lora_b.t(), alpha=scaling)
        ctx.save_for_backward(x2, xa, weight, lora_a, lora_b)
        ctx.scaling, ctx.shape = scaling, shape
        return out.view(*shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad_out):
        x2, xa, weight, lora_a, lora_b = ctx.saved_tensors
        g = grad_out.reshape(-1, grad_out.shape[-1])
        g_xa = (g @ lora_b).mul_(ctx.scaling)
        grad_a = g_xa.t() @ x2 if ctx.needs_input_grad[3] else None
        grad_b = (g.t() @ xa).mul_(ctx.scaling) if ctx.needs_input_grad[4] else None
        grad_x = (
            (g @ weight).addmm_(g_xa, lora_a).view(ctx.shape) if ctx.needs_input_grad[0] else None
        )
        return grad_x, None, None, grad_a, grad_b, None


def lora_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    scaling: float,
) -> torch.Tensor:
    """`x W^T + b + scaling * x A^T B^T` with a frozen W, in the autocast dtype when autocast is on."""
    device_type = x.device.type
    dtype = (
        torch.get_autocast_dtype(device_type)
        if torch.is_autocast_enabled(device_type)
        else weight.dtype
    )
    cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731  (no-ops when dtypes agree)
    with torch.autocast(device_type, enabled=False):
        return _LoRALinearFunction.apply(
            cast(x), cast(weight), cast(bias), cast(lora_a), cast(lora_b), float(scaling)
        )


def _fused_forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    adapters = [a for a in self.active_adapters if a in self.lora_A]
    if (
        self.disable_adapters
        or self.merged
        or args
        or kwargs
        or len(adapters) != 1
        or adapters[0] in self.lora_variant
    ):
        return self._curate_peft_forward(x, *args, **kwargs)
    name = adapters[0]
    base = self.get_base_layer()
    return lora_linear(
        x,
        base.weight,
        base.bias,
        self.lora_A[name].weight,
        self.lora_B[name].weight,
        self.scaling[name],
    )


def _eligible(module: nn.Module) -> bool:
    from peft.tuners.lora.layer import Linear as LoraLinear

    if not isinstance(module, LoraLinear) or getattr(module, "fan_in_fan_out", False):
        return False
    base = module.get_base_layer()
    if type(base) is not nn.Linear or base.weight.requires_grad:
        return False
    no_dropout = all(isinstance(d, nn.Identity) for d in module.lora_dropout.values())
    return no_dropout and not module.lora_variant


def fuse_lora_layers(model: nn.Module) -> int:
    """Switches every eligible peft LoRA linear layer of `model` to the fused path.

    Returns:
        How many layers were switched (0 when none qualify, e.g. with dropout > 0 or DoRA).
    """
    count = 0
    for module in model.modules():
        if _eligible(module) and not hasattr(module, "_curate_peft_forward"):
            module._curate_peft_forward = module.forward
            module.forward = types.MethodType(_fused_forward, module)
            count += 1
    return count
