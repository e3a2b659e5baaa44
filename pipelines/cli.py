"""`curate` command line: run, report, train, demo-data.

    curate run --config configs/demo.yaml [--input GLOB ...] [--output DIR] [--overwrite] [--set KEY=VALUE ...] [beam flags]
    curate report OUT
    curate train --manifest OUT/manifest.json --config configs/train/lora_demo.yaml [--set KEY=VALUE] [--force]
    curate classifier train --positives GLOB (--negatives GLOB | --config YAML) --out MODEL.safetensors
    curate ablate --config configs/ablation_demo.yaml [--set KEY=VALUE] [--output DIR]

Unknown flags of `curate run` are Beam pipeline options and pass through unchanged
(`--runner DataflowRunner --project ... --region ... --temp_location gs://... --setup_file ./setup.py`),
with or without a `--` before them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from train.typed_config import ConfigError


class _HideGcpImportWarning(logging.Filter):
    """Drops Beam's import-time notice that the optional GCP client libraries are missing.

    `apache_beam.io.gcp.internal.clients.bigquery` logs "apitools not found, and bigquery client
    libraries are not available..." on the root logger whenever Beam is imported without the
    `gcp` extra. It concerns only BigQuery and Dataflow, yet a newcomer reads it as an error.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


_HIDE_GCP_WARNING = _HideGcpImportWarning()


class _HideBeamChatter(logging.Filter):
    """Drops INFO and DEBUG records logged by Beam's own code on the root logger.

    Beam's named loggers are set to ERROR below, but some of its code logs through the root
    logger: the portable runner relays every job-service message with `logging.log` ("Completed
    job in ...", "starting control server on port ..."), which would print with curate's
    `[curate]` prefix as if curate had said it. Beam's warnings and errors still show.
    """

    def __init__(self) -> None:
        super().__init__()
        import importlib.util

        spec = importlib.util.find_spec("apache_beam")
        origin = spec.origin if spec and spec.origin else ""
        self.beam_dir = os.path.dirname(origin) + os.sep if origin else None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or self.beam_dir is None:
            return True
        return not record.pathname.startswith(self.beam_dir)


_HIDE_BEAM_CHATTER: _HideBeamChatter | None = None


def _uses_gcp(argv: list[str]) -> bool:
    """Whether the command line names a GCP runner or a gs:// path (then the notice matters)."""
    return any("DataflowRunner" in arg or "gs://" in arg for arg in argv)


