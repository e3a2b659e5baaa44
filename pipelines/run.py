"""Driver: prepare a run (demo corpus, read tasks, tokenizer), execute the graph, load the manifest."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import time
from contextlib import contextmanager
from itertools import islice

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    SetupOptions,
    StandardOptions,
)

from pipelines.config import DEMO_SOURCES, CurateConfig, SourceConfig
from pipelines.graph import RunPlan, build_graph
from pipelines.options import pipeline_options
from pipelines.output_folder import OutputFolder, redirect_inputs, run_outputs
from pipelines.output_lock import OutputFolderError
from pipelines.progress import ProgressLines, progress_channel
from pipelines.progress_metrics import FollowedPipeline
from transforms.infra import fs
from transforms.infra.record import Record
from transforms.infra.runners import is_local_runner
from transforms.stages.normalize import Normalizer
from transforms.stages.readers import plan_read_tasks, read_task
from transforms.stages.shards import choose_write_path
from transforms.stages.tokenize import (
    describe_tokenizer,
    resolve_tokenizer_file,
    save_tokenizer,
    train_bpe,
)

log = logging.getLogger("curate")


def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("curate")
    except PackageNotFoundError:
        v = "0.0.0"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(__file__),
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{v}+g{sha}" if sha else v


def demo_sources(cfg: CurateConfig, output: str) -> list[SourceConfig]:
    """Builds the demo corpus under OUTPUT/demo_input and returns its sources."""
    from pipelines.demo_data import build_corpus

    folder = os.path.join(output, "demo_input")
    if not os.path.exists(os.path.join(folder, ".complete")):
        build_corpus(
            folder,
            max_docs=cfg.input.demo.max_docs,
            seed=cfg.run.seed,
            malformed=cfg.input.demo.malformed,
        )
        open(os.path.join(folder, ".complete"), "w").close()
    extra = [os.path.join(folder, "truncated-*.jsonl.gz")] if cfg.input.demo.malformed else []
    # One source per generated file family; the names are the ones the config check knows.
    return [
        SourceConfig(
            name, [os.path.join(folder, f"{name}-*.jsonl.gz"), *(extra if name == "docs" else [])]
        )
        for name in DEMO_SOURCES
    ]


def sample_texts(tasks, normalizer: Normalizer, max_docs: int, max_bytes: int) -> list[str]:
    """A deterministic sample across input files, normalized, for tokenizer training.

    The first records of each file (an equal share per file, files in plan order), read through
    the file's tasks in order: the sample does not depend on how `input.split_bytes` cuts files
    into tasks, so neither does the tokenizer nor any shard.
    """
    files: dict[str, list] = {}
    for task in tasks:
        files.setdefault(task.path, []).append(task)
    per_file = max(1, -(-max_docs // max(len(files), 1)))
    texts, total = [], 0
    for file_tasks in files.values():
        records = (
            r
            for task in sorted(file_tasks, key=lambda t: t.start)
            for r in read_task(task)
            if isinstance(r, Record)
        )
        for item in islice(records, per_file):
            text = normalizer(item.text)
            if text:
                texts.append(text)
                total += len(text)
            if len(texts) >= max_docs or total >= max_bytes:
                return texts
    return texts


def resolve_output(cfg: CurateConfig) -> str:
    """Makes run.output absolute (a URL stays as it is) and returns it."""
    if not fs.is_remote(cfg.run.output):
        cfg.run.output = os.path.abspath(cfg.run.output)
    return cfg.run.output


def output_folder(cfg: CurateConfig, overwrite: bool = False) -> OutputFolder:
    """The run's output folder (not yet locked nor claimed: see `run`)."""
    return OutputFolder(resolve_output(cfg), run_outputs(cfg), overwrite)


# `_tmp` measured at up to 2.7x the input files' size (issue 18); below this factor a run warns.
FREE_SPACE_FACTOR = 3.0


def check_free_space(output: str, input_bytes: int, factor: float = FREE_SPACE_FACTOR) -> None:
    """Warns when the output's disk has less than `factor` x the input free; fails (exit 2)
    when it has less than the input itself (the run would surely fill the disk)."""
    if fs.is_remote(output) or not input_bytes:
        return
    import shutil

    free = shutil.disk_usage(output).free
    need = int(factor * input_bytes)
    if free >= need:
        return
    numbers = (
        f"{free / 2**30:.2f} GiB free under {output}, input {input_bytes / 2**30:.2f} GiB;"
        f" a run's scratch (_tmp) reaches ~2.7x the input"
    )
    if free < input_bytes:
        raise OutputFolderError(f"not enough disk space for this run: {numbers}")
    log.warning("low disk space: %s (%.0fx recommended)", numbers, factor)


