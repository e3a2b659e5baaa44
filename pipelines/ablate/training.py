"""Training every arm the same way: one model config, the same seeds, the same number of tokens.

A run trains `steps = tokens // (micro_batch_size * grad_accum * max_seq_len)` optimizer steps, so
every arm trains on exactly the same number of token slots (rows x row length); an arm with fewer
unique tokens simply repeats more epochs (recorded). Seed `s` sets the weight init
(`model.from_config.init_seed`), the data order (`data.seed`) and the loop RNG (`train.seed`),
identically in every arm, so arms can be compared seed by seed (paired).

The train package is imported inside functions only (pipelines never load torch at import).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from pipelines.ablate.config import AblationConfig
from train.typed_config import ConfigError, apply_overrides

RUN_MARKER = "ablate_run.json"
RUN_IDENTITY = "ablate_identity.txt"


def cuda_available() -> bool:
    """Whether training will run on a GPU (checked without importing torch when it is absent)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def train_dict(cfg: AblationConfig, cuda: bool) -> tuple[dict, int]:
    """(the train config every run shares, tokens per run), with the CUDA overrides on a GPU.

    Raises:
        ConfigError: the train config is invalid (every problem listed).
    """
    from train.config import load_train_config

    tc = cfg.train
    if isinstance(tc.config, dict):
        data = copy.deepcopy(tc.config)
    else:
        with open(tc.config, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    overrides = [*tc.set, *(tc.cuda.set if cuda else [])]
    apply_overrides(data, overrides)
    data["adapter"] = {"type": "none"}  # pretraining from scratch: every weight trained
    data.setdefault("output", {}).update(tensorboard=False, merge=False, name="ablate")
    tokens = tc.cuda.tokens if cuda and tc.cuda.tokens else tc.tokens
    try:
        parsed = load_train_config(data)
    except ValueError as exc:
        problems = getattr(exc, "problems", [str(exc)])
        raise ConfigError([f"train.config: {p}" for p in problems]) from None
    if parsed.model.from_config is None:
        raise ConfigError(
            ["train.config: model.from_config is required (a model trained from scratch)"]
        )
    return data, tokens


def steps_for(data: dict, tokens: int) -> tuple[int, int]:
    """(optimizer steps, token slots per step) for `tokens` training tokens (single process)."""
    from train.config import load_train_config

    cfg = load_train_config(data)
    per_step = cfg.data.micro_batch_size * cfg.train.grad_accum * cfg.data.max_seq_len
    return max(1, tokens // per_step), per_step


def seed_config(data: dict, seed: int, steps: int, eval_every: int = 0) -> dict:
    """The run's train config: the shared one with this seed and step count.

    `eval_every` sets the cadence of the eval-loss curve (0: about ten points per run).
    """
    out = copy.deepcopy(data)
    out.setdefault("model", {}).setdefault("from_config", {})["init_seed"] = seed
    out.setdefault("data", {})["seed"] = seed
    loop = out.setdefault("train", {})
    loop.update(seed=seed, max_steps=steps)
    loop.pop("epochs", None)
    ev = out.setdefault("eval", {})
    ev["every_steps"] = eval_every or max(1, steps // 10)
    out["checkpoint"] = {"every_steps": max(1, steps // 4), "keep_last": 1, "resume": "auto"}
    return out


def write_arm_manifest(arm_dir: str, eval_entries: list[dict]) -> str:
    """`ablate_manifest.json`: the arm's manifest with the shared eval shards as its eval split."""
    with open(os.path.join(arm_dir, "manifest.json"), encoding="utf-8") as fh:
        manifest = json.load(fh)
    manifest["eval_shards"] = [
        {**e, "path": os.path.relpath(e["abs_path"], arm_dir)} for e in eval_entries
    ]
    for e in manifest["eval_shards"]:
        e.pop("abs_path", None)
    path = os.path.join(arm_dir, "ablate_manifest.json")
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1)
    os.replace(path + ".tmp", path)
    return path


def run_seed(
    manifest_path: str,
    run_dir: str,
    data: dict,
    identity: str,
    eval_sets: dict[str, list[str]],
    pad_id: int,
    pooled: dict[str, list[str]] | None = None,
    validation_note: str | None = None,
) -> tuple[dict, bool]:
    """(result, reused): trains one seed (resuming a killed run) and evaluates the final model.

    `pooled` names sets scored as the token-weighted union of other sets (exactly the token-mean
    loss over their documents), e.g. `heldout` from its per-source parts, without another pass.

    `validation_note`: why training goes on although the arm failed validation (None: it did not
    fail, and training is not forced).

    A finished run whose identity (arm, train config, seed, eval data) is unchanged is reused; a
    run folder of another identity is discarded first.
    """
    marker = os.path.join(run_dir, RUN_MARKER)
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8") as fh:
            done = json.load(fh)
        if done.get("identity") == identity:
            return done, True
    id_file = os.path.join(run_dir, RUN_IDENTITY)
    if os.path.isdir(run_dir):
        same = os.path.isfile(id_file) and Path(id_file).read_text(encoding="utf-8") == identity
        if not same or os.path.isfile(marker):
            shutil.rmtree(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    with open(id_file, "w", encoding="utf-8") as fh:
        fh.write(identity)

    from train.config import load_train_config
    from train.evaluate import evaluate_saved_model
    from train.recipe import run_training

    parsed = load_train_config(data)
    # Every arm trains, whatever its gate says: the page shows each arm's badge beside it.
    report = run_training(manifest_path, data, force=validation_note or False, output=run_dir)
    evals = evaluate_saved_model(
        os.path.join(run_dir, "model"),
        eval_sets,
        pad_id,
        parsed.data.max_seq_len,
        parsed.data.micro_batch_size,
    )
    for name, parts in (pooled or {}).items():
        tokens = sum(evals[p]["tokens"] for p in parts)
        loss = sum(evals[p]["loss"] * evals[p]["tokens"] for p in parts) / max(1, tokens)
        evals[name] = {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "tokens": tokens,
                       "docs": sum(evals[p]["docs"] for p in parts)}  # fmt: skip
    result = {
        "identity": identity,
        "eval": evals,
        "steps": report["steps"],
        "tokens_seen": report["tokens_seen"],
        "label_tokens_seen": report["label_tokens_seen"],
        "train_docs": report["train_docs"],
        "loss_curve": [
            {"step": p["step"], "loss": p["loss"], "tokens": p["tokens"]}
            for p in report["loss_curve"]
        ],  # fmt: skip
        "eval_curve": report["eval_curve"],
        "train_seconds": report["train_seconds"],
        "device": report["device"],
        "params": report["model"]["params"]["total"],
        "config_identity_sha256": report["config_identity_sha256"],
    }
    with open(marker + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    os.replace(marker + ".tmp", marker)
    # Checkpoints are only for resuming a killed run; the final model stays in model/.
    shutil.rmtree(os.path.join(run_dir, "checkpoints"), ignore_errors=True)
    return result, False


def run_identity(*parts: Any) -> str:
    """sha256 of the JSON of `parts` (what decides a run's result)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