def _quiet_beam(argv: list[str] | None = None) -> None:
    """Logging for the CLI; must run before apache_beam is first imported (see above)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    logging.basicConfig(level=logging.INFO, format="[curate] %(message)s")
    global _HIDE_BEAM_CHATTER
    if _HIDE_BEAM_CHATTER is None:
        _HIDE_BEAM_CHATTER = _HideBeamChatter()
    for handler in logging.getLogger().handlers:  # records of child loggers skip root's filters
        handler.addFilter(_HIDE_BEAM_CHATTER)
    for name in ("apache_beam", "absl", "great_expectations", "matplotlib"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if not _uses_gcp(sys.argv[1:] if argv is None else argv):
        logging.getLogger().addFilter(_HIDE_GCP_WARNING)  # addFilter ignores a second add


def import_beam_plugins(beam_args: list[str]) -> None:
    """Imports the modules of `--beam_plugins` here too, as Beam's workers do: a FileSystem for
    a URL scheme registers on import, and the config check looks the run's URLs up before any
    work (Beam itself imports them only in the workers)."""
    import importlib

    from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions

    for name in PipelineOptions(beam_args).view_as(SetupOptions).beam_plugins or []:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise ConfigError([f"--beam_plugins {name!r} cannot be imported: {e}"]) from e


def cmd_run(args, beam_args: list[str]) -> int:
    """Exit 0: success; 2: bad config (before any work); 3: the run finished but failed its
    accounting, wrote no shards or failed validation (one line says why); 1: a crash."""
    from pipelines.config import load_config
    from pipelines.run import run, run_failure
    from quality.report.summary import end_of_run_notes, summarize_manifest
    from transforms.infra import fs

    import_beam_plugins(beam_args)
    config_notes: list[str] = []
    cfg = load_config(args.config, args.set, args.input, args.output, notes=config_notes)
    manifest = run(cfg, beam_args, overwrite=args.overwrite)
    try:
        with fs.open_read(fs.join(cfg.run.output, "stats.json")) as fh:
            stats = json.load(fh)
    except (OSError, ValueError):
        stats = {}
    if isinstance(manifest.get("timings"), dict):  # the summary's time: the whole command
        manifest["timings"]["command_s"] = round(time.time() - args.started, 2)
    print(summarize_manifest(manifest, stats, cfg.run.output))
    notes = end_of_run_notes(manifest, stats, config_notes)
    if notes:
        print(f"\n{notes}")
    failure = run_failure(manifest)
    if failure:
        print(f"curate run: {failure}", file=sys.stderr)
        return 3
    return 0


def cmd_report(args, _beam_args) -> int:
    from quality.report import summarize

    path = os.path.join(args.output, "manifest.json")
    if not os.path.exists(path):
        print(f"curate report: no manifest at {path} (has the run finished?)", file=sys.stderr)
        return 2
    print(summarize(args.output))
    return 0


# What `curate train` imports beyond curation: the `train` extra of setup.py.
TRAIN_MODULES = ("torch", "transformers", "peft", "safetensors")
TORCH_SPEC = "torch==2.13.0"  # the Makefile's default TORCH_SPEC; GPU users bring their own


def _missing_train_modules() -> list[str]:
    from importlib.util import find_spec

    missing = []
    for name in TRAIN_MODULES:
        try:
            found = find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or blocked install counts as missing
            found = False
        if not found:
            missing.append(name)
    return missing


def _train_install_hint(missing: list[str]) -> str:
    import shlex

    py = shlex.quote(sys.executable)
    return (
        f"curate train: training needs the `train` extra; not installed: {', '.join(missing)}.\n"
        "Install torch first (the build `make test` uses), then the extra, from the curate"
        " checkout:\n"
        f"  {py} -m pip install '{TORCH_SPEC}'\n"
        f"  {py} -m pip install -e '.[train]'\n"
        "or run `make train-demo`, which does both and trains on the demo run. GPU users install"
        " their own CUDA build of torch instead of the first line."
    )


def cmd_train(args, _beam_args) -> int:
    missing = _missing_train_modules()
    if missing:
        print(_train_install_hint(missing), file=sys.stderr)
        return 2
    import train

    try:
        report = train.run_training(
            args.manifest, args.config, overrides=args.set, force=args.force, output=args.output
        )
    except (train.ConfigError, train.ManifestError) as exc:
        print(f"curate train: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # a dependency of the train extra itself is missing
        if (exc.name or "").split(".")[0] not in TRAIN_MODULES:
            raise
        print(_train_install_hint([exc.name]), file=sys.stderr)
        return 2
    print(
        json.dumps(
            {k: report[k] for k in report if k not in ("loss_curve", "config")},
            indent=1,
            default=str,
        )
    )
    return 0


def cmd_classifier_train(args, _beam_args) -> int:
    from pipelines.classifier_train import (
        ClassifierJob,
        print_report,
        run_training,
        settings_from_args,
    )

    try:
        settings = settings_from_args(args)
        problems = settings.problems()
        if problems:
            raise ConfigError(problems)
        summary = run_training(
            ClassifierJob(
                positives=args.positives,
                out=args.out,
                negatives=args.negatives,
                config=args.config,
                max_docs=args.max_docs,
                settings=settings,
            )
        )
    except ValueError as exc:  # empty globs, a class without documents, bad settings
        print(f"curate classifier train: {exc}", file=sys.stderr)
        return 2
    print_report(summary, as_json=args.json)
    return 0


def _classifier_parser(sub) -> None:
    cls = sub.add_parser(
        "classifier",
        help="train a quality classifier on your reference text",
        description="Quality classifiers for the classifier_v1 scorer.",
        epilog="example:\n  curate classifier train --config configs/demo.yaml"
        " --positives 'out/demo/demo_input/docs-*.jsonl.gz' --out out/classifier/docs.safetensors",
        formatter_class=_HelpFormatter,
    )
    csub = cls.add_subparsers(dest="classifier_command", required=True)
    ct = csub.add_parser(
        "train",
        help="fit and save a model for the classifier_v1 scorer",
        description="Fits a hashed n-gram logistic classifier: your reference text (positives)"
        " against a uniform sample of raw text (negatives), prints the held-out ROC-AUC and"
        " precision/recall, and writes one safetensors file.",
        epilog="example:\n  curate classifier train --config configs/demo.yaml"
        " --positives 'out/demo/demo_input/docs-*.jsonl.gz' --out out/classifier/docs.safetensors",
        formatter_class=_HelpFormatter,
    )
    ct.add_argument(
        "--positives",
        action="append",
        required=True,
        metavar="GLOB",
        help="reference text: JSONL/Parquet/text files (repeatable)",
    )
    ct.add_argument(
        "--negatives",
        action="append",
        metavar="GLOB",
        help="raw text (repeatable); default: the input of --config",
    )
    ct.add_argument("--config", help="pipeline YAML whose input is the raw text (and normalize)")
    ct.add_argument("--out", required=True, help="model file to write (.safetensors)")
    ct.add_argument("--max-docs", type=int, default=5000, help="documents sampled per class")
    ct.add_argument("--holdout", type=float, default=0.2, help="held-out fraction")
    ct.add_argument("--threshold", type=float, default=0.5, help="operating point reported")
    ct.add_argument("--chars", action="store_true", help="add char 3-5-grams (~9x slower scoring)")
    ct.add_argument("--hash-bits", type=int, default=20, help="2**bits hashed features")
    ct.add_argument("--max-chars", type=int, default=10_000, help="characters read per document")
    ct.add_argument("--seed", type=int, default=0, help="sampling and holdout seed")
    ct.add_argument(
        "--json", action="store_true", help="print the full training summary as JSON instead"
    )
    ct.set_defaults(func=cmd_classifier_train)


def cmd_ablate(args, _beam_args) -> int:
    from pipelines.ablate import load_ablation_config, run_ablation

    cfg = load_ablation_config(args.config, args.set)
    if args.output:
        cfg.output = args.output
    result = run_ablation(cfg)  # a ConfigError (exit 2) is raised before any work
    for arm in result["arms"].values():
        print(f"{arm['name']:>16}: {arm['verdict']}")
    print(f"ablation.json and report: {result['output']} ({result['report']})")
    return 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default (not the empty ones: none, off, an empty list) and keeps the
    examples' line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, []) or action.required:
            return action.help or ""
        return super()._get_help_string(action)


RUN_EPILOG = """\
Beam pipeline options: every flag curate does not know goes to Beam unchanged, with or
without a `--` before them, e.g. --runner DataflowRunner --project P --region R
--temp_location gs://B/tmp --setup_file ./setup.py, or --runner PortableRunner
--job_endpoint HOST:PORT --environment_type EXTERNAL --environment_config HOST:PORT.
Without --runner: Beam's embedded FnApiRunner (run.running_mode picks in-process or a
worker process per core).

