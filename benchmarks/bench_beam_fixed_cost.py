"""Beam's fixed cost per transform and per fused stage, with and without transforms.infra.beam_fastpath.

A chain of N (Map, GroupByKey, FlatMap) steps on three elements: every GroupByKey starts a new
fused stage, so the run is ~N stages of almost no work, and building it is 3N transforms. Each
side runs in its own fresh process (the caches are process-wide); CPU seconds of the process.

    python benchmarks/bench_beam_fixed_cost.py --stages 50
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
n, fast = int(sys.argv[1]), sys.argv[2] == "1"
if fast:
    from transforms.infra.beam_fastpath import install
    install()
opts = PipelineOptions(["--runner=FnApiRunner", "--direct_running_mode=in_memory"])
c0 = time.process_time()
p = beam.Pipeline(options=opts)
pc = p | beam.Create([1, 2, 3])
for i in range(n):
    pc = (pc | f"K{i}" >> beam.Map(lambda x: (x % 2, x)) | f"G{i}" >> beam.GroupByKey()
          | f"F{i}" >> beam.FlatMap(lambda kv: kv[1]))
c1 = time.process_time()
p.run().wait_until_finish()
c2 = time.process_time()
print(json.dumps({"build_cpu_s": round(c1 - c0, 3), "run_cpu_s": round(c2 - c1, 3)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", type=int, default=50)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    print(f"load {os.getloadavg()[0]:.2f}, {args.stages} stages ({3 * args.stages} transforms)")
    for fast in (False, True):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(args.stages), "1" if fast else "0"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{'beam_fastpath' if fast else 'Beam as is':14s} build {r['build_cpu_s']:.2f} CPU-s"
            f" ({1000 * r['build_cpu_s'] / (3 * args.stages):.1f} ms/transform),"
            f" run {r['run_cpu_s']:.2f} CPU-s ({1000 * r['run_cpu_s'] / args.stages:.1f} ms/stage)"
        )


if __name__ == "__main__":
    main()
