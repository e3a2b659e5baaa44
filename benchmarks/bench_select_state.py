"""Selection state and cost: the bounded threshold selection vs the per-group prefix it replaced.

Two measurements on the same synthetic candidates (Pareto token counts, weight `quality`
uniform on (0, 1) times exp(dsir) with a Gaussian `dsir`, three sources, one group; a budget of
half the tokens, lookahead 0.25, the DSIR baseline on):

1. **State** (pure, in memory): the most entries one element holds. Before: the merged
   `GroupState` of the group (`finalize`'s input: every entry up to the window, for the selection
   and for the baseline). After: the largest merged accumulator of any threshold pass
   (tests/sampling/test_threshold.py's driver: the passes `SelectDocuments` runs, over random
   bundles): entries, or bucket weights for the count pass. Both selections are checked equal.
2. **Cost**: wall time of `SelectDocuments` on the FnApiRunner (in_memory) over the same
   candidates, this tree vs an older tree given with `--old-tree` (the commit before the change:
   `mkdir /tmp/curate-old && git archive aa23a1d | tar -x -C /tmp/curate-old`), alternating,
   each in a fresh process, medians of `--repeats`.

Run: `python benchmarks/bench_select_state.py --n 200000 --old-tree /tmp/curate-old`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def candidates(n: int, seed: int = 0):
    from transforms.sampling.candidate import Candidate

    rng = random.Random(seed)
    return [
        Candidate(
            f"doc-{i:07d}",
            ("code", "docs", "man")[i % 3],
            max(1, min(5_000, int(rng.paretovariate(1.3) * 60))),
            {"quality": rng.random(), "dsir": rng.gauss(0, 1)},
        )
        for i in range(n)
    ]


def config(cands):
    from transforms.sampling.config import DsirConfig, SamplingConfig

    total = sum(c.n_tokens for c in cands)
    return SamplingConfig(
        mode="budget",
        token_budget=total // 2,
        weight="quality",
        eval_fraction=0.05,
        dsir=DsirConfig(enabled=True, target_paths=["unused"]),
    )


def state_sizes(n: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.sampling.test_threshold import _distributed, _reference
    from transforms.sampling import threshold as th
    from transforms.sampling.select import WeighCandidates
    from transforms.sampling.selection import GroupState, SelectionPlan

    cands = candidates(n)
    cfg = config(cands)
    plan = SelectionPlan.from_config(cfg, 0)
    fn = WeighCandidates(cfg, 0)
    fn.setup()
    items = [out for c in cands for out in fn.process(c)]
    old = GroupState(plan)
    for _, w in items:
        old.add(w)
    before = len(old.selector.ordered()) + len(old.baseline.ordered())
    got, biggest = _distributed(plan, items, random.Random(1), th.SAMPLE_SIZE)
    ref = _reference(plan, items)
    return {
        "candidates": n,
        "selected": len(ref[0]),
        "selected_tokens_share": ref[2]["selected"]["tokens"] / sum(c.n_tokens for c in cands),
        "before_entries_in_one_group_state": before,
        "after_largest_accumulator_entries": biggest,
        "identical_to_finalize": got == ref,
    }


def time_select(n: int) -> float:
    import apache_beam as beam

    from transforms.sampling.select import SelectDocuments

    cands = candidates(n)
    cfg = config(cands)
    t0 = time.perf_counter()
    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(cands) | SelectDocuments(cfg, 0)
        _ = out["selected"] | beam.combiners.Count.Globally()
    return time.perf_counter() - t0


def _timed_in(tree: str, n: int) -> float:
    env = {**os.environ, "PYTHONPATH": tree, "HF_HUB_OFFLINE": "1"}
    # This file is loaded by path, so `transforms` is imported from `tree` (first on the path).
    code = (
        "import importlib.util as u; "
        f"s = u.spec_from_file_location('bench', {__file__!r}); m = u.module_from_spec(s); "
        f"s.loader.exec_module(m); print(m.time_select({n}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--old-tree", help="a checkout of the previous implementation (for the cost)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    sizes = state_sizes(args.n)
    print(json.dumps(sizes, indent=1))
    if not args.old_tree:
        return
    new, old = [], []
    for r in range(args.repeats):
        order = [(str(ROOT), new), (args.old_tree, old)]
        for tree, times in order if r % 2 == 0 else order[::-1]:
            times.append(_timed_in(tree, args.n))
    print(f"SelectDocuments over {args.n} candidates, seconds: new {new}, old {old}")
    m_new, m_old = statistics.median(new), statistics.median(old)
    print(f"median new {m_new:.2f}s, old {m_old:.2f}s -> new/old {m_new / m_old:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