exit codes:
  0    ok
  2    bad config (one message listing every problem; nothing was run)
  3    finished, but the accounting does not add up, no training shards were written,
       or validation failed (one line on stderr says which; outputs stay for inspection)
  1    a crash (a traceback)
  130  interrupted (Ctrl-C)

examples:
  curate run --config configs/demo.yaml
  curate run --config configs/demo.yaml --input 'data/*.jsonl.gz' --output out/mine
  curate run --config my.yaml --set shards.rows_per_shard=2000 --set run.seed=7
"""


def _set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, read as YAML (repeatable), e.g. train.max_steps=100",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="curate",
        description="Beam-native corpus curation into tokenized shards, and LoRA training on them.",
        epilog="example:\n  curate run --config configs/demo.yaml\n"
        "  curate SUBCOMMAND --help   (each subcommand's options, defaults and an example)",
        formatter_class=_HelpFormatter,
    )
    ap.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run the curation pipeline (unknown flags go to Beam)",
        description="Curates the config's input (or --input) into shards, stats, a report and"
        " manifest.json in the output folder.",
        epilog=RUN_EPILOG,
        formatter_class=_HelpFormatter,
    )
    run.add_argument("--config", required=True, help="pipeline config YAML (configs/demo.yaml)")
    run.add_argument(
        "--input",
        action="append",
        metavar="GLOB",
        help="input glob(s); replaces the config's sources (repeatable)",
    )
    run.add_argument("--output", help="output folder or URL (overrides run.output)")
    _set_option(run)
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty output folder that no curate run wrote (deletes nothing)",
    )
    run.set_defaults(func=cmd_run)
    rep = sub.add_parser(
        "report",
        help="print the summary of a finished run",
        description="Prints the summary table of a finished run (OUT/report/index.html has the"
        " plots).",
        epilog="example:\n  curate report out/demo",
        formatter_class=_HelpFormatter,
    )
    rep.add_argument("output", metavar="OUT", help="the run's output folder")
    rep.set_defaults(func=cmd_report)
    tr = sub.add_parser(
        "train",
        help="train a LoRA adapter on a run's shards",
        description="Trains an adapter (or a whole model) on a run's shards after checking them"
        " against the manifest; needs the train extra. Writes the adapter, its tokenizer,"
        " training_report.json and a loss plot.",
        epilog="example:\n  curate train --manifest out/demo/manifest.json"
        " --config configs/train/lora_demo.yaml --set train.max_steps=100",
        formatter_class=_HelpFormatter,
    )
    tr.add_argument("--manifest", required=True, help="a run's manifest.json (path or gs:// URL)")
    tr.add_argument("--config", required=True, help="training config YAML (path or URL)")
    _set_option(tr)
    tr.add_argument(
        "--force", action="store_true", help="train even if the manifest's validation failed"
    )
    tr.add_argument(
        "--output",
        help="adapter output folder or URL (default: the train config's output.dir, else"
        " MANIFEST_DIR/adapters/NAME)",
    )
    tr.set_defaults(func=cmd_train)
    _classifier_parser(sub)
    ab = sub.add_parser(
        "ablate",
        help="train one model per curation variant, compare on held-out data",
        description="Curates each arm of an ablation config, trains the same small model on each"
        " for the same tokens and seeds, and compares them on held-out data.",
        epilog="example:\n  curate ablate --config my_ablation.yaml"
        " --set train.tokens=2000000 --output out/abl",
        formatter_class=_HelpFormatter,
    )
    ab.add_argument("--config", required=True, help="an ablation YAML (configs/ablation_demo.yaml)")
    _set_option(ab)
    ab.add_argument("--output", help="output folder (default: the config's output)")
    ab.set_defaults(func=cmd_ablate)
    return ap


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("curate")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "0.0.0+unknown"


def beam_flags(extra: list[str]) -> list[str]:
    """The Beam flags among `curate run`'s unknown arguments, without a `--` separator.

    argparse passes `--` through; Beam's own parser would then take every flag after it for a
    positional argument and drop it (`curate run ... -- --runner PortableRunner` ran locally).
    """
    if "--" in extra:
        extra = list(extra)
        extra.remove("--")
    return extra


def main(argv: list[str] | None = None) -> int:
    started = time.time()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    args.started = started
    extra = beam_flags(extra)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _quiet_beam(sys.argv[1:] if argv is None else argv)
    from pipelines.malloc import limit_malloc_arenas

    limit_malloc_arenas()  # the embedded runner's threads (see pipelines/malloc.py)
    try:
        return args.func(args, extra)
    except ConfigError as exc:
        print(f"curate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # `curate run` has restored the previous outputs and released the folder (pipelines.run).
        print("curate: interrupted", file=sys.stderr)
        _exit_past_runner_threads(130, argv is None)
        return 130


def _exit_past_runner_threads(code: int, command_line: bool) -> None:
    """Exits now when Beam's runner left a non-daemon thread behind after Ctrl-C.

    Python's exit joins every non-daemon thread, and a runner thread blocked on a worker that
    was interrupted with it never returns (a run waited 688 s for a second Ctrl-C). Cleanup is
    done by now, so on the command line the process ends with `os._exit`; called in-process
    (tests), the caller gets the code.
    """
    import threading

    stuck = [
        t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()
    ]
    if not stuck or not command_line:
        return
    logging.getLogger("curate").debug("exiting past runner threads: %s", ", ".join(stuck))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
