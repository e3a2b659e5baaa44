"""The frozen base model and its peft adapter.

The base is a local Hugging Face model directory (anything `AutoModelForCausalLM` loads, never the
hub) or a small Llama-shaped model built from sizes in the config, its vocabulary taken from the
corpus tokenizer and its random weights a function of `init_seed`. On top we put a peft adapter:
LoRA (rsLoRA/DoRA options), prompt tuning or prefix tuning.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from train.config import AdapterConfig, ModelConfig
from train.manifest import TokenizerInfo


@dataclass
class ParamCounts:
    """Parameter counts used for the FLOPs estimate: matmul weights only (embeddings are lookups)."""

    frozen_matmul: int  # frozen weights of linear layers, output head included
    trainable: int
    total: int


def resolve_dtype(requested: str, device: torch.device) -> torch.dtype:
    """The base weights' dtype: bf16 on CUDA, fp32 on CPU unless asked otherwise."""
    if requested == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[requested]


def build_base_model(
    cfg: ModelConfig, tokenizer: TokenizerInfo, dtype: torch.dtype, max_seq_len: int
) -> nn.Module:
    """Loads or builds the base causal LM on CPU, all weights frozen.

    Raises:
        ValueError: if a local model's vocabulary cannot hold the corpus tokenizer's ids, or its
            own tokenizer.json disagrees with the corpus tokenizer.
    """
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    if cfg.from_config is not None:
        fc = cfg.from_config
        config = LlamaConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=fc.hidden_size,
            num_hidden_layers=fc.layers,
            num_attention_heads=fc.heads,
            num_key_value_heads=fc.kv_heads,
            intermediate_size=fc.intermediate_size,
            max_position_embeddings=max(max_seq_len, 2048),
            rope_theta=fc.rope_theta,
            rms_norm_eps=fc.rms_norm_eps,
            tie_word_embeddings=fc.tie_embeddings,
            initializer_range=fc.initializer_range,
            eos_token_id=tokenizer.eos_id,
            pad_token_id=tokenizer.pad_id,
            bos_token_id=None,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(fc.init_seed)
            model = LlamaForCausalLM(config)
        model = model.to(dtype)
    else:
        path = Path(cfg.path).expanduser()
        _check_local_tokenizer(path, tokenizer)
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, local_files_only=True)
        rows = model.get_input_embeddings().weight.shape[0]
        if rows < tokenizer.vocab_size:
            raise ValueError(
                f"model {path} has {rows} embedding rows but the corpus tokenizer has {tokenizer.vocab_size} tokens"
            )
    model.requires_grad_(False)
    model.config.use_cache = False
    return model


def _check_local_tokenizer(path: Path, tokenizer: TokenizerInfo) -> None:
    own = path / "tokenizer.json"
    if not own.is_file():
        return
    from tokenizers import Tokenizer

    mine, theirs = (
        Tokenizer.from_file(str(own)).get_vocab(True),
        Tokenizer.from_file(str(tokenizer.path)).get_vocab(True),
    )
    if mine != theirs:
        differing = sum(1 for k, v in theirs.items() if mine.get(k) != v)
        raise ValueError(
            f"the corpus tokenizer ({tokenizer.path}) differs from the model's own {own} ({differing} tokens map to different ids)"
        )


def attach_adapter(model: nn.Module, cfg: AdapterConfig) -> nn.Module:
    """Wraps `model` with the configured peft adapter (freshly initialised)."""
    from peft import LoraConfig, PrefixTuningConfig, PromptTuningConfig, get_peft_model

    if cfg.type == "lora":
        target = (
            cfg.target_modules if isinstance(cfg.target_modules, str) else list(cfg.target_modules)
        )
        peft_config = LoraConfig(
            r=cfg.r,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=target,
            use_rslora=cfg.use_rslora,
            use_dora=cfg.use_dora,
            bias="none",
            task_type="CAUSAL_LM",
        )
    elif cfg.type == "prompt_tuning":
        peft_config = PromptTuningConfig(
            num_virtual_tokens=cfg.num_virtual_tokens, task_type="CAUSAL_LM"
        )
    else:
        peft_config = PrefixTuningConfig(
            num_virtual_tokens=cfg.num_virtual_tokens, task_type="CAUSAL_LM"
        )
    with warnings.catch_warnings():
        # peft reads transformers' deprecated `is_gradient_checkpointing` alias (a FutureWarning
        # on every run with transformers >= 5); checkpointing is set up below, by its new name.
        warnings.filterwarnings(
            "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
        )
        return get_peft_model(model, peft_config)


