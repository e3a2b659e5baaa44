"""Evaluation, progress lines, and the end of a run: report, plot, optional merged model."""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from train import distributed as dist_utils
from train.batch import Batch
from train.config import run_identity
from train.manifest import TokenizerInfo
from train.metrics import Throughput, host_description
from train.model import save_tokenizer
from train.objective import CausalLMObjective
from train.report import REPORT_FORMAT_VERSION, code_version, plot_losses, write_json_atomic
from train.typed_config import to_dict

if TYPE_CHECKING:
    from train.checkpoint import TrainerState


class FinishedRun(Protocol):
    """What `finish_run` reads of a training run (the recipe provides it; summary never imports
    the recipe, so the two modules do not depend on each other)."""

    cfg: Any
    state: TrainerState
    out: Path  # the local folder written to
    destination: str  # where the outputs end up: `out`, or the URL it is uploaded to
    base_model_path: str  # where the base model was (or was saved) on the training machine
    manifest: Any
    corpus: Any
    model: torch.nn.Module
    env: Any
    counts: Any
    shape: dict
    attention: str
    attention_reason: str
    loss_mode: str
    fused_layers: int
    peak: float
    peak_source: str
    total_steps: int


log = logging.getLogger("train")


@torch.no_grad()
def evaluate(
    objective: CausalLMObjective, batches: list[Batch], step: int, env: dist_utils.DistEnv
) -> dict:
    """Token-mean cross-entropy and perplexity over this rank's eval batches, summed over ranks."""
    objective.eval()
    ce, tokens = 0.0, 0
    for batch in batches:
        batch_ce, _ = objective(batch.to(env.device), with_kl=False)
        ce += float(batch_ce)
        tokens += batch.n_label_tokens
    ce, tokens = dist_utils.all_reduce_sum([ce, float(tokens)], env)
    loss = ce / max(1.0, tokens)
    point = {
        "step": step,
        "loss": loss,
        "perplexity": math.exp(min(loss, 700.0)),
        "tokens": int(tokens),
    }
    if env.is_main:
        log.info(
            "eval @ step %d: loss %.4f, perplexity %.2f over %s tokens",
            step,
            loss,
            point["perplexity"],
            f"{int(tokens):,}",
        )
    return point


def log_step(point: dict, total_steps: int, speed: dict, state: TrainerState) -> None:
    """One progress line."""
    done = point["step"] / total_steps
    eta = (
        state.train_seconds
        / max(1, point["step"] - (state.resumed_from or 0))
        * (total_steps - point["step"])
    )
    mfu = f"{100 * speed['mfu']:.2f}%" if speed["mfu"] is not None else "n/a"
    kl = f" | kl {point['kl']:.4f}" if point["kl"] else ""
    log.info(
        "step %d/%d (%3.0f%%) | loss %.4f%s | lr %.2e | grad norm %.3f | %s tok/s | MFU %s | eta %s",
        point["step"],
        total_steps,
        100 * done,
        point["loss"],
        kl,
        point["lr"],
        point["grad_norm"],
        f"{speed['tokens_per_s']:,.0f}",
        mfu,
        dt.timedelta(seconds=round(eta)),
    )


def merge_adapter(model: torch.nn.Module, directory: Path, tokenizer: TokenizerInfo) -> None:
    """Writes the base model with the LoRA weights folded in (safetensors), plus the tokenizer."""
    merged = model.merge_and_unload()
    merged.set_attn_implementation("sdpa")  # the packed-attention hook is a training-time detail
    merged.save_pretrained(str(directory))
    save_tokenizer(directory, tokenizer)


