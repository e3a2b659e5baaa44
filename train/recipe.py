"""The LoRA training recipe: setup, an explicit loop, save.

`run_training(manifest, config)` is the one entry point (the `python -m train` CLI, `curate train`
and the pipeline's train trigger all call it). Read `LoRARecipe.train` top to bottom: each step
takes its global batch, runs the micro-batches with the loss normalised by the step's global
token count (so gradient accumulation and data parallelism give exactly the gradient of the
token-mean loss over the whole global batch), guards against non-finite loss or gradients, steps
AdamW and the schedule, and logs, evaluates and checkpoints on its cadence.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from train import distributed as dist_utils
from train import storage
from train.attention import resolve_attention
from train.checkpoint import (
    TrainerState,
    latest_checkpoint,
    load_checkpoint,
    save_adapter,
    save_checkpoint,
)
from train.config import TrainConfig, load_train_config, run_identity
from train.guards import ProvenanceLog, TrainingDiverged, record_bad_step
from train.loader import TrainLoader, eval_batches, open_corpus
from train.manifest import ManifestError, fetch_missing, load_manifest, verify_manifest
from train.metrics import Throughput, peak_flops
from train.model import (
    build_base_model,
    count_params,
    describe,
    is_full_training,
    prepare_for_training,
    resolve_dtype,
    save_base_model,
    save_full_model,
)
from train.objective import CausalLMObjective, chunked_loss_supported
from train.optim import build_optimizer, warmup_cosine
from train.report import ScalarLogger
from train.summary import evaluate, finish_run, log_step

__all__ = ["LoRARecipe", "TrainingDiverged", "run_training"]  # TrainingDiverged: from train.guards

log = logging.getLogger("train")
_now = time.monotonic  # the checkpoint clock (a test fast-forwards it)


def run_training(
    manifest_path: str | os.PathLike,
    config: str | os.PathLike | dict | TrainConfig,
    overrides: list[str] | tuple[str, ...] | None = (),
    force: bool | str = False,
    output: str | os.PathLike | None = None,
) -> dict:
    """Trains an adapter on a curated corpus and returns the training report.

    Args:
        manifest_path: the curation run's manifest.json, a local path or a URL (`gs://...`; its
            shards are fetched into `storage.cache_root()`, checked against their sha256).
        config: a training config (YAML path or URL, dict or `TrainConfig`).
        overrides: `key.path=value` overrides applied on top of `config`.
        force: train even if the corpus failed validation (checksums are always enforced); a
            string is the reason, named in the warning (default: "--force", the CLI flag).
        output: the output directory, a local path or a URL (overrides `output.dir`; default
            `<manifest dir>/adapters/<output.name>`). A URL is staged in a local folder under
            `storage.cache_root()` and uploaded when training ends, `training_report.json` last.

    Returns:
        The training report (also written to `<output>/training_report.json`).

    Raises:
        ConfigError: the config is invalid (every problem listed).
        ManifestError: the manifest, shards or tokenizer do not match (every mismatch listed), or
            the corpus failed validation and `force` is false.
        TrainingDiverged: too many consecutive non-finite steps.
    """
    cfg = load_train_config(config, list(overrides or []))
    if output is not None:
        cfg.output.dir = os.fspath(output)
    env = dist_utils.init_distributed()
    try:
        recipe = LoRARecipe(cfg, os.fspath(manifest_path), env)
        recipe.setup(force)
        return recipe.train()
    finally:
        dist_utils.shutdown(env)


class LoRARecipe:
    """One training run: `setup()` then `train()`."""

    def __init__(self, cfg: TrainConfig, manifest_path: str, env: dist_utils.DistEnv) -> None:
        self.cfg, self.manifest_path, self.env = cfg, manifest_path, env

    # ----------------------------------------------------------------------------------- setup
    def setup(self, force: bool | str) -> None:
        """Verifies the corpus, then builds data, model, optimizer; resumes if a checkpoint exists."""
        cfg, env = self.cfg, self.env
        self._verify_manifest(force)
        self._place_outputs()
        if env.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        dist_utils.barrier(env)
        random.seed(cfg.train.seed)
        np.random.seed(cfg.train.seed)
        torch.manual_seed(cfg.train.seed + env.rank)  # ranks differ in dropout; DDP syncs the init

        self._setup_data()
        self._setup_model()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.params, cfg.train, env.device)
        self.scheduler = warmup_cosine(
            self.optimizer, cfg.train.warmup_steps, self.total_steps, cfg.train.min_lr_ratio
        )

        self.identity = {
            "manifest_sha256": self.manifest.sha256,
            "run_identity": run_identity(cfg),
            "world_size": env.world_size,
            "plan": self.loader.plan(0).fingerprint(),
        }
        self.state = TrainerState()
        self.provenance = ProvenanceLog(self.out, env.rank, cfg.output.log_doc_ids)
        self._maybe_resume()
        self.scalars = ScalarLogger(
            self.out / "tensorboard", cfg.output.tensorboard and env.is_main
        )
        self._log_setup()

    def _verify_manifest(self, force: bool | str) -> None:
        self.manifest = load_manifest(self.manifest_path)
        problems = None
        if self.env.is_main:  # one rank hashes the shards; the others wait for its verdict
            try:
                verify_manifest(self.manifest, force=bool(force))
            except ManifestError as exc:
                problems = exc.problems
        problems = dist_utils.broadcast_object(problems, self.env)
        if problems:
            raise ManifestError(problems)
        if not self.env.is_main:  # remote files: already cached on the verifying rank's machine,
            fetch_missing(self.manifest)  # fetched (and checked) again on any other machine
        if self.manifest.validation_success is False:
            why = force if isinstance(force, str) else "--force"
            log.warning("training on a corpus that failed validation (%s)", why)
        elif self.manifest.validation_success is None:
            log.warning("the manifest records no validation verdict (validation skipped?)")

    def _place_outputs(self) -> None:
        """`destination`: where the outputs end up; `out`: the local folder they are written to.

        torch, safetensors and peft write local files, so a remote destination is staged in a
        folder named by its URL (every rank finds the same one; a killed run resumes from it on
        the same machine) and uploaded by `_upload_outputs` at the end.
        """
        cfg = self.cfg
        self.destination = cfg.output.dir or storage.join(
            storage.dirname(self.manifest.location), "adapters", cfg.output.name
        )
        if storage.is_remote(self.destination):
            key = hashlib.sha256(self.destination.encode()).hexdigest()[:16]
            self.out = storage.cache_root() / "outputs" / key
        else:
            self.out = Path(self.destination).resolve()
            self.destination = str(self.out)

    def _upload_outputs(self) -> None:
        """Copies the staged outputs to a remote destination, then removes the staging folder."""
        if not storage.is_remote(self.destination):
            return
        if self.env.is_main:
            written = storage.upload_tree(
                self.out, self.destination, last=("training_report.json",)
            )
            log.info("uploaded %d files to %s", len(written), self.destination)
            shutil.rmtree(self.out, ignore_errors=True)
        dist_utils.barrier(self.env)

    def _setup_data(self) -> None:
        cfg, env, tok = self.cfg, self.env, self.manifest.tokenizer
        self.pad_id = tok.pad_id if tok.pad_id is not None else tok.eos_id
        train_paths, eval_paths = (
            [s.path for s in self.manifest.shards],
            [s.path for s in self.manifest.eval_shards],
        )
        self.corpus = open_corpus(
            train_paths, eval_paths, cfg.data.holdout_fraction, tok.vocab_size
        )
        corpus = self.corpus
        self.loader = TrainLoader(
            corpus.train_docs,
            corpus.train_indices,
            cfg.data,
            cfg.train.grad_accum,
            env.world_size,
            env.rank,
            self.pad_id,
        )
        if self.loader.steps_in_epoch(0) == 0:
            raise ValueError(
                f"the corpus packs into {len(self.loader.plan(0))} rows but one step needs "
                f"{self.loader.rows_per_step} (micro_batch_size x grad_accum x world_size)"
            )
        self.total_steps = cfg.train.max_steps or self.loader.default_total_steps(cfg.train.epochs)
        self.eval_set = eval_batches(
            corpus.eval_docs,
            corpus.eval_indices,
            cfg.data,
            env.world_size,
            env.rank,
            cfg.eval.max_batches,
            self.pad_id,
        )

    def _setup_model(self) -> None:
        cfg, env, tok = self.cfg, self.env, self.manifest.tokenizer
        dtype = resolve_dtype(cfg.model.dtype, env.device)
        base = build_base_model(cfg.model, tok, dtype, cfg.data.max_seq_len)
        full = cfg.adapter.type == "none"
        if cfg.model.from_config is not None and not full:
            # A random base is part of the result: the adapter is useless without these weights.
            if (
                cfg.output.save_base_model
                and env.is_main
                and not (self.out / "base_model" / "config.json").exists()
            ):
                save_base_model(base, self.out / "base_model", tok)
            # Relative to the output folder, so the folder stays usable wherever it is copied.
            base_ref, self.base_model_path = (
                "base_model",
                storage.join(self.destination, "base_model"),
            )
        elif cfg.model.path:
            # The model's name, not this machine's path (that goes to training_report.json).
            self.base_model_path = str(Path(cfg.model.path).expanduser().resolve())
            base_ref = Path(self.base_model_path).name
        else:
            base_ref = self.base_model_path = ""
        if cfg.data.packing:  # probed once per process: what this torch runs, not its version
            choice = resolve_attention(cfg.model.attention, env.device, dtype)
            self.attention, self.attention_reason = choice.backend, choice.reason
        else:
            self.attention = "hf"
            self.attention_reason = "data.packing false: one document per row, the model's own SDPA"
        self.model, self.fused_layers = prepare_for_training(
            base, cfg.model, cfg.adapter, self.attention, env.device
        )
        if not is_full_training(self.model):
            self.model.peft_config["default"].base_model_name_or_path = base_ref

        chunked = (
            cfg.train.loss != "full"
            and cfg.adapter.type == "lora"
            and chunked_loss_supported(self.model)
        )
        if cfg.train.loss == "chunked" and not chunked:
            raise ValueError(
                "train.loss 'chunked' needs LoRA and a plain frozen output head; use 'auto' or 'full'"
            )
        self.loss_mode = "chunked" if chunked else "full"
        autocast = torch.bfloat16 if env.device.type == "cuda" else None
        self.objective = CausalLMObjective(
            self.model, self.attention, self.loss_mode, cfg.train.kl_weight, autocast
        )
        self.step_fn = self.objective
        if env.enabled:
            ids = [env.local_rank] if env.device.type == "cuda" else None
            self.step_fn = torch.nn.parallel.DistributedDataParallel(self.objective, device_ids=ids)
        self.counts = count_params(self.model)
        self.shape = describe(self.model)
        self.peak, self.peak_source = peak_flops(env.device, cfg.output.peak_flops)

    def _maybe_resume(self) -> None:
        root = self.out / "checkpoints"
        ckpt = latest_checkpoint(root) if self.cfg.checkpoint.resume == "auto" else None
        if ckpt is None:
            return
        state, identity = load_checkpoint(
            ckpt, self.model, self.optimizer, self.scheduler, self.env
        )
        changed = [k for k in self.identity if identity.get(k) != self.identity[k]]
        if changed:
            raise ValueError(
                f"{ckpt} was written by a different run ({', '.join(changed)} differ); "
                "use another output dir or checkpoint.resume=never"
            )
        state.resumed_from = state.step
        self.state = state
        self.provenance.truncate(state.step)
        log.info("resumed from %s (step %d, %s)", ckpt, state.step, state.cursor)

    def _log_setup(self) -> None:
        c, counts = self.corpus, self.counts
        log.info(
            "setup: %s train docs (%s tokens) -> %d rows/epoch, %d steps | %s: %s trainable, %s frozen "
            "matmul params | attention %s (%s), loss %s, fused LoRA layers %d | %s x%d",
            f"{len(c.train_indices):,}", f"{c.train_docs.total_tokens:,}", len(self.loader.plan(0)), self.total_steps,
            self.shape["model_type"], f"{counts.trainable:,}", f"{counts.frozen_matmul:,}",
            self.attention, self.attention_reason, self.loss_mode, self.fused_layers, self.env.device, self.env.world_size,
        )  # fmt: skip

    # ------------------------------------------------------------------------------------ loop
    def train(self) -> dict:
        """The loop: one optimizer step per global batch until `total_steps`; then save."""
        cfg, env, state = self.cfg, self.env, self.state
        shape = self.shape
        throughput = Throughput(
            self.counts.frozen_matmul,
            self.counts.trainable,
            shape["layers"],
            shape["heads"] * shape["head_dim"],
            env.world_size,
            self.peak,
        )
        if cfg.eval.at_start and state.step == 0 and self.eval_set:
            state.eval_curve.append(evaluate(self.objective, self.eval_set, 0, env))
        self.objective.train()
        self._last_checkpoint = _now()
        while state.step < self.total_steps:
            started = time.perf_counter()
            micro_batches = self.loader.batches(state.cursor)
            minutes = cfg.checkpoint.every_minutes
            late = float(bool(minutes) and _now() - self._last_checkpoint >= 60.0 * minutes)
            label_tokens, tokens, pairs, late = dist_utils.all_reduce_sum(  # ranks agree on `late`
                [
                    sum(b.n_label_tokens for b in micro_batches),
                    sum(b.n_tokens for b in micro_batches),
                    sum(b.attn_pairs for b in micro_batches),
                    late,
                ],
                env,
            )
            ce_total, kl_total = self._forward_backward(micro_batches, label_tokens)
            grad_norm = float(
                torch.nn.utils.clip_grad_norm_(self.params, cfg.train.max_grad_norm or float("inf"))
            )
            lr = self.scheduler.get_last_lr()[0]
            if all(math.isfinite(x) for x in (ce_total, kl_total, grad_norm)):
                self.optimizer.step()
                state.consecutive_bad = 0
            else:  # skip the update, name the documents; raises after too many in a row
                record_bad_step(
                    state, ce_total, grad_norm, micro_batches, env, cfg.train.max_bad_steps
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scheduler.step()
            self.provenance.write(state.step + 1, micro_batches)

            state.step += 1
            state.cursor = self.loader.advance(state.cursor)
            state.tokens_seen += int(tokens)
            state.label_tokens_seen += int(label_tokens)
            seconds = time.perf_counter() - started
            state.train_seconds += seconds
            throughput.add(int(tokens), int(pairs), seconds)
            per_token = max(1.0, label_tokens)
            point = {
                "step": state.step,
                "loss": ce_total / per_token,
                "kl": kl_total / per_token,
                "lr": lr,
                "grad_norm": grad_norm,
                "tokens": state.tokens_seen,
            }
            state.loss_curve.append(point)
            self.scalars.scalars(
                state.step,
                {"train/loss": point["loss"], "train/lr": lr, "train/grad_norm": grad_norm},
            )
            if env.is_main and (
                state.step % cfg.output.log_every == 0 or state.step in (1, self.total_steps)
            ):
                log_step(point, self.total_steps, throughput.summary(), state)

            if (
                cfg.eval.every_steps
                and state.step % cfg.eval.every_steps == 0
                and state.step < self.total_steps
                and self.eval_set
            ):
                state.eval_curve.append(evaluate(self.objective, self.eval_set, state.step, env))
                self.objective.train()
            every = cfg.checkpoint.every_steps
            if late or (every and state.step % every == 0):
                self._save_checkpoint()
            halt = cfg.train.halt_after_steps
            if halt is not None and halt <= state.step < self.total_steps:
                log.warning(
                    "halting after step %d (train.halt_after_steps), as if the job were killed",
                    state.step,
                )
                return {"halted": True, "steps": state.step, "output_dir": str(self.out)}

        if self.eval_set and (not state.eval_curve or state.eval_curve[-1]["step"] != state.step):
            state.eval_curve.append(evaluate(self.objective, self.eval_set, state.step, env))
        if not (self.out / "checkpoints" / f"step-{state.step:08d}").exists():
            self._save_checkpoint()
        if env.is_main and is_full_training(self.model):
            save_full_model(self.model, self.out / "model", self.manifest.tokenizer)
        elif env.is_main:
            save_adapter(self.model, self.out)
        self.scalars.close()
        report = finish_run(self, throughput)
        self._upload_outputs()
        return report

    def _forward_backward(self, micro_batches: list, label_tokens: float) -> tuple[float, float]:
        """Accumulates gradients over this rank's micro-batches; returns the global (CE, KL) sums.

        Every micro-batch's summed loss is scaled by world_size / (the step's global target-token
        count), so after DDP averages over ranks the gradient is exactly that of the token-mean loss
        over the whole global batch, however it is split into micro-batches and ranks.
        """
        env, kl_weight = self.env, self.cfg.train.kl_weight
        scale = env.world_size / max(1.0, label_tokens)
        ce_sum = torch.zeros((), dtype=torch.float64, device=env.device)
        kl_sum = torch.zeros((), dtype=torch.float64, device=env.device)
        for i, batch in enumerate(micro_batches):
            last = i == len(micro_batches) - 1
            sync = contextlib.nullcontext() if last or not env.enabled else self.step_fn.no_sync()
            with sync:  # DDP all-reduces gradients only after the last micro-batch
                ce, kl = self.step_fn(batch.to(env.device))
                ((ce + kl_weight * kl) * scale).backward()
            ce_sum += ce.detach()
            kl_sum += kl.detach()
        ce_total, kl_total = dist_utils.all_reduce_sum([ce_sum.item(), kl_sum.item()], env)
        return ce_total, kl_total

    def _save_checkpoint(self) -> None:
        self._last_checkpoint = _now()
        root = self.out / "checkpoints"
        save_checkpoint(
            root,
            self.model,
            self.optimizer,
            self.scheduler,
            self.state,
            self.identity,
            self.env,
            self.cfg.checkpoint.keep_last,
        )
