"""`run.running_mode: auto` chooses the local runner mode by input size and says why."""

import logging

from apache_beam.options.pipeline_options import DirectOptions

from pipelines.config import RunConfig
from pipelines.options import pipeline_options, resolve_running_mode

MIB = 1 << 20


def test_auto_runs_small_inputs_in_process():
    local = resolve_running_mode(RunConfig(auto_process_bytes=32 * MIB), 5 * MIB, cores=8)
    assert (local.mode, local.workers) == ("in_memory", 1)
    assert "5.0 MiB of input < run.auto_process_bytes 32.0 MiB" in local.why


def test_auto_runs_large_inputs_with_a_process_per_core():
    local = resolve_running_mode(RunConfig(auto_process_bytes=32 * MIB), 40 * MIB, cores=8)
    assert (local.mode, local.workers) == ("multi_processing", 8)
    assert ">=" in local.why
    workers = resolve_running_mode(RunConfig(workers=3), 40 * MIB, cores=8)
    assert (workers.mode, workers.workers) == ("multi_processing", 3)


def test_one_worker_runs_in_process():
    local = resolve_running_mode(RunConfig(workers=1), 40 * MIB, cores=8)
    assert (local.mode, local.workers) == ("in_memory", 1)


def test_explicit_mode_is_kept():
    local = resolve_running_mode(RunConfig(running_mode="multi_threading", workers=2), 1, cores=8)
    assert (local.mode, local.workers) == ("multi_threading", 2)


def test_options_never_pass_auto_to_beam_and_log_the_choice(caplog):
    with caplog.at_level(logging.INFO, logger="curate"):
        opts = pipeline_options(RunConfig(workers=2), [], input_bytes=64 * MIB)
    direct = opts.view_as(DirectOptions)
    assert (direct.direct_running_mode, direct.direct_num_workers) == ("multi_processing", 2)
    assert any(
        "local runner: multi_processing, 2 workers (auto:" in r.message for r in caplog.records
    )
    small = pipeline_options(RunConfig(workers=2), [], input_bytes=1).view_as(DirectOptions)
    assert small.direct_running_mode == "in_memory"


def test_beam_flags_win():
    opts = pipeline_options(RunConfig(), ["--direct_running_mode=multi_threading"], 64 * MIB)
    assert opts.view_as(DirectOptions).direct_running_mode == "multi_threading"
