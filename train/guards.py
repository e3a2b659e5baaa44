"""Run-time guards and provenance: non-finite steps, and which documents each step trained on.

A step whose loss or gradient norm is not finite is skipped (no optimizer update) and recorded
with the ids of the documents in its batch, gathered from every rank: one bad document should cost
one step, not the run, and it should be findable. After `max_bad_steps` such steps in a row the run
stops with `TrainingDiverged`, naming the documents, since by then the problem is not one batch.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from train import distributed as dist_utils
from train.batch import Batch
from train.checkpoint import TrainerState

log = logging.getLogger("train")


class TrainingDiverged(RuntimeError):
    """Raised after `train.max_bad_steps` consecutive steps with non-finite loss or gradients."""


def _number(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)  # JSON has no nan/inf


def record_bad_step(
    state: TrainerState,
    loss: float,
    grad_norm: float,
    micro_batches: list[Batch],
    env: dist_utils.DistEnv,
    max_bad_steps: int,
) -> None:
    """Logs and records a skipped step; raises TrainingDiverged after too many in a row.

    Every rank must call this for the same step (the verdict is computed from all-reduced values).
    """
    step = state.step + 1
    mine = [i for b in micro_batches for i in b.doc_ids]
    doc_ids = [d for ids in dist_utils.gather_objects(mine, env) for d in ids]
    state.consecutive_bad += 1
    state.bad_steps.append(
        {"step": step, "loss": _number(loss), "grad_norm": _number(grad_norm), "doc_ids": doc_ids}
    )
    log.warning(
        "step %d skipped: non-finite loss %s / grad norm %s; documents in the batch: %s",
        step,
        loss,
        grad_norm,
        doc_ids,
    )
    if state.consecutive_bad >= max_bad_steps:
        recent = [b["doc_ids"] for b in state.bad_steps[-state.consecutive_bad :]]
        raise TrainingDiverged(
            f"{state.consecutive_bad} consecutive steps had a non-finite loss or gradient (last: step {step}, "
            f"loss {loss}, grad norm {grad_norm}). Documents of the failing steps: {recent}. "
            "Check these documents, lower train.lr, or raise train.max_bad_steps."
        )


class ProvenanceLog:
    """Per-rank JSON lines `{"step": s, "segments": [[doc id, start, length], ...]}` (opt-in)."""

    def __init__(self, directory: Path, rank: int, enabled: bool) -> None:
        self.path = directory / f"doc_ids.rank{rank}.jsonl"
        self.enabled = enabled

    def write(self, step: int, micro_batches: list[Batch]) -> None:
        if self.enabled:
            segments = [seg for b in micro_batches for seg in b.segments]
            with open(self.path, "a") as f:
                f.write(json.dumps({"step": step, "segments": segments}) + "\n")

    def truncate(self, step: int) -> None:
        """Drops the lines of steps after `step` (a resumed run is about to replay them)."""
        if self.enabled and self.path.exists():
            lines = self.path.read_text().splitlines()
            self.path.write_text(
                "".join(line + "\n" for line in lines if json.loads(line)["step"] <= step)
            )
