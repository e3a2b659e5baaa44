"""Beam pipeline options: the user's flags pass through; the local default is pinned.

Without `--runner`, the pipeline runs on Beam's `FnApiRunner` (never `DirectRunner`, which first
tries to download the Prism binary at run time), with one worker process per core in
`multi_processing` mode (measured fastest here: see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import os

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions


def pipeline_options(run_cfg, beam_args: list[str] | None = None) -> PipelineOptions:
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