def build_tokenizer(cfg: CurateConfig, tasks, folder: str) -> tuple:
    """The run's tokenizer (given, or trained on a sample of the input) saved as
    `folder/tokenizer.json`; returns its TokenizerInfo and JSON text.

    Built in a local folder first (the tokenizers library reads and writes local files only),
    then copied into a remote output.
    """
    tcfg = cfg.tokenizer
    with tempfile.TemporaryDirectory(prefix="curate-tok-") as scratch:
        local = scratch if fs.is_remote(folder) else folder
        tok_path = os.path.join(local, "tokenizer.json")
        if tcfg.path:
            fs.atomic_write_bytes(tok_path, fs.read_bytes(resolve_tokenizer_file(tcfg.path)))
            info = describe_tokenizer(tok_path, tcfg.eos_token, tcfg.pad_token)
        else:
            t0 = time.time()
            texts = sample_texts(
                tasks,
                Normalizer.from_config(cfg.normalize),
                tcfg.train_sample_docs,
                tcfg.train_sample_bytes,
            )
            tok = train_bpe(texts, tcfg.vocab_size, [tcfg.eos_token, tcfg.pad_token])
            info = save_tokenizer(tok, tok_path, tcfg.eos_token, tcfg.pad_token)
            log.info(
                "trained a %d-token BPE on %d sampled documents in %.1fs",
                info.vocab_size,
                len(texts),
                time.time() - t0,
            )
        with open(tok_path, encoding="utf-8") as fh:
            tokenizer_json = fh.read()
        if local != folder:
            fs.atomic_write_bytes(fs.join(folder, "tokenizer.json"), tokenizer_json.encode())
    return info, tokenizer_json


def prepare(
    cfg: CurateConfig,
    config_dict: dict | None = None,
    config_sha256: str = "",
    outputs: list[str] | None = None,
) -> RunPlan:
    """Plans the read tasks and builds the tokenizer, in a claimed output folder.

    `outputs`: the names this run creates (the claimed folder's; default: all it writes).
    """
    output = cfg.run.output
    sources = list(cfg.input.sources)
    if cfg.input.demo.enabled:
        sources += demo_sources(cfg, output)
    tasks = plan_read_tasks(sources, cfg.input.split_bytes, cfg.input.max_line_bytes)
    info, _ = build_tokenizer(cfg, tasks, fs.join(output, "tokenizer"))
    plan = RunPlan(
        cfg,
        output,
        tasks,
        info,
        score_columns(cfg),
        code_version(),
        label_columns=label_columns(cfg),
        config_dict=config_dict or cfg.to_dict(),
        config_sha256=config_sha256 or cfg.sha256(),
        outputs=run_outputs(cfg) if outputs is None else outputs,
    )
    if cfg.sampling.dsir.enabled:
        plan.dsir = fit_dsir(cfg, tasks)
    return plan


def score_columns(cfg: CurateConfig) -> list[str]:
    """Float32 score columns of the shards (fixed for a config)."""
    cols: list[str] = []
    if cfg.quality.enabled:
        from transforms.stages.score import score_columns as quality_columns

        cols += quality_columns(cfg.quality)
    if cfg.sampling.dsir.enabled and "dsir" not in cols:
        cols.append("dsir")
    return cols


def label_columns(cfg: CurateConfig) -> list[str]:
    """String columns of the shards taken from record meta (fixed for a config)."""
    from quality.stage import label_columns as quality_labels

    cols: list[str] = list(quality_labels(cfg.quality))  # what the scorers declare
    if cfg.dedup.decontamination.eval_sets and cfg.dedup.decontamination.action == "flag":
        cols.append("decontam")  # the eval sets a kept document shares 13-grams with
    return cols


def fit_dsir(cfg: CurateConfig, tasks):
    """DSIR models fitted in the driver: target sample from config, raw sample from the input."""
    from transforms.sampling.targets import fit_dsir_scorer

    dcfg = cfg.sampling.dsir
    raw = sample_texts(
        tasks, Normalizer.from_config(cfg.normalize), dcfg.raw_sample_docs, 256 << 20
    )
    scorer, _ = fit_dsir_scorer(dcfg, raw)
    return scorer


