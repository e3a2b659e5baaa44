"""Near-dedup speed per core: ours vs datasketch vs datatrove on the same documents, one run.

Each side does MinHash signatures + LSH candidate pairs + connected components, in one process:
- ours: `Shingler` + `MinHasher` (batched numpy), `band_hashes` + a sort per band for buckets,
  pair verification on the full signature, `UnionFind`; settings of `DedupConfig().near`;
- datasketch: shingles as a user writes them (normalized words joined per 5-gram),
  `MinHash.bulk` with an mmh3 32-bit hash (its fastest path), `MinHashLSH` insert + query at
  threshold 0.8, the same `UnionFind`;
- datatrove: its signature, bucket and cluster stages (default MinhashConfig) in its own
  virtualenv, measured by dedup_datatrove_run.py.
Reported: docs/s and MB/s per CPU-second (process CPU time, so per core), and our speed-up.
Targets: >= 2x datasketch and >= 20x datatrove per core.

Run: `python benchmarks/bench_dedup_speed.py [--docs 4000] [--skip-datatrove]`.
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

import mmh3
import numpy as np
from datasketch import MinHash, MinHashLSH

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.demo_data import iter_documents  # noqa: E402
from transforms.dedup.components import UnionFind  # noqa: E402
from transforms.dedup.config import NearDedupConfig  # noqa: E402
from transforms.dedup.lsh import band_hashes  # noqa: E402
from transforms.dedup.minhash import MinHasher  # noqa: E402
from transforms.dedup.near import resolve_bands  # noqa: E402
from transforms.dedup.shingles import Shingler, reference_words  # noqa: E402

DATATROVE_PY = "/work/benchvenv-datatrove/bin/python"


def load_docs(n: int) -> list[tuple[str, str]]:
    """n documents mixed from the three demo families (code 50%, docs 30%, man 20%)."""
    docs = []
    for family, share in (("code", 0.5), ("docs", 0.3), ("man", 0.2)):
        for k, doc in enumerate(iter_documents(family, seed=1)):
            if k >= int(n * share):
                break
            docs.append(doc)
    return docs


def ours(texts: list[str], cfg: NearDedupConfig) -> int:
    """Signatures + LSH pairs + components; returns the number of duplicate-involved docs."""
    shingler = Shingler(cfg.ngram, cfg.lowercase, cfg.strip_punct, cfg.fold_digits)
    hasher = MinHasher(cfg.num_perm, 0, cfg.scheme)
    sigs = np.concatenate(
        [
            hasher.signatures(shingler.hash_batch(texts[i : i + 64]))
            for i in range(0, len(texts), 64)
        ]
    )
    bands, rows = resolve_bands(cfg)
    keys = band_hashes(sigs, bands, rows)
    uf = UnionFind()
    need = cfg.threshold * cfg.num_perm
    for b in range(bands):
        order = np.argsort(keys[:, b], kind="stable")
        same = np.flatnonzero(keys[order[1:], b] == keys[order[:-1], b])
        u, v = order[same], order[same + 1]  # consecutive members of each bucket
        ok = np.count_nonzero(sigs[u] == sigs[v], axis=1) >= need
        for a, c in zip(u[ok].tolist(), v[ok].tolist(), strict=True):
            uf.union(a, c)
    return len(uf.labels())


def datasketch_side(texts: list[str]) -> int:
    def h32(b: bytes) -> int:
        return mmh3.hash(b, signed=False)

    def shingles(text: str) -> list[bytes]:
        w = reference_words(text)
        return [" ".join(w[i : i + 5]).encode() for i in range(max(1, len(w) - 4))]

    mhs = MinHash.bulk((shingles(t) for t in texts), num_perm=128, hashfunc=h32)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    for i, m in enumerate(mhs):
        lsh.insert(i, m)
    uf = UnionFind()
    for i, m in enumerate(mhs):
        for j in lsh.query(m):
            if j != i:
                uf.union(i, j)
    return len(uf.labels())


def datatrove_side(docs: list[tuple[str, str]]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.jsonl")
        with open(corpus, "w") as fh:
            for doc_id, text in docs:
                fh.write(json.dumps({"id": doc_id, "text": text}) + "\n")
        out = os.path.join(tmp, "result.json")
        subprocess.run(
            [DATATROVE_PY, str(Path(__file__).with_name("dedup_datatrove_run.py")),
             "--input", corpus, "--work", os.path.join(tmp, "work"), "--out", out],
            check=True, capture_output=True,
        )  # fmt: skip
        return json.loads(Path(out).read_text())


def _timed(fn, *args) -> tuple[float, float, object]:
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0, result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=4000)
    ap.add_argument("--skip-datatrove", action="store_true")
    args = ap.parse_args(argv)
    docs = load_docs(args.docs)
    texts = [t for _, t in docs]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    cfg = NearDedupConfig()
    resolve_bands(cfg)  # LSH parameter search is a one-off, not per document
    print(f"{len(texts)} documents, {mb:.1f} MB; ours: {cfg.num_perm} perms {cfg.scheme}")
    rows = {}
    wall, cpu, n = _timed(ours, texts, cfg)
    rows["ours"] = (wall, cpu, n)
    wall, cpu, n = _timed(datasketch_side, texts)
    rows["datasketch"] = (wall, cpu, n)
    if not args.skip_datatrove and os.path.exists(DATATROVE_PY):
        res = datatrove_side(docs)
        stages = ("signatures", "buckets", "clusters")
        rows["datatrove"] = (
            sum(res["seconds"][s] for s in stages),
            sum(res["cpu_seconds"][s] for s in stages),
            len(docs) - len(res["survivors"]),
        )
    print(
        f"{'side':12} {'wall s':>8} {'cpu s':>8} {'docs/s/core':>12} {'MB/s/core':>10} {'dup docs':>9}"
    )
    for name, (wall, cpu, n) in rows.items():
        print(f"{name:12} {wall:8.2f} {cpu:8.2f} {len(texts) / cpu:12.0f} {mb / cpu:10.2f} {n:9d}")
    base = rows["ours"][1]
    for name in rows:
        if name != "ours":
            print(f"speed-up vs {name} (CPU time): {rows[name][1] / base:.1f}x")


if __name__ == "__main__":
    main()
