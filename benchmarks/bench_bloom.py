"""Bloom filter: batched lookups per second per core, and measured vs configured FPR.

The peer is a Python `set` of the same keys (exact membership, the usual alternative), timed
on the same batched lookups; the ratio shows what the bit array costs or saves per lookup, and
the memory line what it saves in space.

Run: `python benchmarks/bench_bloom.py [--items 1000000] [--fpr 0.01]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.dedup.bloom import BloomFilter  # noqa: E402


def _keys(start: int, n: int) -> list[bytes]:
    return [i.to_bytes(16, "little") for i in range(start, start + n)]


def _rate(fn, keys, batch: int) -> float:
    t0 = time.process_time()
    for i in range(0, len(keys), batch):
        fn(keys[i : i + batch])
    return len(keys) / (time.process_time() - t0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--fpr", type=float, default=0.01)
    ap.add_argument("--batch", type=int, default=65_536)
    args = ap.parse_args(argv)
    n = args.items
    members, others = _keys(0, n), _keys(10**12, n)
    ints = np.arange(10**12, 10**12 + n, dtype=np.uint64)
    for fpr in sorted({args.fpr, 0.001}):
        bloom = BloomFilter.for_capacity(n, fpr, seed=1)
        add_rate = _rate(bloom.add_many, members, args.batch)
        hit_rate = _rate(bloom.contains_many, members, args.batch)
        miss_rate = _rate(bloom.contains_many, others, args.batch)
        int_rate = _rate(bloom.contains_many, ints, args.batch)
        measured = float(bloom.contains_many(others).mean())
        no_false_neg = bool(bloom.contains_many(members).all())
        print(
            f"fpr {fpr}: m={bloom.m} bits ({bloom.m / 8 / 2**20:.1f} MiB), k={bloom.k}; "
            f"add {add_rate / 1e6:.2f}M/s, lookup {hit_rate / 1e6:.2f}M/s (members) "
            f"{miss_rate / 1e6:.2f}M/s (others) {int_rate / 1e6:.2f}M/s (uint64 keys) per core"
        )
        rel = abs(measured - fpr) / fpr
        print(
            f"  measured FPR {measured:.5f} vs configured {fpr} ({rel:.1%} off; target <= 25%), "
            f"no false negatives: {no_false_neg}"
        )
    exact = set(members)
    set_rate = _rate(lambda ks: [k in exact for k in ks], others, args.batch)
    print(
        f"python set lookups: {set_rate / 1e6:.2f}M/s; Bloom/set speed {miss_rate / set_rate:.2f}x"
    )


if __name__ == "__main__":
    main()
