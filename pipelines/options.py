"""Beam pipeline options: the user's flags pass through; the local default is pinned.

Without `--runner`, the pipeline runs on Beam's `FnApiRunner` (never `DirectRunner`, which first
tries to download the Prism binary at run time), one worker per core; `run.running_mode: auto`
runs small inputs in-process and larger ones with a worker process per core (each measured
fastest for its size: see benchmarks/RESULTS.md). The choice is logged in one line.
"""

from __future__ import annotations

import logging
import os
from typing import NamedTuple

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from transforms.infra.runners import is_local_runner

log = logging.getLogger("curate")


class LocalMode(NamedTuple):
    """How the local runner runs: Beam's direct_running_mode, its worker count, and why."""

    mode: str
    workers: int
    why: str


def resolve_running_mode(run_cfg, input_bytes: int, cores: int | None = None) -> LocalMode:
    """The local runner mode for a run reading `input_bytes` of input files.

    `auto` picks in_memory below `run.auto_process_bytes` (worker start-up dominates small runs),
    else multi_processing with `run.workers` processes (0: one per core). One worker is always
    in_memory: a single extra process only adds start-up and pickling.
    """
    cores = cores or os.cpu_count() or 1
    workers = run_cfg.workers or cores
    size = f"{input_bytes / 2**20:,.1f} MiB of input"
    limit = f"run.auto_process_bytes {run_cfg.auto_process_bytes / 2**20:,.1f} MiB"
    if run_cfg.running_mode != "auto":
        mode, why = run_cfg.running_mode, f"run.running_mode: {run_cfg.running_mode}"
    elif input_bytes < run_cfg.auto_process_bytes:
        return LocalMode("in_memory", 1, f"auto: {size} < {limit}")
    else:
        mode, why = "multi_processing", f"auto: {size} >= {limit}"
    if workers <= 1 and mode != "in_memory":
        return LocalMode("in_memory", 1, f"{why}, but a single worker runs in-process")
    return LocalMode(mode, workers if mode != "in_memory" else 1, why)


def pipeline_options(
    run_cfg, beam_args: list[str] | None = None, input_bytes: int = 0
) -> PipelineOptions:
    """Beam options from the user's flags, with the local runner's mode and workers filled in."""
    options = PipelineOptions(beam_args or [])
    std = options.view_as(StandardOptions)
    if not std.runner:
        std.runner = "FnApiRunner"
    if is_local_runner(std.runner) and std.runner != "PrismRunner":  # Prism has no direct modes
        flags = " ".join(beam_args or [])
        direct = options.view_as(DirectOptions)
        if "--direct_num_workers" in flags or "--direct_running_mode" in flags:
            log.info("local runner: as set by the Beam flags")
            direct.direct_num_workers = direct.direct_num_workers or run_cfg.workers or 1
            if not direct.direct_running_mode or direct.direct_running_mode == "auto":
                direct.direct_running_mode = resolve_running_mode(run_cfg, input_bytes).mode
            return options
        local = resolve_running_mode(run_cfg, input_bytes)
        direct.direct_num_workers = local.workers
        direct.direct_running_mode = local.mode
        log.info(
            "local runner: %s, %d worker%s (%s)",
            local.mode,
            local.workers,
            "" if local.workers == 1 else "s",
            local.why,
        )
    return options
