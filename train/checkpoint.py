"""Atomic checkpoints that resume bit-for-bit.

A checkpoint is a directory `checkpoints/step-00000012/` holding everything the next step depends
on: the adapter (safetensors + peft's adapter_config.json), AdamW and scheduler state, every rank's
RNG states (python, numpy, torch, CUDA), and `trainer_state.json` with the data cursor, counters and
curves. It is written under a temporary name and renamed into place, so a run killed mid-save
leaves the previous checkpoint intact. Nothing is pickled: tensors and plain containers go through
`torch.save` and load with `weights_only=True`; the rest is JSON.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from train.distributed import DistEnv, barrier
from train.loader import DataCursor

_STEP_DIR = re.compile(r"^step-(\d{8})$")


@dataclass
class TrainerState:
    """Counters, curves and the data cursor: the loop's state besides weights and optimizer."""

    step: int = 0
    cursor: DataCursor = field(default_factory=DataCursor)
    tokens_seen: int = 0  # real tokens processed, all ranks
    label_tokens_seen: int = 0  # tokens that carried a loss, all ranks
    train_seconds: float = 0.0
    consecutive_bad: int = 0
    loss_curve: list[dict] = field(default_factory=list)
    eval_curve: list[dict] = field(default_factory=list)
    bad_steps: list[dict] = field(default_factory=list)
    resumed_from: int | None = None

    @classmethod
    def from_dict(cls, data: dict) -> TrainerState:
        return cls(**{**data, "cursor": DataCursor(**data["cursor"])})


def save_adapter(model: torch.nn.Module, directory: Path) -> None:
    """adapter_model.safetensors + adapter_config.json, loadable by `PeftModel.from_pretrained`.

    A plain model (adapter.type none: every weight trained) is saved whole as model.safetensors.
    """
    from peft import get_peft_model_state_dict

    if not hasattr(model, "peft_config"):
        from safetensors.torch import save_model

        save_model(model, str(directory / "model.safetensors"), metadata={"format": "pt"})
        return
    # The embedding and output head stay frozen (a LoRA on them is in the adapter): the base
    # model holds them, so they are not copied into the adapter (peft would guess, and warn).
    trained = get_peft_model_state_dict(model, save_embedding_layers=False)
    state = {k: v.detach().contiguous().cpu() for k, v in trained.items()}
    save_file(state, str(directory / "adapter_model.safetensors"), metadata={"format": "pt"})
    model.peft_config["default"].save_pretrained(str(directory))


def load_adapter_weights(model: torch.nn.Module, directory: Path) -> None:
    """Loads adapter_model.safetensors into `model`'s active adapter (or model.safetensors into a
    fully trained plain model), exactly."""
    from peft import set_peft_model_state_dict

    if not hasattr(model, "peft_config"):
        from safetensors.torch import load_model

        load_model(model, str(directory / "model.safetensors"), strict=True)
        return
    result = set_peft_model_state_dict(
        model, load_file(str(directory / "adapter_model.safetensors"))
    )
    if getattr(result, "unexpected_keys", None):
        raise ValueError(
            f"checkpoint {directory} has adapter tensors this model lacks: {result.unexpected_keys[:5]}"
        )


def capture_rng() -> dict[str, Any]:
    """This process's RNG states in a form `torch.load(weights_only=True)` accepts."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "cached": cached,
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    root: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: TrainerState,
    identity: dict,
    env: DistEnv,
    keep_last: int,
) -> Path:
    """Writes checkpoint `step-<state.step>` under `root` atomically (all ranks must call this)."""
    final, tmp = root / f"step-{state.step:08d}", root / f".tmp-step-{state.step:08d}"
    if env.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier(env)
    torch.save(capture_rng(), tmp / f"rng_state_rank{env.rank}.pt")
    if env.is_main:
        save_adapter(model, tmp)
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        # Written last: its presence marks a complete checkpoint even on filesystems without rename.
        (tmp / "trainer_state.json").write_text(
            json.dumps({"state": asdict(state), "identity": identity}, indent=1)
        )
    barrier(env)
    if env.is_main:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in sorted(p for p in root.iterdir() if _STEP_DIR.match(p.name))[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    barrier(env)
    return final


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete checkpoint under `root`, if any."""
    if not root.is_dir():
        return None
    done = [
        p
        for p in root.iterdir()
        if _STEP_DIR.match(p.name) and (p / "trainer_state.json").is_file()
    ]
    return max(done, key=lambda p: p.name, default=None)


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    env: DistEnv,
) -> tuple[TrainerState, dict]:
    """Restores adapter, optimizer, scheduler and this rank's RNG from `path`.

    Returns:
        (trainer state, the identity dict the checkpoint was written under).
    """
    meta = json.loads((path / "trainer_state.json").read_text())
    rng_file = path / f"rng_state_rank{env.rank}.pt"
    if not rng_file.is_file():
        raise ValueError(
            f"checkpoint {path} has no RNG state for rank {env.rank} (written with another world size?)"
        )
    load_adapter_weights(model, path)
    optimizer.load_state_dict(
        torch.load(path / "optimizer.pt", map_location=env.device, weights_only=True)
    )
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    restore_rng(torch.load(rng_file, weights_only=True))
    return TrainerState.from_dict(meta["state"]), meta["identity"]
