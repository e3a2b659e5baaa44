"""`python -m train --manifest M --config C [--set k=v ...] [--force] [--output DIR]`.

Also the torchrun entry point: `torchrun --nproc_per_node N -m train ...` runs data-parallel over
the same manifest. Exit status 2 means a config or manifest problem (reported before any work).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from train.manifest import ManifestError
from train.typed_config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description="Train a LoRA (or prompt/prefix) adapter on a curated corpus.",
    )
    parser.add_argument(
        "--manifest", required=True, help="manifest.json of a curation run (path or gs:// URL)"
    )
    parser.add_argument(
        "--config", required=True, help="training config YAML (configs/train/*.yaml, or a URL)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. train.max_steps=100 (repeatable)",
    )
    parser.add_argument(
        "--force", action="store_true", help="train even if the corpus failed validation"
    )
    parser.add_argument(
        "--output",
        default=None,
        help="output directory or URL (default: <manifest dir>/adapters/<output.name>)",
    )
    args = parser.parse_args(argv)

    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=logging.WARNING,
        format=f"%(asctime)s [%(name)s{'' if rank == 0 else f' rank {rank}'}] %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("train").setLevel(logging.INFO if rank == 0 else logging.WARNING)
    from train.recipe import run_training  # torch is imported only once the arguments are valid

    try:
        report = run_training(
            args.manifest, args.config, args.overrides, force=args.force, output=args.output
        )
    except (ConfigError, ManifestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if rank == 0:
        keys = ("steps", "tokens_seen", "eval_perplexity", "final_train_loss")
        print(
            json.dumps(
                {k: report.get(k) for k in keys}
                | {"output_dir": report.get("output_dir") or args.output},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
