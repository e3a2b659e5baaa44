"""The training objective as one module: batch in, summed losses out (what DDP wraps).

`CausalLMObjective(batch)` returns (ce_sum, kl_sum) over the batch's target tokens. Two paths:

* `chunked` (LoRA; a frozen output head, optionally with its own LoRA): run the decoder to final hidden states, keep the rows that
  have a target, and compute CE/KL with `chunked_head_loss` (no full logits).
* `full`: the model's own forward to logits (prompt/prefix tuning, which peft implements in
  `PeftModel.forward`, or heads the chunked path does not model, e.g. logit soft-capping).

For KL the same forward runs again under `disable_adapter()` and `no_grad`: the base model's
predictions come from the very same module with the adapter switched off, so no second copy of the
model is ever held.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from train.attention import PackedAttention
from train.batch import Batch
from train.lm_loss import chunked_head_loss, full_head_loss


def head_parts(
    model: nn.Module,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, float] | None] | None:
    """The output head as (frozen weight, optional LoRA (A, B, scaling)), or None if the chunked
    loss cannot model it (a bias, a trainable weight, logit soft-capping or scaling, LoRA variants)."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = lm.config
    if getattr(config, "final_logit_softcapping", None) is not None or getattr(
        config, "logit_scale", None
    ) not in (None, 1.0):
        return None
    head = lm.get_output_embeddings()
    lora = None
    if isinstance(head, LoraLinear):
        names = [a for a in head.active_adapters if a in head.lora_A]
        dropout_free = all(isinstance(d, nn.Identity) for d in head.lora_dropout.values())
        if len(names) != 1 or head.lora_variant or not dropout_free or head.merged:
            return None
        lora = (
            head.lora_A[names[0]].weight,
            head.lora_B[names[0]].weight,
            float(head.scaling[names[0]]),
        )
        head = head.get_base_layer()
    if type(head) is not nn.Linear or head.bias is not None or head.weight.requires_grad:
        return None
    return head.weight, lora


def chunked_loss_supported(model: nn.Module) -> bool:
    """Whether the chunked loss can stand in for the model's output head."""
    return head_parts(model) is not None


class CausalLMObjective(nn.Module):
    """Next-token loss of a peft model on packed (or one-document-per-row) batches.

    Args:
        model: the peft model.
        attention: `sdpa`/`varlen`/`flex` for packed rows, or `hf` for rows of one document that
            use the model's own attention with a padding mask.
        loss_mode: `chunked` or `full`.
        kl_weight: weight of the KL term; 0 skips the base-model pass.
        autocast_dtype: mixed-precision dtype on CUDA, or None for none.
        chunk: tokens per logits chunk (default from the vocabulary size).
    """

    def __init__(
        self,
        model: nn.Module,
        attention: str,
        loss_mode: str,
        kl_weight: float = 0.0,
        autocast_dtype: torch.dtype | None = None,
        chunk: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.attention, self.loss_mode, self.kl_weight = attention, loss_mode, kl_weight
        self.autocast_dtype, self.chunk = autocast_dtype, chunk

    def _autocast(self, device: torch.device):
        if self.autocast_dtype is None or device.type != "cuda":
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)

    def _inputs(self, batch: Batch) -> dict:
        if self.attention == "hf":
            return {
                "input_ids": batch.input_ids,
                "attention_mask": batch.attention_mask.long(),
                "use_cache": False,
            }
        layout = PackedAttention.build(
            self.attention, batch.segment_ids, batch.cu_seqlens, batch.max_seqlen
        )
        return {
            "input_ids": batch.input_ids,
            "position_ids": batch.position_ids,
            "use_cache": False,
            "curate_attn": layout,
        }

    def _hidden(self, inputs: dict) -> torch.Tensor:
        return self.model.get_base_model().get_decoder()(**inputs).last_hidden_state

    def _logits(self, inputs: dict) -> torch.Tensor:
        logits = self.model(**inputs).logits
        # Prompt tuning returns logits for its virtual tokens too; they come first.
        return logits[:, -inputs["input_ids"].shape[1] :]

    def forward(
        self, batch: Batch, with_kl: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed (CE, KL) over the target tokens of `batch` (fp32 scalars)."""
        use_kl = self.kl_weight > 0 if with_kl is None else with_kl
        index, labels = batch.target_index, batch.target_labels

        def targets(x: torch.Tensor) -> torch.Tensor:  # (B, S, ...) -> rows that have a target
            return x.flatten(0, 1).index_select(0, index)

        inputs = self._inputs(batch)
        with self._autocast(batch.input_ids.device):
            if self.loss_mode == "chunked":
                hidden = targets(self._hidden(inputs))
                base = None
                if use_kl:
                    with torch.no_grad(), self.model.disable_adapter():
                        base = targets(self._hidden(inputs))
                weight, lora = head_parts(self.model)
                return chunked_head_loss(hidden, weight, labels, base, self.chunk, lora)
            logits = targets(self._logits(inputs))
            base_logits = None
            if use_kl:
                with torch.no_grad(), self.model.disable_adapter():
                    base_logits = targets(self._logits(inputs))
            return full_head_loss(logits, labels, base_logits)
