"""Near-dedup quality against exact ground truth: `curate run` vs datasketch vs datatrove.

Every method reads the same documents (the ground-truth corpus, `dedup_ground_truth.py`) and
targets the same definition: word-5-gram Jaccard >= 0.8 is a near-duplicate. Metrics (see
dedup_ground_truth.quality):
    residual recall  = 1 - (true pairs J >= 0.8 whose two docs both survive) / (pairs J >= 0.8)
    precision @0.8   = removed docs that still have a surviving doc with J >= 0.8
    precision @0.7   = the same at J >= 0.7 (tolerates MinHash estimation error)
    content lost     = removed docs with no surviving doc even at J >= 0.5 (share of removals)
Targets for curate: recall >= 0.99, precision @0.8 >= 0.95 (issue 21, exact verification;
before it, with the estimate deciding: recall >= 0.97, precision @0.7 >= 0.97), content lost
<= 0.1%.

Methods:
- curate: `curate run` itself in a subprocess (`python -m pipelines.cli run`) on the corpus
  JSONL, near dedup at its defaults (threshold 0.8, 128 perms, LSH banded for 0.7, candidates
  verified on the exact Jaccard of their shingle sets (`--near-verify minhash`: on the
  signature estimate), non-transitive resolution), exact dedup on, keep = longest; quality scoring,
  boilerplate removal and sampling off so that only dedup removes documents. Removed ids come
  from its `removed/*.jsonl`, i.e. what the shipped pipeline decided.
- datasketch MinHashLSH (num_perm 128, word 5-gram shingles hashed with mmh3, the same
  signatures curate computes), greedy in keep-priority order (longest first, then id):
  * defaults: `MinHashLSH(threshold=0.8)` and no verification: a document is removed when any
    already kept document shares a band with it (datasketch's own banding for 0.8);
  * verified: the same LSH, but a candidate counts only if the Jaccard estimated from the two
    full signatures is >= 0.8 (`MinHash.jaccard`);
  * LSH 0.7 + verified: banding for 0.7 (more candidates), verified at 0.8: curate's recipe.
- datatrove's MinHash pipeline (signatures, buckets, connected components, filter), in its own
  virtualenv (/work/benchvenv-datatrove, see bench_scoring.py for its packages) by
  dedup_datatrove_run.py on the same JSONL:
  * defaults: `MinhashConfig()`, 14 buckets x 8 hashes (LSH threshold ~0.72);
  * banded for 0.8: 9 buckets x 13 hashes, datasketch's optimal (b, r) for threshold 0.8 and
    128 permutations. datatrove has no candidate verification: every bucket match is an edge.

Run: `python benchmarks/bench_dedup_quality.py [--gt /tmp/dedup_gt] [--real 10000]
[--skip-datatrove]` (builds the ground truth on first use).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mmh3
import yaml
from datasketch import MinHash, MinHashLSH
from datasketch.lsh import _optimal_param

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dedup_ground_truth import load_or_build, quality  # noqa: E402

from transforms.dedup.shingles import reference_words  # noqa: E402

DATATROVE_PY = "/work/benchvenv-datatrove/bin/python"
THRESHOLD = 0.8
NUM_PERM = 128
CURATE = "curate run (NearDedup, defaults)"


def _priority(docs: list[tuple[str, str]]) -> list[int]:
    """Keep-priority order shared by every greedy method: longer first, then smaller id."""
    return sorted(range(len(docs)), key=lambda i: (-len(docs[i][1]), docs[i][0]))


def run_curate(corpus_path: str, work: str, verify: str = "exact") -> tuple[set[str], dict]:
    """Removed ids of `curate run` on the corpus (near + exact dedup), and its accounting."""
    out = os.path.join(work, "curate-out")
    cfg = {
        "run": {"name": "bench-dedup-quality", "output": out, "progress": False},
        "input": {
            "sources": [{"name": "bench", "paths": [corpus_path]}],
            "max_doc_bytes": 10_000_000,
        },
        "quality": {"enabled": False},
        "dedup": {
            "exact": {"enabled": True, "keep": "longest"},
            "near": {"enabled": True, "threshold": THRESHOLD, "verify": verify},
            "boilerplate": {"enabled": False},
            "cross_release": {"write_filter": False},
        },
        "tokenizer": {"vocab_size": 1024, "train_sample_docs": 500},
        "sampling": {"mode": "all"},
        "shards": {"min_tokens": 0},
        "stats": {"enabled": False},
        "validation": {"enabled": False},
        "report": {"enabled": False},
    }
    cfg_path = os.path.join(work, "curate.yaml")
    Path(cfg_path).write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--config", cfg_path],
        capture_output=True, text=True, env=env, cwd=work,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(
            f"curate run failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        )
    removed: dict[str, str] = {}
    for path in glob.glob(os.path.join(out, "removed", "*.jsonl*")):
        with open(path) as fh:
            for line in fh:
                r = json.loads(line)
                removed[r["id"]] = r.get("stage", "?")
    manifest = json.loads(Path(out, "manifest.json").read_text())
    return set(removed), {"accounting": manifest["accounting"], "stages": _count(removed)}


def _count(removed: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for stage in removed.values():
        out[stage] = out.get(stage, 0) + 1
    return out


def _shingles(text: str) -> list[bytes]:
    w = reference_words(text)
    if len(w) < 5:
        return [" ".join(w).encode()]
    return [" ".join(w[i : i + 5]).encode() for i in range(len(w) - 4)]


def datasketch_signatures(docs: list[tuple[str, str]]) -> list[MinHash]:
    def h32(b: bytes) -> int:
        return mmh3.hash(b, signed=False)

    return MinHash.bulk((_shingles(t) for _, t in docs), num_perm=NUM_PERM, hashfunc=h32)


def run_datasketch(
    docs: list[tuple[str, str]], mhs: list[MinHash], lsh_threshold: float, verify: bool
) -> set[str]:
    """Greedy in keep-priority order: keep a document unless a kept LSH neighbour matches it.

    With `verify`, a neighbour matches only if its estimated Jaccard (full signatures) is
    >= THRESHOLD; without, any shared band is a match (MinHashLSH's answer as it is).
    """
    lsh = MinHashLSH(threshold=lsh_threshold, num_perm=NUM_PERM)
    for (doc_id, _), m in zip(docs, mhs, strict=True):
        lsh.insert(doc_id, m)
    index = {doc_id: k for k, (doc_id, _) in enumerate(docs)}
    kept: set[str] = set()
    for i in _priority(docs):
        near = (n for n in lsh.query(mhs[i]) if n in kept)
        if verify:
            near = (n for n in near if mhs[i].jaccard(mhs[index[n]]) >= THRESHOLD)
        if next(near, None) is None:
            kept.add(docs[i][0])
    return kept


def run_datatrove(corpus_path: str, work: str, bands_rows: tuple[int, int] | None) -> set[str]:
    out = os.path.join(work, "datatrove.json")
    cmd = [
        DATATROVE_PY, str(Path(__file__).with_name("dedup_datatrove_run.py")),
        "--input", corpus_path, "--work", os.path.join(work, "dt"), "--out", out,
    ]  # fmt: skip
    if bands_rows:
        cmd += ["--buckets", str(bands_rows[0]), "--hashes", str(bands_rows[1])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"datatrove failed:\n{proc.stderr[-3000:]}")
    return set(json.loads(Path(out).read_text())["survivors"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gt", default="/tmp/dedup_gt", help="ground-truth cache folder")
    ap.add_argument("--real", type=int, default=10_000)
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument(
        "--methods",
        default="curate,datasketch,datatrove-defaults,datatrove-0.8",
        help="comma list of sides to run (one line of metrics is printed as each finishes)",
    )
    ap.add_argument("--json", help="write every method's metrics here")
    ap.add_argument(
        "--near-verify",
        default="exact",
        choices=("exact", "minhash", "off"),
        help="curate's dedup.near.verify (minhash: the estimate decides, as before issue 21)",
    )
    args = ap.parse_args(argv)

    docs, pairs = load_or_build(args.gt, args.real)
    corpus_path = os.path.abspath(os.path.join(args.gt, "corpus.jsonl"))
    ids = [d for d, _ in docs]
    print(f"documents: {len(docs)}, truth pairs J>=0.5: {len(pairs)}, J>=0.8: "
          f"{int((pairs['jaccard'] >= 0.8).sum())}")  # fmt: skip
    methods = set(args.methods.split(","))
    if args.skip_datatrove or not os.path.exists(DATATROVE_PY):
        methods -= {"datatrove-defaults", "datatrove-0.8"}
    results: dict[str, dict] = {}
    b8, r8 = _optimal_param(THRESHOLD, NUM_PERM, 0.5, 0.5)
    b7, r7 = _optimal_param(THRESHOLD - 0.1, NUM_PERM, 0.5, 0.5)
    with tempfile.TemporaryDirectory() as work:
        if "curate" in methods:
            t0 = time.perf_counter()
            removed, info = run_curate(corpus_path, work, args.near_verify)
            print(f"curate run: {time.perf_counter() - t0:.0f}s wall, removed by stage "
                  f"{info['stages']}, accounting {info['accounting']}")  # fmt: skip
            results[CURATE] = quality(ids, set(ids) - removed, pairs)
            print(f"{CURATE}: {results[CURATE]}", flush=True)

        if "datasketch" in methods:
            mhs = datasketch_signatures(docs)
            for name, lsh_t, verify in (
                (f"datasketch LSH 0.8 ({b8}x{r8}), unverified", THRESHOLD, False),
                (f"datasketch LSH 0.8 ({b8}x{r8}), verified", THRESHOLD, True),
                (f"datasketch LSH 0.7 ({b7}x{r7}), verified", THRESHOLD - 0.1, True),
            ):
                results[name] = quality(ids, run_datasketch(docs, mhs, lsh_t, verify), pairs)
            print(f"datasketch: {results}", flush=True)

        for key, name, br in (
            ("datatrove-defaults", "datatrove defaults (14x8)", None),
            ("datatrove-0.8", f"datatrove banded for 0.8 ({b8}x{r8})", (b8, r8)),
        ):
            if key in methods:
                t0 = time.perf_counter()
                results[name] = quality(ids, run_datatrove(corpus_path, work, br), pairs)
                print(f"{name}: {time.perf_counter() - t0:.0f}s wall, {results[name]}", flush=True)

    print(f"{'method':42} {'removed':>8} {'resid.recall':>12} {'prec@0.8':>9} {'prec@0.7':>9} "
          f"{'lost':>8}")  # fmt: skip
    for name, q in results.items():
        print(
            f"{name:42} {q['removed']:8d} {q['residual_recall']:12.4f} {q['precision_0.8']:9.4f} "
            f"{q['precision_0.7']:9.4f} {q['content_lost']:8.2%}"
        )
    if CURATE in results:
        ours = results[CURATE]
        ok = ours["residual_recall"] >= 0.99 and ours["precision_0.8"] >= 0.95
        ok = ok and ours["content_lost"] <= 0.001
        print(f"curate targets (recall >= 0.99, precision@0.8 >= 0.95, lost <= 0.1%): "
              f"{'MET' if ok else 'NOT MET'}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
