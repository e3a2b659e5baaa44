"""Beam pipeline options: the user's flags pass through; the local default is pinned.

Without `--runner`, the pipeline runs on Beam's `FnApiRunner` (never `DirectRunner`, which first
tries to download the Prism binary at run time), one worker per core; `run.running_mode: auto`
runs small inputs in-process and larger ones with a worker process per core (each measured
fastest for its size: see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import os

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions


def resolve_running_mode(run_cfg, input_bytes: int) -> str:
    """The local runner mode: `auto` picks in_memory for small inputs, else multi_processing."""
    if run_cfg.running_mode != "auto":
        return run_cfg.running_mode
    return "in_memory" if input_bytes < run_cfg.auto_process_bytes else "multi_processing"


def pipeline_options(
    run_cfg, beam_args: list[str] | None = None, input_bytes: int = 0
) -> PipelineOptions:
    options = PipelineOptions(beam_args or [])
    std = options.view_as(StandardOptions)
    if not std.runner:
        std.runner = "FnApiRunner"
    if std.runner in ("FnApiRunner", "DirectRunner", "BundleBasedDirectRunner"):
        direct = options.view_as(DirectOptions)
        if "--direct_num_workers" not in " ".join(beam_args or []):
            direct.direct_num_workers = run_cfg.workers or (os.cpu_count() or 1)
        if "--direct_running_mode" not in " ".join(beam_args or []):
            direct.direct_running_mode = (
                run_cfg.running_mode if direct.direct_num_workers > 1 else "in_memory"
            )
    return options
