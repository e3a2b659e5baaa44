"""The training objective as one module: batch in, summed losses out (what DDP wraps).

`CausalLMObjective(batch)` returns (ce_sum, kl_sum) over the batch's target tokens. Two paths:

* `chunked` (LoRA, frozen output head): run the decoder to final hidden states, keep the rows that
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
from train.batch import IGNORE_INDEX, Batch
from train.lm_loss import chunked_head_loss, full_head_loss


def chunked_loss_supported(model: nn.Module) -> bool:
    """Whether the output head is a frozen bias-free linear map with nothing after it."""
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = lm.get_output_embeddings()
    config = lm.config
    plain = getattr(config, "final_logit_softcapping", None) is None and getattr(config, "logit_scale", None) in (None, 1.0)
    return isinstance(head, nn.Linear) and head.bias is None and not head.weight.requires_grad and plain


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

    def __init__(self, model: nn.Module, attention: str, loss_mode: str, kl_weight: float = 0.0, autocast_dtype: torch.dtype | None = None, chunk: int | None = None) -> None:
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
            return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask.long(), "use_cache": False}
        layout = PackedAttention.build(self.attention, batch.segment_ids, batch.cu_seqlens, batch.max_seqlen)
        return {"input_ids": batch.input_ids, "position_ids": batch.position_ids, "use_cache": False, "curate_attn": layout}

    def _hidden(self, inputs: dict) -> torch.Tensor:
        return self.model.get_base_model().get_decoder()(**inputs).last_hidden_state

    def _logits(self, inputs: dict) -> torch.Tensor:
        logits = self.model(**inputs).logits
        # Prompt tuning returns logits for its virtual tokens too; they come first.
        return logits[:, -inputs["input_ids"].shape[1] :]

    def forward(self, batch: Batch, with_kl: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed (CE, KL) over the target tokens of `batch` (fp32 scalars)."""
        use_kl = self.kl_weight > 0 if with_kl is None else with_kl
        target = batch.labels != IGNORE_INDEX
        labels = batch.labels[target]
        inputs = self._inputs(batch)
        with self._autocast(batch.input_ids.device):
            if self.loss_mode == "chunked":
                hidden = self._hidden(inputs)[target]
                base = None
                if use_kl:
                    with torch.no_grad(), self.model.disable_adapter():
                        base = self._hidden(inputs)[target]
                head = self.model.get_base_model().get_output_embeddings()
                return chunked_head_loss(hidden, head.weight, labels, base, self.chunk)
            logits = self._logits(inputs)[target]
            base_logits = None
            if use_kl:
                with torch.no_grad(), self.model.disable_adapter():
                    base_logits = self._logits(inputs)[target]
            return full_head_loss(logits, labels, base_logits)
