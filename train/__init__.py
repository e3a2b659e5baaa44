"""LoRA training stage of curate: reads a curation manifest and trains a peft adapter.

Entry point: `run_training(manifest_path, config, overrides=(), force=False, output=None)`
(also `python -m train`, and `torchrun --nproc_per_node N -m train` for data parallelism). This
package never imports the curation packages: the manifest and shard schema are the whole
contract. Beam is imported in one place only, `train.storage`, lazily and only for a path with a
URL scheme (`gs://...`), so training on local files needs no Beam. Heavy modules (torch, transformers, peft) load on first use of these names, so
`import train` stays cheap for the pipeline that triggers it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_training": "train.recipe",
    "LoRARecipe": "train.recipe",
    "TrainingDiverged": "train.recipe",
    "TrainConfig": "train.config",
    "load_train_config": "train.config",
    "run_identity": "train.config",
    "ConfigError": "train.typed_config",
    "Manifest": "train.manifest",
    "ManifestError": "train.manifest",
    "load_manifest": "train.manifest",
    "verify_manifest": "train.manifest",
    "ShardDocuments": "train.shards",
    "PackedRows": "train.packing",
    "pack_documents": "train.packing",
    "Batch": "train.batch",
    "collate": "train.batch",
    "TrainLoader": "train.loader",
    "DataCursor": "train.loader",
    "CausalLMObjective": "train.objective",
    "chunked_head_loss": "train.lm_loss",
    "fuse_lora_layers": "train.fused_lora",
    "lora_linear": "train.fused_lora",
    "PackedAttention": "train.attention",
    "flops_per_token": "train.metrics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'train' has no attribute {name!r}")