def count_params(model: nn.Module) -> ParamCounts:
    """Frozen matmul weights, trainable parameters and the total (shared weights counted once)."""
    seen: set[int] = set()
    frozen_matmul = 0
    for module in model.modules():
        if (
            isinstance(module, nn.Linear)
            and id(module.weight) not in seen
            and not module.weight.requires_grad
        ):
            seen.add(id(module.weight))
            frozen_matmul += module.weight.numel()
    params = {id(p): p for p in model.parameters()}.values()
    return ParamCounts(
        frozen_matmul,
        sum(p.numel() for p in params if p.requires_grad),
        sum(p.numel() for p in params),
    )


def describe(model: nn.Module) -> dict:
    """Shape facts for the report and the FLOPs formula."""
    config = model.get_base_model().config if hasattr(model, "get_base_model") else model.config
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return {
        "model_type": config.model_type,
        "layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "heads": heads,
        "kv_heads": getattr(config, "num_key_value_heads", heads),
        "head_dim": head_dim,
        "vocab_size": config.vocab_size,
    }


def is_full_training(model: nn.Module) -> bool:
    """True for a plain model trained whole (adapter.type none), False for a peft model."""
    return not hasattr(model, "peft_config")


def save_tokenizer(directory: Path, tokenizer: TokenizerInfo) -> None:
    """Writes the corpus tokenizer as a Hugging Face tokenizer folder: tokenizer.json plus
    tokenizer_config.json and special_tokens_map.json naming its eos and pad tokens, so
    `AutoTokenizer.from_pretrained(directory)` gives the ids the shards were made with."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer.from_file(str(tokenizer.path))
    pad_id = tokenizer.pad_id if tokenizer.pad_id is not None else tokenizer.eos_id
    fast = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token=raw.id_to_token(tokenizer.eos_id),
        pad_token=raw.id_to_token(pad_id),
    )
    directory.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(directory))
    # The corpus's own bytes, not a re-serialisation: its sha256 is the manifest's.
    (directory / "tokenizer.json").write_bytes(tokenizer.path.read_bytes())


def save_full_model(model: nn.Module, directory: Path, tokenizer: TokenizerInfo) -> None:
    """Writes a fully trained model (config.json + model.safetensors) and its tokenizer.

    The packed-attention hook is a training-time detail: the saved config names plain `sdpa`, so
    `AutoModelForCausalLM.from_pretrained(directory)` loads it anywhere.
    """
    model.set_attn_implementation("sdpa")
    model.save_pretrained(str(directory), safe_serialization=True)
    save_tokenizer(directory, tokenizer)


def save_base_model(model: nn.Module, directory: Path, tokenizer: TokenizerInfo) -> None:
    """Writes the (random, from_config) base model and tokenizer so the adapter can be used later."""
    model.save_pretrained(str(directory))
    save_tokenizer(directory, tokenizer)
    (directory / "curate_base_model.json").write_text(
        json.dumps({"note": "random weights built from config by curate train"})
    )


def prepare_for_training(
    base: nn.Module,
    model_cfg: ModelConfig,
    adapter_cfg: AdapterConfig,
    attention: str,
    device: torch.device,
) -> tuple[nn.Module, int]:
    """Attention implementation, adapter, fused LoRA, checkpointing, device and compilation.

    With `adapter_cfg.type == "none"` no adapter is attached: every parameter of `base` becomes
    trainable and the plain model is returned (full training).

    Args:
        base: the frozen base model from `build_base_model`.
        model_cfg: model settings (checkpointing, compile).
        adapter_cfg: adapter settings.
        attention: a packed backend (`sdpa`, `varlen`, `flex`) or `hf` for one document per row.
        device: where to train.

    Returns:
        (peft model, or the base itself for full training; LoRA layers on the fused path).
    """
    from train.attention import register_packed_attention
    from train.fused_lora import fuse_lora_layers

    base.set_attn_implementation("sdpa" if attention == "hf" else register_packed_attention())
    if adapter_cfg.type == "none":
        model, fused = base.requires_grad_(True), 0
    else:
        model = attach_adapter(base, adapter_cfg)
        fused = fuse_lora_layers(model) if adapter_cfg.fused and adapter_cfg.type == "lora" else 0
    if model_cfg.gradient_checkpointing:
        enable = (
            getattr(base, "activation_checkpointing_enable", None)
            or base.gradient_checkpointing_enable
        )
        enable({"use_reentrant": False})
    model.to(device)
    if model_cfg.compile:
        for (
            layer
        ) in base.get_decoder().layers:  # regional compilation: one graph per layer, compiled once
            layer.compile()
    return model, fused
