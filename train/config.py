"""The training configuration: typed sections loaded from YAML, validated before any work.

`load_train_config(source, overrides)` accepts a YAML path, a plain dict or a `TrainConfig`, applies
`--set key.path=value` overrides, and returns a `TrainConfig` or raises one `ConfigError` listing
every problem. `run_identity(config)` hashes the fields that decide the trained weights, so a
resumed run can refuse a checkpoint written under different settings while still accepting
changes to logging, evaluation or checkpoint cadence.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from train import storage
from train.typed_config import ConfigError, apply_overrides, build, to_dict


@dataclass
class FromConfigModel:
    """A small Llama-shaped model with random weights; the vocabulary comes from the tokenizer."""

    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 4
    intermediate_size: int = 172  # ~8/3 * hidden, the Llama MLP ratio
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    tie_embeddings: bool = False
    # std of the random weights. Llama's 0.02 caps a random model's logits near uniform (the final
    # RMSNorm is frozen at 1, so |logit| <= 0.02 * hidden_size): LoRA alone could barely move them.
    initializer_range: float = 0.02
    init_seed: int = 0  # the random base weights are a function of this seed

    def validate(self) -> list[str]:
        out = [
            f"{k} must be > 0"
            for k in (
                "hidden_size",
                "layers",
                "heads",
                "kv_heads",
                "intermediate_size",
                "initializer_range",
            )
            if getattr(self, k) <= 0
        ]
        if not out and self.hidden_size % self.heads:
            out.append(f"hidden_size {self.hidden_size} must be divisible by heads {self.heads}")
        if not out and self.heads % self.kv_heads:
            out.append(f"heads {self.heads} must be divisible by kv_heads {self.kv_heads}")
        return out


@dataclass
class ModelConfig:
    """The frozen base model: a local Hugging Face model directory or a model built from sizes."""

    path: str | None = None  # a local directory AutoModelForCausalLM can load (no hub access)
    from_config: FromConfigModel | None = None
    dtype: Literal["auto", "float32", "bfloat16"] = (
        "auto"  # base weights; auto: bf16 on CUDA, fp32 on CPU
    )
    attention: Literal["auto", "sdpa", "varlen", "flex"] = (
        "auto"  # auto: probed on CUDA (varlen, else flex, else sdpa); sdpa on CPU
    )
    gradient_checkpointing: bool = False
    compile: bool = False  # torch.compile each decoder layer (regional compilation)

    def validate(self) -> list[str]:
        if (self.path is None) == (self.from_config is None):
            return ["give exactly one of model.path (local HF model dir) or model.from_config"]
        if self.path is not None and not os.path.isfile(
            os.path.join(os.path.expanduser(self.path), "config.json")
        ):
            return [f"path {self.path!r} is not a local model directory (no config.json)"]
        return []


@dataclass
class AdapterConfig:
    """The trainable part: LoRA (optionally rsLoRA/DoRA), prompt tuning or prefix tuning (peft), or
    `none`: no adapter, every parameter of the model is trained (pretraining a from_config model
    from scratch, e.g. for `curate ablate`; full weights are saved as safetensors)."""

    type: Literal["lora", "prompt_tuning", "prefix_tuning", "none"] = "lora"
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: list[str] | str = "all-linear"  # module names, or peft's "all-linear"
    use_rslora: bool = False  # scale alpha/sqrt(r) instead of alpha/r (Kalajdzievski 2023)
    use_dora: bool = False  # weight-decomposed LoRA (Liu et al. 2024)
    num_virtual_tokens: int = 16  # prompt/prefix tuning only
    fused: bool = True  # fused LoRA forward/backward where eligible (dropout 0, no DoRA)

    def validate(self) -> list[str]:
        out = []
        if self.r <= 0:
            out.append(f"r must be > 0, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            out.append(f"dropout must be in [0, 1), got {self.dropout}")
        if self.num_virtual_tokens <= 0:
            out.append("num_virtual_tokens must be > 0")
        if isinstance(self.target_modules, list) and not self.target_modules:
            out.append("target_modules must name at least one module (or be 'all-linear')")
        return out


@dataclass
class DataConfig:
    """How shards become batches: packed rows of documents, in a seeded order."""

    max_seq_len: int = 512
    micro_batch_size: int = 8  # rows per forward pass, per rank
    packing: bool = True  # several documents per row, attention masked per document
    seed: int = 0  # document order of epoch e is a permutation drawn from (seed, e)
    pack_window: int = 8  # open rows first-fit packing may place a document into
    holdout_fraction: float = 0.1  # eval docs held out of a single shard when nothing else is given

    def validate(self) -> list[str]:
        out = [
            f"{k} must be > 0"
            for k in ("max_seq_len", "micro_batch_size", "pack_window")
            if getattr(self, k) <= 0
        ]
        if not 0.0 < self.holdout_fraction < 1.0:
            out.append(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")
        return out


@dataclass
class LoopConfig:
    """Optimisation: steps, AdamW, schedule, clipping, guards and the forgetting-control term."""

    max_steps: int | None = None  # default: `epochs` passes over the training rows
    epochs: float = 1.0
    grad_accum: int = 1  # micro-batches per optimizer step, per rank
    lr: float = 2e-4
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 0
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    max_grad_norm: float = 1.0  # 0 disables clipping (the norm is still checked for inf/nan)
    kl_weight: float = 0.0  # weight of KL(base || adapted) per token; 0 disables it
    loss: Literal["auto", "chunked", "full"] = "auto"  # chunked: never materialise full logits
    seed: int = 0  # python/numpy/torch RNG (LoRA init, dropout)
    max_bad_steps: int = 5  # abort after this many consecutive non-finite steps
    halt_after_steps: int | None = None  # stop dead after N steps, as if killed (resume drills)

    def validate(self) -> list[str]:
        out = []
        if self.max_steps is not None and self.max_steps <= 0:
            out.append(f"max_steps must be > 0, got {self.max_steps}")
        if self.epochs <= 0:
            out.append(f"epochs must be > 0, got {self.epochs}")
        for key in ("grad_accum", "max_bad_steps"):
            if getattr(self, key) <= 0:
                out.append(f"{key} must be > 0")
        for key in ("lr", "eps"):
            if getattr(self, key) <= 0:
                out.append(f"{key} must be > 0")
        for key in ("warmup_steps", "weight_decay", "max_grad_norm", "kl_weight"):
            if getattr(self, key) < 0:
                out.append(f"{key} must be >= 0")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            out.append("min_lr_ratio must be in [0, 1]")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            out.append(f"betas must be two numbers in [0, 1), got {self.betas}")
        return out


@dataclass
class EvalConfig:
    """Held-out perplexity: the manifest's eval shards, else a held-out shard (or slice of one)."""

    every_steps: int = 0  # 0: only at the start and the end
    max_batches: int = 20  # global eval batches (micro_batch_size rows per rank each)
    at_start: bool = True

    def validate(self) -> list[str]:
        return (
            []
            if self.every_steps >= 0 and self.max_batches > 0
            else ["every_steps >= 0 and max_batches > 0 required"]
        )