def finish_run(recipe: FinishedRun, throughput: Throughput) -> dict:
    """Writes training_report.json, the loss plot, the tokenizer copy and (optionally) the merged model."""
    cfg, state, out, manifest = recipe.cfg, recipe.state, recipe.out, recipe.manifest
    speed = {
        **throughput.summary(),
        "peak_flops": recipe.peak,
        "peak_flops_source": recipe.peak_source,
    }
    evals = state.eval_curve
    full = cfg.adapter.type == "none"
    report = {
        "format_version": REPORT_FORMAT_VERSION,
        "manifest": {
            "path": manifest.location,
            "sha256": manifest.sha256,
            "config_sha256": manifest.config_sha256,
            "code_version": manifest.code_version,
            "tokenizer_sha256": manifest.tokenizer.sha256,
            "shards": [s.path.name for s in manifest.shards],
            "eval_source": recipe.corpus.eval_source,
            "validation_success": manifest.validation_success,
        },
        "config": to_dict(cfg),
        "config_identity_sha256": run_identity(cfg),
        "code_version": code_version(),
        "model": {
            **recipe.shape,
            "source": cfg.model.path or "from_config",
            # adapter_config.json names the base relatively (base_model/, or the local model's
            # folder name); this is where it was on the training machine.
            "base_model_path": recipe.base_model_path,
            "dtype": str(next(recipe.model.parameters()).dtype).replace("torch.", ""),
            "params": {
                "frozen_matmul": recipe.counts.frozen_matmul,
                "trainable": recipe.counts.trainable,
                "total": recipe.counts.total,
            },
            "attention": recipe.attention,
            "attention_reason": recipe.attention_reason,  # why this backend (train.attention_probe)
            "loss": recipe.loss_mode,
            "fused_lora_layers": recipe.fused_layers,
        },
        "device": host_description(),
        "world_size": recipe.env.world_size,
        "steps": state.step,
        "total_steps": recipe.total_steps,
        "steps_skipped": len(state.bad_steps),
        "tokens_seen": state.tokens_seen,
        "label_tokens_seen": state.label_tokens_seen,
        "train_docs": int(len(recipe.corpus.train_indices)),
        "eval_docs": int(len(recipe.corpus.eval_indices)),
        "loss_curve": state.loss_curve,
        "eval_curve": evals,
        "initial_eval_perplexity": evals[0]["perplexity"]
        if evals and evals[0]["step"] == 0
        else None,
        "eval_perplexity": evals[-1]["perplexity"] if evals else None,
        "final_train_loss": state.loss_curve[-1]["loss"] if state.loss_curve else None,
        "throughput": speed,
        "train_seconds": round(state.train_seconds, 3),
        "bad_steps": state.bad_steps,
        "resumed_from": state.resumed_from,
        "outputs": {
            # adapter.type none: the whole trained model is the result (model/, safetensors).
            "adapter": None if full else "adapter_model.safetensors",
            "adapter_config": None if full else "adapter_config.json",
            "model": "model" if full else None,
            "tokenizer": "tokenizer.json",  # with tokenizer_config.json, special_tokens_map.json
            "loss_plot": None,
            "base_model": "base_model" if (out / "base_model" / "config.json").exists() else None,
            "merged_model": None,
            "checkpoint": f"checkpoints/step-{state.step:08d}",
        },
        "output_dir": recipe.destination,
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if recipe.env.is_main:
        save_tokenizer(out, manifest.tokenizer)  # AutoTokenizer.from_pretrained(out) works
        if plot_losses(
            state.loss_curve, evals, out / "loss.png", f"{cfg.output.name}: {manifest.location}"
        ):
            report["outputs"]["loss_plot"] = "loss.png"
        if cfg.output.merge:
            merge_adapter(recipe.model, out / "merged", manifest.tokenizer)
            report["outputs"]["merged_model"] = "merged"
        write_json_atomic(out / "training_report.json", report)
        log.info(
            "done: %d steps, eval perplexity %s, %s tok/s -> %s",
            state.step,
            report["eval_perplexity"],
            speed["tokens_per_s"],
            out,
        )
    dist_utils.barrier(recipe.env)
    return report
