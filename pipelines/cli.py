"""`curate` command line: run, report, train, demo-data.

    curate run --config configs/demo.yaml [--input GLOB ...] [--output DIR] [--set KEY=VALUE ...] [beam flags]
    curate report OUT
    curate train --manifest OUT/manifest.json --config configs/train/lora_demo.yaml [--set KEY=VALUE] [--force]
    curate ablate --config configs/ablation_demo.yaml [--set KEY=VALUE] [--output DIR]

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
    from pipelines.config import load_config
    from pipelines.run import run
    from quality.report.summary import summarize_manifest
    from transforms import fs

    cfg = load_config(args.config, args.set, args.input, args.output)
    manifest = run(cfg, beam_args)
    with fs.open_read(fs.join(cfg.run.output, "stats.json")) as fh:
        stats = json.load(fh)
    print(summarize_manifest(manifest, stats, cfg.run.output))
    ok = (
        manifest.get("accounting_ok") and manifest.get("validation", {}).get("success") is not False
    )
    return 0 if ok else 3


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
    ab = sub.add_parser(
        "ablate", help="train one model per curation variant, compare on held-out data"
    )
    ab.add_argument("--config", required=True, help="an ablation YAML (configs/ablation_demo.yaml)")
    ab.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ab.add_argument("--output", help="output folder (overrides the config's output)")
    ab.set_defaults(func=cmd_ablate)
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
