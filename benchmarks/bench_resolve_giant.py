"""What the largest single step holds when resolving a template family: one element vs levels.

A template family: one real text (a licence from /usr/share/common-licenses, the first 500
words) copied N times, each copy with a few words replaced (a page name and a few details, as
in generated man pages), featurized with the pipeline's own `DedupFeaturizer` (real MinHash
signatures). The family is one component; it is resolved twice, side by side:

- one element (the path `NearDedup` had before, kept for components of at most
  `resolve_max_members`): `ResolveComponents` with max_members above the family size;
- levels: `ResolveComponents` with `--max-members`.

Each DoFn of `transforms/dedup/resolve.py` is driven step by step as the graph does (grouping
done here, as the shuffle would), and for each step the script reports the largest grouped
input one call receives (values; signature and id bytes) and the peak Python heap that one call
allocates (tracemalloc; the grouped input itself excluded). Then both paths run on Beam's
FnApiRunner to check they give the same survivors count as the step-by-step drive.

    python benchmarks/bench_resolve_giant.py --members 3000 --max-members 200
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from collections import defaultdict

import apache_beam as beam

from transforms.dedup.config import DedupConfig
from transforms.dedup.features import DedupFeaturizer
from transforms.dedup.near import NearCandidate
from transforms.dedup.resolve import (
    MAX_LEVELS,
    ResolveComponents,
    _NextLevelFn,
    _OrphansFn,
    _RecheckFn,
    _SmallOrSplitFn,
    _SubGroupFn,
)

THRESHOLD, SEED = 0.8, 0


def template_family(n: int, path: str, edits: int) -> list[NearCandidate]:
    with open(path, encoding="utf-8") as fh:
        words = fh.read().split()[:500]
    rng = random.Random(0)
    texts = []
    for j in range(n):
        w = list(words)
        for k in range(rng.randint(1, edits)):
            w[rng.randrange(len(w))] = f"page{j}detail{k}"
        texts.append(" ".join(w))
    feats = DedupFeaturizer(DedupConfig(), seed=SEED).featurize(texts)
    return [
        NearCandidate(f"man-{j:05d}", "man", f.minhash, (rng.randrange(3), len(texts[j])))
        for j, f in enumerate(feats)
    ]


def _group(pairs) -> dict:
    out = defaultdict(list)
    for k, v in pairs:
        out[k].append(v)
    return out


def _bytes(value) -> int:
    """Signature and id bytes of one grouped value (a candidate, possibly nested in tuples)."""
    if isinstance(value, bytes | str):
        return len(value)
    if isinstance(value, tuple):
        return sum(_bytes(v) for v in value)
    return 0


def run_step(name, fn, groups: dict, stats: list, *args) -> dict:
    """Calls fn.process on every group, traced (outputs dropped), then untraced to route them."""
    if hasattr(fn, "setup"):
        fn.setup()
    worst = (0, 0, 0)  # values, bytes, heap peak of the largest call
    for key, values in groups.items():
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for _ in fn.process((key, values), *args):
            pass  # each output is dropped at once: only what the call itself holds is counted
        peak = tracemalloc.get_traced_memory()[1] - base
        size = (len(values), sum(_bytes(v) for v in values), peak)
        worst = max(worst, size, key=lambda s: s[2])
    stats.append((name, len(groups), *worst))
    routed = defaultdict(list)
    for key, values in groups.items():
        for out in fn.process((key, values), *args):
            if isinstance(out, beam.pvalue.TaggedOutput):
                routed[out.tag].append(out.value)
            else:
                routed[None].append(out)
    return routed


def drive(keyed, max_members: int) -> tuple[list, int]:
    """The graph of `ResolveComponents.expand`, step by step; returns (stats, removed)."""
    stats: list = []
    first = run_step(
        "GroupComponents/SmallOrSplit",
        _SmallOrSplitFn(THRESHOLD, SEED, max_members),
        _group(keyed),
        stats,
    )
    removed = sum(1 for r in first[None])
    split, pending, final = first["split"], [], []
    for level in range(1, MAX_LEVELS + 1):
        if not split:
            break
        sub = run_step(f"ResolveLevel{level}", _SubGroupFn(), _group(split), stats, THRESHOLD)
        pending += sub[None]
        fn = _NextLevelFn(THRESHOLD, max_members, level, level == MAX_LEVELS)
        nxt = run_step(f"NextLevel{level}", fn, _group(sub["survivors"]), stats)
        removed += sum(1 for r in nxt[None] if r[0] == "removed")
        final += nxt["final"]
        split = nxt["split"]
    if final or pending:
        re = run_step("RecheckOrphans", _RecheckFn(THRESHOLD), _group(final + pending), stats)
        removed += len(re[None])
        orphans = run_step(
            "ResolveOrphans", _OrphansFn(THRESHOLD, max_members), _group(re["orphans"]), stats
        )
        removed += sum(1 for r in orphans[None] if r[0] == "removed")
    return stats, removed


def beam_run(keyed, max_members: int) -> float:
    start = time.perf_counter()
    with beam.Pipeline(runner="FnApiRunner") as p:
        _ = p | beam.Create(keyed) | ResolveComponents(THRESHOLD, SEED, max_members)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=3000)
    ap.add_argument("--max-members", type=int, default=200)
    ap.add_argument("--edits", type=int, default=3, help="most words replaced per copy")
    ap.add_argument("--template", default="/usr/share/common-licenses/GPL-3")
    args = ap.parse_args()
    family = template_family(args.members, args.template, args.edits)
    keyed = [("man-00000", c) for c in family]
    tracemalloc.start()
    results = {}
    for path, mm in (
        ("one element", 10**9),
        (f"levels (max {args.max_members})", args.max_members),
    ):
        stats, removed = drive(keyed, mm)
        results[path] = stats
        print(f"\n{path}: {args.members - removed} survivors of {args.members}")
        print(f"  {'step':32s} {'calls':>5s} {'values':>7s} {'bytes in':>10s} {'heap peak':>10s}")
        for name, calls, values, nbytes, peak in stats:
            print(f"  {name:32s} {calls:5d} {values:7d} {nbytes:10,d} {peak:10,d}")
    tracemalloc.stop()
    one, lv = (max(s, key=lambda r: r[4]) for s in results.values())
    one_in, lv_in = (max(r[3] for r in s) for s in results.values())
    print(
        f"\nlargest call: one element {one[0]} holds {one[4]:,} B heap ({one_in:,} B grouped in);"
        f" levels {lv[0]} holds {lv[4]:,} B heap (largest grouped input {lv_in:,} B)"
    )
    print(
        f"ratio one element / levels: heap {one[4] / lv[4]:.1f}x, grouped input {one_in / lv_in:.1f}x"
    )
    t_one, t_lv = beam_run(keyed, 10**9), beam_run(keyed, args.max_members)
    print(
        f"FnApiRunner wall: one element {t_one:.2f}s, levels {t_lv:.2f}s (ratio {t_lv / t_one:.2f})"
    )


if __name__ == "__main__":
    main()
