"""Cost of the progress channel: the same `curate run` with `run.progress` on and off.

    python benchmarks/bench_progress.py [--mb 8] [--repeats 2] [--mode multi_processing --workers 2]

Builds (once) a real-text corpus (pipelines.demo_data), then runs `curate run` in a subprocess on
it alternately with progress on and off (`--repeats` times each, order alternating so neither
always runs on a warmer cache) and prints each run's wall time, the medians and the ratio on/off.
Quality scoring, near dedup, statistics, validation and the report are off (the measured path is
read, normalize, exact dedup, tokenize, shuffle, shards: where the per-record reports sit).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_once(work: str, corpus: str, progress: bool, mode: str, workers: int, i: int) -> float:
    out = os.path.join(work, f"out-{progress}-{i}")
    cfg = {
        "run": {"output": out, "running_mode": mode, "workers": workers, "progress": progress},
        "input": {"sources": [{"name": "c", "paths": [f"{corpus}/*.jsonl.gz"]}]},
        "tokenizer": {"vocab_size": 1000, "train_sample_docs": 300},
        "quality": {"enabled": False},
        "dedup": {"near": {"enabled": False}, "boilerplate": {"enabled": False}},
        "stats": {"enabled": False},
        "validation": {"enabled": False},
        "report": {"enabled": False},
        "shards": {"rows_per_shard": 500},
    }
    path = os.path.join(work, f"c-{progress}-{i}.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    env = dict(os.environ, PYTHONPATH=ROOT, HF_HUB_OFFLINE="1")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--config", path],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"curate run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--mode", default="multi_processing")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-progress-")
    corpus = os.path.join(work, "corpus")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.demo_data",
            "--out",
            corpus,
            "--max-bytes",
            f"{args.mb}MB",
        ],
        check=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True,
    )
    times: dict[bool, list[float]] = {True: [], False: []}
    for i in range(args.repeats):
        for progress in (True, False) if i % 2 == 0 else (False, True):
            s = run_once(work, corpus, progress, args.mode, args.workers, i)
            times[progress].append(s)
            print(f"run {i} progress={'on ' if progress else 'off'}  {s:6.1f} s", flush=True)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"median: progress on {on:.1f} s, off {off:.1f} s, ratio on/off {on / off:.3f}")
    print(
        f"spread on {min(times[True]):.1f}-{max(times[True]):.1f} s, off {min(times[False]):.1f}-{max(times[False]):.1f} s"
    )


if __name__ == "__main__":
    main()
