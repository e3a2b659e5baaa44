"""Near-dedup quality against exact ground truth: ours (Beam NearDedup) vs datasketch vs datatrove.

Metrics (see dedup_ground_truth.quality), at threshold 0.8:
    residual recall   = 1 - (true pairs J >= 0.8 whose two docs both survive) / (pairs J >= 0.8)
    removal precision = removed docs that still have a surviving doc with J >= 0.7
    content lost      = removed docs with no surviving doc even at J >= 0.5 (share of removals)
Targets for ours: recall >= 0.97, precision >= 0.97, content lost <= 0.1%.

Peers on the same documents:
- datasketch MinHashLSH(threshold=0.8, num_perm=128) over the same word 5-gram shingles (mmh3),
  greedy in our keep-priority order: keep a document unless an LSH neighbour is already kept;
- datatrove's MinHash pipeline with its default MinhashConfig, run in its own virtualenv
  (/work/benchvenv-datatrove) by dedup_datatrove_run.py.
Ours runs through the real `NearDedup` PTransform on Beam's FnApiRunner.

Run: `python benchmarks/bench_dedup_quality.py [--real 10000] [--skip-datatrove]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import apache_beam as beam
import mmh3
from datasketch import MinHash, MinHashLSH

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedup_ground_truth import load_or_build, quality  # noqa: E402

from transforms.dedup.config import DedupConfig  # noqa: E402
from transforms.dedup.features import DedupFeaturizer  # noqa: E402
from transforms.dedup.near import NearCandidate, NearDedup, resolve_bands  # noqa: E402
from transforms.dedup.shingles import reference_words  # noqa: E402

DATATROVE_PY = "/work/benchvenv-datatrove/bin/python"


def _rank(text: str) -> tuple:
    return (len(text),)


def _priority(docs):
    """Keep-priority order shared by every method that has one: longer first, then id."""
    return sorted(range(len(docs)), key=lambda i: (-len(docs[i][1]), docs[i][0]))


def _write_ids(removals, path):
    with open(path, "w") as fh:
        fh.write("\n".join(sorted(r.id for r in removals)))


def run_ours(docs, cfg: DedupConfig) -> set[str]:
    feats = DedupFeaturizer(cfg, seed=0)
    cands = []
    for start in range(0, len(docs), 256):
        chunk = docs[start : start + 256]
        for (doc_id, text), f in zip(chunk, feats.featurize([t for _, t in chunk]), strict=True):
            cands.append(NearCandidate(doc_id, "bench", f.minhash, _rank(text)))
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "removed.txt")
        with beam.Pipeline(runner="FnApiRunner") as p:
            out = p | beam.Create(cands) | NearDedup(cfg.near, seed=0)
            _ = out["removed"] | beam.combiners.ToList() | beam.Map(_write_ids, out_path)
        removed = set(Path(out_path).read_text().split())
    return {d for d, _ in docs} - removed


def _shingles(text: str) -> list[bytes]:
    w = reference_words(text)
    if len(w) < 5:
        return [" ".join(w).encode()]
    return [" ".join(w[i : i + 5]).encode() for i in range(len(w) - 4)]


def run_datasketch(docs) -> set[str]:
    def h32(b: bytes) -> int:
        return mmh3.hash(b, signed=False)

    mhs = MinHash.bulk((_shingles(t) for _, t in docs), num_perm=128, hashfunc=h32)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    for (doc_id, _), m in zip(docs, mhs, strict=True):
        lsh.insert(doc_id, m)
    kept: set[str] = set()
    for i in _priority(docs):
        if not any(n in kept for n in lsh.query(mhs[i])):
            kept.add(docs[i][0])
    return kept


def run_datatrove(corpus_path: str) -> tuple[set[str], dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        subprocess.run(
            [DATATROVE_PY, str(Path(__file__).with_name("dedup_datatrove_run.py")),
             "--input", corpus_path, "--work", os.path.join(tmp, "work"), "--out", out],
            check=True, capture_output=True,
        )  # fmt: skip
        result = json.loads(Path(out).read_text())
    return set(result["survivors"]), result["seconds"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gt", default="/tmp/dedup_gt", help="ground-truth cache folder")
    ap.add_argument("--real", type=int, default=10_000)
    ap.add_argument("--skip-datatrove", action="store_true")
    args = ap.parse_args(argv)

    docs, pairs = load_or_build(args.gt, args.real)
    ids = [d for d, _ in docs]
    cfg = DedupConfig()
    bands, rows = resolve_bands(cfg.near)
    print(f"documents: {len(docs)}, truth pairs J>=0.5: {len(pairs)}")
    print(
        f"ours: threshold {cfg.near.threshold}, num_perm {cfg.near.num_perm}, {bands}x{rows} bands"
    )
    results = {}
    t0 = time.perf_counter()
    results["ours (NearDedup, Beam)"] = quality(ids, run_ours(docs, cfg), pairs)
    t1 = time.perf_counter()
    results["datasketch MinHashLSH greedy"] = quality(ids, run_datasketch(docs), pairs)
    t2 = time.perf_counter()
    times = {"ours (NearDedup, Beam)": t1 - t0, "datasketch MinHashLSH greedy": t2 - t1}
    if not args.skip_datatrove and os.path.exists(DATATROVE_PY):
        survivors, _ = run_datatrove(os.path.join(args.gt, "corpus.jsonl"))
        results["datatrove MinHash (defaults)"] = quality(ids, survivors, pairs)
        times["datatrove MinHash (defaults)"] = time.perf_counter() - t2
    header = f"{'method':32} {'removed':>8} {'resid.recall':>12} {'precision':>10} {'lost':>8} {'wall s':>7}"
    print(header)
    for name, q in results.items():
        print(
            f"{name:32} {q['removed']:8d} {q['residual_recall']:12.4f} "
            f"{q['removal_precision']:10.4f} {q['content_lost']:8.4%} {times[name]:7.1f}"
        )
    ours = results["ours (NearDedup, Beam)"]
    ok = ours["residual_recall"] >= 0.97 and ours["removal_precision"] >= 0.97
    ok = ok and ours["content_lost"] <= 0.001
    print(
        f"targets (recall >= 0.97, precision >= 0.97, lost <= 0.1%): {'MET' if ok else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