def run(cfg: CurateConfig, beam_args: list[str] | None = None, overwrite: bool = False) -> dict:
    """Runs the whole curation job; returns the manifest.

    A run that finished (its manifest written) returns its manifest even when its last step
    raised because the accounting does not add up: the caller reads `accounting_ok`. Any other
    failure (Ctrl-C included) raises, after the previous run's outputs are put back; the output
    folder's lock is released on every path.
    """
    t0 = time.time()
    # The manifest records the config as given (inputs moved aside are read from their new place).
    resolve_output(cfg)
    config_dict, config_sha256 = cfg.to_dict(), cfg.sha256()
    folder = output_folder(cfg, overwrite)
    with folder.locked():
        folder.check()
        try:
            moves = folder.claim()
        except BaseException:  # e.g. Ctrl-C while moving aside: what moved comes back
            with _sigint_ignored():
                folder.failed()
            raise
        redirect_inputs(cfg, moves)
        return _run_claimed(cfg, folder, beam_args, t0, config_dict, config_sha256)


def _run_claimed(cfg, folder: OutputFolder, beam_args, t0, config_dict, config_sha256) -> dict:
    """`run` in a claimed folder: the pipeline, then keep the new outputs or restore the old."""
    pipeline = None
    try:
        plan = prepare(cfg, config_dict, config_sha256, outputs=folder.outputs)
        plan.started_unix, plan.prepared_unix = t0, time.time()
        input_bytes = sum(t.size for t in plan.tasks)
        check_free_space(cfg.run.output, input_bytes)
        options = pipeline_options(cfg.run, beam_args, input_bytes=input_bytes)
        local = is_local_runner(options.view_as(StandardOptions).runner)
        processes = options.view_as(DirectOptions).direct_running_mode == "multi_processing"
        plan.write_path = choose_write_path(
            cfg.shards.write_path, options.view_as(StandardOptions).runner
        )
        pipeline = new_pipeline(
            options, beam_args, cfg.run.progress and not local, input_bytes, len(plan.tasks)
        )
        with (
            progress_channel(cfg.run.progress and local, input_bytes, len(plan.tasks), processes),
            _no_duplicate_tracebacks(),
            pipeline as p,
        ):
            build_graph(p, plan)
    except BaseException:
        with _sigint_ignored():  # a second Ctrl-C must not cut the restore short
            _drop_pipeline_tempdir(pipeline)
            manifest = _manifest_of_this_run(cfg.run.output, t0)
            if manifest is None:  # a crash before the manifest: the previous outputs come back
                folder.failed()
                raise
            folder.finished()  # the new outputs are complete (even if training after them failed)
        if manifest.get("accounting_ok") is not False:
            raise
        log.debug("the run finished with broken accounting", exc_info=True)
        return manifest
    _drop_pipeline_tempdir(pipeline)
    manifest = _manifest_of_this_run(cfg.run.output, t0)
    if manifest is None:
        folder.failed()
        raise RuntimeError(f"the pipeline finished without writing {cfg.run.output}/manifest.json")
    folder.finished()
    return manifest


