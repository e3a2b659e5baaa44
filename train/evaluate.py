"""Per-token loss of a saved model on whole eval sets (every document, not a sample of batches).

`evaluate_saved_model(model_dir, sets, ...)` loads a model written by full training (`model/`,
safetensors) and returns, for each named set of Arrow shards, the token-mean cross-entropy over
every target token and its perplexity. Documents are packed exactly as in training (same row
length, per-document attention), so a loss here is comparable with the training eval curve.
Used by `curate ablate` to score every arm's checkpoints on the same eval data.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from train.attention import register_packed_attention, resolve_backend
from train.config import DataConfig
from train.loader import eval_batches
from train.objective import CausalLMObjective
from train.shards import ShardDocuments


@torch.no_grad()
def evaluate_saved_model(
    model_dir: str | Path,
    sets: dict[str, list[str | Path]],
    pad_id: int,
    max_seq_len: int,
    micro_batch_size: int = 8,
    device: str | torch.device | None = None,
) -> dict[str, dict]:
    """{set name: {"loss", "perplexity", "tokens", "docs"}} over every document of each set.

    Args:
        model_dir: a directory `from_pretrained` loads (config.json + model.safetensors).
        sets: set name -> Arrow shard paths (the shard contract: id, input_ids).
        pad_id: padding token id.
        max_seq_len: row length (use the training value).
        micro_batch_size: rows per forward pass.
        device: default CUDA when available, else CPU.
    """
    from transformers import AutoModelForCausalLM

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
    attention = resolve_backend("auto", dev, dtype)
    model.set_attn_implementation(register_packed_attention())
    model.to(dev).eval()
    objective = CausalLMObjective(model, attention, "full", 0.0, None)
    cfg = DataConfig(max_seq_len=max_seq_len, micro_batch_size=micro_batch_size)
    vocab = model.config.vocab_size
    out = {}
    for name, paths in sets.items():
        docs = ShardDocuments(paths, vocab)
        batches = eval_batches(docs, np.arange(len(docs)), cfg, 1, 0, 1 << 30, pad_id)
        ce, tokens = 0.0, 0
        for batch in batches:
            batch_ce, _ = objective(batch.to(dev), with_kl=False)
            ce += float(batch_ce)
            tokens += batch.n_label_tokens
        loss = ce / max(1, tokens)
        out[name] = {
            "loss": loss,
            "perplexity": math.exp(min(loss, 700.0)),
            "tokens": int(tokens),
            "docs": len(docs),
        }
    return out