@dataclass
class CheckpointConfig:
    """Atomic checkpoints for exact resume, on a step and a wall-clock cadence (whichever is first).

    Both default on, so a run killed with default settings loses about `every_minutes` of work at most.
    """

    every_steps: int = 500  # 0: no step cadence
    every_minutes: float = 15.0  # 0: no time cadence (ranks agree via the step's all-reduce)
    keep_last: int = 2
    resume: Literal["auto", "never"] = (
        "auto"  # auto: continue from the newest checkpoint in the output dir
    )

    def validate(self) -> list[str]:
        return (
            []
            if self.every_steps >= 0 and self.every_minutes >= 0 and self.keep_last >= 1
            else ["every_steps >= 0, every_minutes >= 0 and keep_last >= 1 required"]
        )


@dataclass
class OutputConfig:
    """Where results go and what is logged."""

    dir: str | None = None  # default: <manifest dir>/adapters/<name>
    name: str = "lora"
    merge: bool = False  # also write the base model with the adapter merged in (safetensors)
    save_base_model: bool = True  # for from_config models: the random base the adapter needs
    log_every: int = 10
    tensorboard: bool = True  # only if tensorboard is installed; skipped silently otherwise
    log_doc_ids: bool = False  # write the document ids of every step (per rank) for provenance
    peak_flops: float | None = None  # per-device peak for MFU; default from the device name

    def validate(self) -> list[str]:
        out = [] if self.log_every > 0 else ["log_every must be > 0"]
        if not self.name or any(c in self.name for c in "/\\"):
            out.append(f"name {self.name!r} must be non-empty, without slashes")
        return out


@dataclass
class TrainConfig:
    """The whole training recipe configuration."""

    model: ModelConfig = field(default_factory=ModelConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def validate(self) -> list[str]:
        out = []
        if self.adapter.type in ("prompt_tuning", "prefix_tuning") and self.data.packing:
            # Virtual tokens are prepended once per row; packed documents after the first could not see them.
            out.append(
                f"adapter.type {self.adapter.type!r} needs data.packing: false (one document per row)"
            )
        if self.output.merge and self.adapter.type != "lora":
            out.append("output.merge is only possible for adapter.type 'lora'")
        if self.adapter.use_dora and self.adapter.type != "lora":
            out.append("adapter.use_dora applies to LoRA only")
        if self.adapter.type == "none" and self.train.kl_weight > 0:
            # The KL term compares with the base model, which full training does not keep.
            out.append(
                "train.kl_weight needs an adapter (the frozen base); adapter.type 'none' trains it all"
            )
        return out


# Fields that do not change the trained weights: a checkpoint written under other values resumes.
_NOT_IDENTITY = {"eval", "checkpoint", "output"}
_NOT_IDENTITY_FIELDS = {("train", "halt_after_steps")}


def load_train_config(
    source: str | os.PathLike | dict | TrainConfig, overrides: list[str] | tuple[str, ...] = ()
) -> TrainConfig:
    """Loads and validates a training config.

    Args:
        source: a YAML file (local path or URL), a plain dict, or an existing `TrainConfig`.
        overrides: `key.path=value` strings (values parsed as YAML).

    Returns:
        The validated config.

    Raises:
        ConfigError: listing every problem found.
    """
    if isinstance(source, TrainConfig):
        data = to_dict(source)
    elif isinstance(source, dict):
        data = json.loads(json.dumps(source))  # a deep copy the overrides may mutate
    else:
        location = os.fspath(source)  # a local path or a URL (read through Beam's FileSystems)
        try:
            text = storage.read_bytes(location).decode("utf-8")
        except FileNotFoundError:
            raise ConfigError([f"config file {location!r} does not exist"]) from None
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ConfigError([f"{location}: expected a mapping at the top level"])
    return build(TrainConfig, apply_overrides(data, list(overrides)))


def run_identity(config: TrainConfig) -> str:
    """sha256 of the config fields that decide the trained weights."""
    data: dict[str, Any] = {k: v for k, v in to_dict(config).items() if k not in _NOT_IDENTITY}
    for section, key in _NOT_IDENTITY_FIELDS:
        data[section].pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