@contextmanager
def _sigint_ignored():
    """SIGINT ignored for the block (main thread only: elsewhere signals cannot be set)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _drop_pipeline_tempdir(pipeline) -> None:
    """Beam's Pipeline makes a `beam-pipeline-temp*` folder in the system temp dir and deletes it
    only when `run()` is reached; a pipeline that fails while being built leaves it behind."""
    tempdir = getattr(pipeline, "local_tempdir", None)
    if tempdir:
        import shutil

        shutil.rmtree(tempdir, ignore_errors=True)


def new_pipeline(
    options, beam_args: list[str] | None, follow: bool, input_bytes: int, n_tasks: int
) -> beam.Pipeline:
    """The run's Pipeline; with `follow`, one that polls the job's progress counters until it
    ends (runners with no local progress channel: pipelines.progress_metrics)."""
    from transforms.infra.beam_fastpath import install

    install()  # Beam's per-transform introspection, memoized (transforms/infra/beam_fastpath.py)
    runner = local_runner(options, beam_args)
    if not follow:
        return beam.Pipeline(runner=runner, options=options)
    return FollowedPipeline(
        runner=runner, options=options, progress=ProgressLines(input_bytes, n_tasks)
    )


def local_runner(options, beam_args: list[str] | None):
    """The embedded runner for `multi_processing` runs, with workers started by
    `pipelines.beam_worker` (Beam's worker main, without its GCP import notice); None otherwise
    (Beam builds the runner the options name).

    Beam replaces a runner's worker environment when the mode is multi_processing, so the mode is
    passed as in_memory with the same number of workers: each worker is still a process.
    """
    import sys

    direct = options.view_as(DirectOptions)
    uses_gcp = any("DataflowRunner" in a or "gs://" in a for a in beam_args or [])
    if (
        options.view_as(StandardOptions).runner != "FnApiRunner"
        or direct.direct_running_mode != "multi_processing"
        or uses_gcp
    ):
        return None
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.transforms.environments import SubprocessSDKEnvironment

    direct.direct_running_mode = "in_memory"
    logging.getLogger("apache_beam.runners.portability.fn_api_runner.fn_runner").addFilter(
        _ModeNotice()
    )
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner.fn_runner import ExtendedProvisionInfo

    # `exec`: Beam starts the command through a shell; without it, Ctrl-C kills that shell and
    # Beam reports a worker crash (the worker itself leaves SIGINT to the driver: beam_worker).
    command = f"exec {sys.executable} -m pipelines.beam_worker"
    # Beam's worker main imports the `--beam_plugins` of the options it is given (e.g. a
    # FileSystem for a URL scheme); FnApiRunner alone gives its workers no options at all.
    plugins = options.view_as(SetupOptions).beam_plugins or []
    provision = beam_provision_api_pb2.ProvisionInfo(
        retrieval_token="unused-retrieval-token",
        pipeline_options=PipelineOptions(beam_plugins=plugins).to_runner_api(),
    )
    return FnApiRunner(
        default_environment=SubprocessSDKEnvironment.from_command_string(command_string=command),
        provision_info=ExtendedProvisionInfo(provision),
    )


class _ModeNotice(logging.Filter):
    """Beam warns that in_memory with several workers does not parallelise; here it does."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "direct_running_mode should be" not in str(record.msg)


@contextmanager
def _no_duplicate_tracebacks():
    """Beam logs a failing step's traceback before raising it; the driver shows it once (a crash)
    or turns it into one line (a finished run that failed its accounting)."""
    logger = logging.getLogger("apache_beam.runners.common")
    drop = logging.Filter("(nothing)")  # a filter that matches no logger name: drops all
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _manifest_of_this_run(output: str, t0: float) -> dict | None:
    """The manifest in `output` if this run wrote it (the previous one was moved aside)."""
    try:
        with fs.open_read(fs.join(output, "manifest.json")) as fh:
            manifest = json.load(fh)  # written once, by the pipeline's last step
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("created_unix", 0) < int(t0):
        return None
    return manifest


def run_failure(manifest: dict) -> str | None:
    """Why a finished run failed, in one line (exit 3); None when it succeeded.

    Checked in order: the accounting, shards written, the validation gate (a gate turned off in
    the config is not a failure).
    """
    from transforms.infra.accounting import accounting_problems

    acc = manifest.get("accounting") or {}
    if not manifest.get("accounting_ok"):
        problems = accounting_problems(acc) if acc else ["no accounting in the manifest"]
        return "accounting does not add up: " + "; ".join(problems or ["(see the manifest)"])
    if not manifest.get("shards"):
        return "no training shards written: " + _why_nothing_written(acc, manifest)
    validation = manifest.get("validation") or {}
    if validation.get("skipped") and validation.get("success") is None:
        return None
    if validation.get("success") is not True:
        failed = validation.get("failed") or []
        total = len(validation.get("expectations") or [])
        detail = validation.get("error") or (
            f"{len(failed)} of {total} checks failed: {', '.join(failed[:6])}"
            + (" ..." if len(failed) > 6 else "")
        )
        return f"validation failed: {detail}"
    return None


def _why_nothing_written(acc: dict, manifest: dict) -> str:
    read = acc.get("read", 0)
    if not read:
        return "no documents were read (are the input files empty?)"
    if acc.get("written"):
        n_eval = sum(s.get("rows", 0) for s in manifest.get("eval_shards") or [])
        return f"all {n_eval:,} documents written went to eval shards (sampling.eval_fraction?)"
    fates = [("sampled out", acc.get("sampled_out", 0))]
    for place in ("rejected", "removed", "dead_letter"):
        for reason, n in (acc.get(place) or {}).items():
            fates.append((f"{place.replace('_', '-')} ({reason})", n))
    fates = sorted((f for f in fates if f[1]), key=lambda f: -f[1])
    parts = ", ".join(f"{n:,} {what}" for what, n in fates[:4])
    hint = ""
    if fates and fates[0][0] == "sampled out":
        hint = "; does sampling (the mixture, the budget) name these sources?"
    return f"of {read:,} documents read, {parts}{hint}"
