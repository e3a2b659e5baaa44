"""CPU check of the demo training claim: configs/train/lora_demo.yaml trains in well under a minute.

Builds a demo-size synthetic corpus in the pipeline's output format (3000 documents, BPE
vocabulary 8192; or uses --manifest, e.g. out/demo/manifest.json from `curate run`), runs
`python -m train` on it exactly as a user would, and prints wall-clock time, throughput and how far
the loss fell. With --compare it then runs benchmarks/train_gpu.py on CPU at a small shape (this
trainer vs transformers+peft padded/packed vs the frozen ceiling, side by side in one process).

    python benchmarks/bench_train_cpu.py [--manifest out/demo/manifest.json] [--compare]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--manifest",
        default=None,
        help="a curation manifest (default: a synthetic demo-size corpus)",
    )
    ap.add_argument("--config", default=str(ROOT / "configs" / "train" / "lora_demo.yaml"))
    ap.add_argument(
        "--compare", action="store_true", help="also run train_gpu.py on CPU at a small shape"
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_train_cpu_"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    try:
        manifest = args.manifest
        if manifest is None:
            from train.synthetic import write_synthetic_corpus

            manifest = str(
                write_synthetic_corpus(
                    work / "corpus",
                    n_docs=3000,
                    n_shards=6,
                    n_eval_docs=200,
                    vocab_size=8192,
                    n_words=6000,
                )
            )
        started = time.perf_counter()
        cmd = [
            sys.executable,
            "-m",
            "train",
            "--manifest",
            manifest,
            "--config",
            args.config,
            "--output",
            str(work / "adapter"),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - started
        if proc.returncode:
            print(proc.stderr[-3000:])
            return proc.returncode
        report = json.loads((work / "adapter" / "training_report.json").read_text())
        speed = report["throughput"]
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
        print(
            f"config            {Path(args.config).name} on {'synthetic demo-size corpus' if args.manifest is None else manifest}"
        )
        print(
            f"corpus            {report['train_docs']} train docs, vocab {report['model']['vocab_size']}, {report['tokens_seen']:,} tokens trained"
        )
        print(
            f"wall clock        {wall:.1f} s for `python -m train` (imports, setup, evals, checkpoints, plot included)"
        )
        print(
            f"training loop     {report['train_seconds']:.1f} s, {speed['tokens_per_s']:,.0f} tokens/s, MFU {100 * (speed['mfu'] or 0):.1f}% of {speed['peak_flops']:.3g} FLOP/s ({speed['peak_flops_source']})"
        )
        print(
            f"train loss        {report['loss_curve'][0]['loss']:.3f} -> {report['final_train_loss']:.3f}"
        )
        print(
            f"eval perplexity   {report['initial_eval_perplexity']:.1f} -> {report['eval_perplexity']:.1f}"
        )
        print(
            f"machine           {os.cpu_count()} CPUs, load average {' '.join(load)} ({report['device']})"
        )
        if args.compare:
            subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "benchmarks" / "train_gpu.py"),
                    "--device",
                    "cpu",
                    "--shapes",
                    "cpu-small",
                    "--steps",
                    "4",
                    "--warmup",
                    "1",
                ],
                env=env,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
