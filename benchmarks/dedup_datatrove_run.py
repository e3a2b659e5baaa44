"""Runs datatrove's MinHash dedup (default MinhashConfig) on one JSONL file, single process.

`--buckets B --hashes R` replace the default banding (14 x 8) with B bands of R rows.

Run with the peer's own virtualenv (never the project's):
    /work/benchvenv-datatrove/bin/python benchmarks/dedup_datatrove_run.py \
        --input corpus.jsonl --work /tmp/dt --out result.json
Writes {"survivors": [ids], "seconds": {stage: wall s}, "cpu_seconds": {stage: CPU s}} to --out. Stages: signatures, buckets,
clusters (MinHash + LSH + components) and filter.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time


def _cpu() -> float:
    """User + system CPU seconds of this process and its finished children."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--buckets", type=int, default=None, help="bands (default: datatrove's)")
    ap.add_argument("--hashes", type=int, default=None, help="rows per band (default: datatrove's)")
    args = ap.parse_args()

    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    cfg = MinhashConfig()  # datatrove defaults: 5-grams, 14 buckets x 8 hashes, seed 1
    if args.buckets or args.hashes:
        cfg = MinhashConfig(
            num_buckets=args.buckets or cfg.num_buckets,
            hashes_per_bucket=args.hashes or cfg.hashes_per_bucket,
        )
    shutil.rmtree(args.work, ignore_errors=True)
    data_dir = os.path.join(args.work, "input")
    os.makedirs(data_dir)
    shutil.copy(args.input, os.path.join(data_dir, "corpus.jsonl"))
    sigs, buckets, clusters = (os.path.join(args.work, d) for d in ("sigs", "buckets", "clusters"))
    out_dir, logs = os.path.join(args.work, "out"), os.path.join(args.work, "logs")
    stages = {
        "signatures": ([JsonlReader(data_dir), MinhashDedupSignature(sigs, config=cfg)], 1),
        "buckets": ([MinhashDedupBuckets(sigs, buckets, config=cfg)], cfg.num_buckets),
        "clusters": ([MinhashDedupCluster(buckets, clusters, config=cfg)], 1),
        "filter": (
            [
                JsonlReader(data_dir),
                MinhashDedupFilter(clusters),
                JsonlWriter(out_dir, compression=None),
            ],
            1,
        ),
    }
    seconds, cpu_seconds = {}, {}
    for name, (pipeline, tasks) in stages.items():
        t0, c0 = time.perf_counter(), _cpu()
        LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=1, logging_dir=f"{logs}/{name}", skip_completed=False
        ).run()
        seconds[name] = time.perf_counter() - t0
        cpu_seconds[name] = _cpu() - c0
    survivors = []
    for name in sorted(os.listdir(out_dir)):
        with open(os.path.join(out_dir, name)) as fh:
            survivors.extend(json.loads(line)["id"] for line in fh)
    with open(args.out, "w") as fh:
        json.dump({"survivors": survivors, "seconds": seconds, "cpu_seconds": cpu_seconds}, fh)


if __name__ == "__main__":
    main()
