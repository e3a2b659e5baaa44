"""`curate` command line: run, report, train, demo-data.

    curate run --config configs/demo.yaml [--input GLOB ...] [--output DIR] [--overwrite] [--set KEY=VALUE ...] [beam flags]
    curate report OUT
    curate train --manifest OUT/manifest.json --config configs/train/lora_demo.yaml [--set KEY=VALUE] [--force]

Unknown flags of `curate run` are Beam pipeline options and pass through unchanged
(`--runner DataflowRunner --project ... --region ... --temp_location gs://... --setup_file ./setup.py`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from pipelines.typed_config import ConfigError


def _quiet_beam() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    logging.basicConfig(level=logging.INFO, format="[curate] %(message)s")
    for name in ("apache_beam", "absl", "great_expectations", "matplotlib"):
        logging.getLogger(name).setLevel(logging.ERROR)


def cmd_run(args, beam_args: list[str]) -> int:
    """Exit 0: success; 2: bad config (before any work); 3: the run finished but failed its
    accounting, wrote no shards or failed validation (one line says why); 1: a crash."""
    from pipelines.config import load_config
    from pipelines.run import run, run_failure
    from quality.report.summary import summarize_manifest
    from transforms import fs

    cfg = load_config(args.config, args.set, args.input, args.output)
    manifest = run(cfg, beam_args, overwrite=args.overwrite)
    try:
        with fs.open_read(fs.join(cfg.run.output, "stats.json")) as fh:
            stats = json.load(fh)
    except (OSError, ValueError):
        stats = {}
    print(summarize_manifest(manifest, stats, cfg.run.output))
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


def cmd_train(args, _beam_args) -> int:
    import train

    try:
        report = train.run_training(
            args.manifest, args.config, overrides=args.set, force=args.force, output=args.output
        )
    except (train.ConfigError, train.ManifestError) as exc:
        print(f"curate train: {exc}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {k: report[k] for k in report if k not in ("loss_curve", "config")},
            indent=1,
            default=str,
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="curate", description="Beam-native corpus curation and LoRA training"
    )
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the curation pipeline (unknown flags go to Beam)")
    run.add_argument("--config", required=True)
    run.add_argument(
        "--input", action="append", help="input glob(s); replaces the config's sources"
    )
    run.add_argument("--output", help="output folder (overrides run.output)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, e.g. shards.rows_per_shard=1000",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty output folder that no curate run wrote (deletes nothing)",
    )
    run.set_defaults(func=cmd_run)
    rep = sub.add_parser("report", help="print the summary of a finished run")
    rep.add_argument("output")
    rep.set_defaults(func=cmd_report)
    tr = sub.add_parser("train", help="train a LoRA adapter on a run's shards")
    tr.add_argument("--manifest", required=True)
    tr.add_argument("--config", required=True)
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    tr.add_argument(
        "--force", action="store_true", help="train even if the manifest's validation failed"
    )
    tr.add_argument("--output", help="adapter output folder (overrides the train config)")
    tr.set_defaults(func=cmd_train)
    return ap


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _quiet_beam()
    try:
        return args.func(args, extra)
    except ConfigError as exc:
        print(f"curate: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
