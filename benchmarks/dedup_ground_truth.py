"""Ground truth for near-dedup quality: a corpus with known near-copies and its exact pairs.

Corpus (deterministic for a machine and seed):
- real documents of this machine (`pipelines.demo_data.iter_documents`: code, docs, man);
- template-generated families: a real document used as a template whose "slot" words (names,
  numbers, a header line) are filled differently in each member, as in templated web pages;
- synthetic near-copies of real documents with known word edits (substitutions, insertions,
  deletions at rates from 0.5% to 20%), truncations, and edit chains A0 -> A1 -> A2 -> A3 where
  neighbours are similar but the ends may not be (the transitivity trap).
Exact duplicates (equal text) are collapsed first, as the pipeline's exact dedup does.

Truth: every pair with word-5-gram Jaccard >= 0.5, computed exactly: words are mapped to
integer ids by a dictionary, each 5-gram is packed injectively into two uint64 (21 bits per
word id), and intersections come from sparse matrix products X X^T in row blocks. No hashing, no
sampling. Shingles follow `transforms.dedup.shingles.reference_words` and the one-shingle rule
for documents shorter than 5 words, i.e. the sets MinHash estimates.

Run: `python benchmarks/dedup_ground_truth.py --out /tmp/dedup_gt --real 10000`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from itertools import islice
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.demo_data import iter_documents  # noqa: E402
from transforms.dedup.shingles import reference_words  # noqa: E402
from transforms.infra.hashing import content_key  # noqa: E402

NGRAM = 5
_BITS = 21
_PAD = (1 << _BITS) - 1  # pads the one shingle of a short document; never a word id


def _edit_words(text: str, rate: float, rng: random.Random) -> str:
    """Word-level substitutions / insertions / deletions at `rate`, keeping line structure."""
    out_lines = []
    for line in text.split("\n"):
        words = line.split(" ")
        new = []
        for w in words:
            r = rng.random()
            if r < rate / 3:
                continue  # deletion
            if r < 2 * rate / 3:
                new.append(f"edit{rng.randrange(10**6)}")  # substitution
                continue
            new.append(w)
            if r < rate:
                new.append(f"ins{rng.randrange(10**6)}")  # insertion
        out_lines.append(" ".join(new))
    return "\n".join(out_lines)


def _template_family(
    doc_id: str, text: str, rng: random.Random, size: int
) -> list[tuple[str, str]]:
    words = sorted({w for w in text.split() if w.isalpha() and len(w) > 3})
    if len(words) < 8:
        return []
    slots = rng.sample(words, min(6, len(words)))
    out = []
    for k in range(size):
        t = text
        for s in slots:
            t = t.replace(s, f"{s[:2]}{rng.randrange(10**5)}")
        header = f"Generated page {rng.randrange(10**6)} for customer {rng.randrange(10**4)}\n"
        out.append((f"tpl/{doc_id}/{k}", header + t))
    return out


def build_corpus(
    n_real: int = 10_000, seed: int = 0, max_chars: int = 200_000
) -> list[tuple[str, str]]:
    """Real documents plus generated near-copies, exact duplicates collapsed; sorted by id."""
    rng = random.Random(seed)
    mix = {"code": 0.5, "docs": 0.3, "man": 0.2}
    real: list[tuple[str, str]] = []
    for family, share in mix.items():
        it = ((i, t) for i, t in iter_documents(family, seed) if len(t) <= max_chars)
        real.extend(islice(it, int(n_real * share)))
    docs = list(real)
    sources = rng.sample(real, min(len(real), 1500))
    for doc_id, text in sources[:60]:
        docs.extend(_template_family(doc_id, text, rng, size=6))
    rates = [0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2]
    for doc_id, text in sources[60:1100]:
        rate = rng.choice(rates)
        docs.append((f"syn/{doc_id}/edit{rate}", _edit_words(text, rate, rng)))
    for doc_id, text in sources[1100:1300]:
        keep = rng.uniform(0.6, 0.97)
        lines = text.split("\n")
        docs.append((f"syn/{doc_id}/trunc", "\n".join(lines[: max(1, int(len(lines) * keep))])))
    for doc_id, text in sources[1300:1500]:
        prev = text
        for step in range(1, 4):
            prev = _edit_words(prev, 0.04, rng)
            docs.append((f"syn/{doc_id}/chain{step}", prev))
    seen: set[bytes] = set()
    unique = []
    for doc_id, text in sorted(docs):
        key = content_key(text)
        if key not in seen and text.strip():
            seen.add(key)
            unique.append((doc_id, text))
    return unique


def shingle_matrix(texts: list[str]) -> sp.csr_matrix:
    """Binary (docs x distinct 5-grams) matrix, built without hashing."""
    vocab: dict[str, int] = {}
    keys_hi, keys_lo, rows = [], [], []
    for d, text in enumerate(texts):
        ids = np.fromiter(
            (vocab.setdefault(w, len(vocab)) for w in reference_words(text)), dtype=np.int64
        )
        if len(vocab) >= _PAD:
            raise RuntimeError("vocabulary too large for 21-bit word ids")
        if len(ids) < NGRAM:
            ids = np.concatenate((ids, np.full(NGRAM - len(ids), _PAD)))[None, :]
        else:
            ids = np.lib.stride_tricks.sliding_window_view(ids, NGRAM)
        u = ids.astype(np.uint64)
        keys_hi.append((u[:, 0] << 42) | (u[:, 1] << 21) | u[:, 2])
        keys_lo.append((u[:, 3] << 21) | u[:, 4])
        rows.append(np.full(len(u), d, dtype=np.int64))
    pairs = np.stack((np.concatenate(keys_hi), np.concatenate(keys_lo)), axis=1)
    _, col = np.unique(pairs, axis=0, return_inverse=True)
    row = np.concatenate(rows)
    x = sp.csr_matrix((np.ones(len(row), dtype=np.int32), (row, col.ravel())))
    x.sum_duplicates()
    x.data[:] = 1
    return x


def similar_pairs(texts: list[str], min_jaccard: float = 0.5, block: int = 500) -> np.ndarray:
    """Structured array (i, j, jaccard) of every pair i < j with exact Jaccard >= min_jaccard."""
    x = shingle_matrix(texts)
    sizes = np.asarray(x.sum(axis=1)).ravel()
    xt = x.T.tocsr()
    out = []
    for b0 in range(0, x.shape[0], block):
        inter = (x[b0 : b0 + block] @ xt).tocoo()
        i = inter.row + b0
        keep = inter.col > i
        i, j, c = i[keep], inter.col[keep], inter.data[keep]
        jac = c / (sizes[i] + sizes[j] - c)
        sel = jac >= min_jaccard
        out.append(np.rec.fromarrays([i[sel], j[sel], jac[sel]], names="i,j,jaccard"))
    return np.concatenate(out) if out else np.rec.fromarrays([[], [], []], names="i,j,jaccard")


def quality(ids: list[str], survivors: set[str], pairs: np.ndarray) -> dict[str, float]:
    """Residual recall, removal precision and content lost of one dedup result.

    - residual_recall = 1 - (pairs with J >= 0.8 whose both docs survive) / (pairs with J >= 0.8)
    - precision_0.8 = share of removed docs with a surviving doc at J >= 0.8 (the threshold:
      a removal that the definition "near-duplicate at 0.8" justifies)
    - precision_0.7 = the same at J >= 0.7 (tolerates MinHash estimation error near 0.8)
    - content_lost = share of removed docs with no surviving doc even at J >= 0.5
    """
    alive = np.array([i in survivors for i in ids])
    i, j, jac = pairs["i"], pairs["j"], pairs["jaccard"]
    high = jac >= 0.8
    both = alive[i] & alive[j]
    residual = 1.0 - (np.count_nonzero(high & both) / max(1, np.count_nonzero(high)))
    removed = np.flatnonzero(~alive)

    def covered(min_j: float) -> np.ndarray:
        ok = np.zeros(len(ids), dtype=bool)
        sel = jac >= min_j
        ok[i[sel & alive[j]]] = True
        ok[j[sel & alive[i]]] = True
        return ok

    n_removed = max(1, len(removed))
    return {
        "docs": len(ids),
        "removed": int(len(removed)),
        "true_pairs_0.8": int(np.count_nonzero(high)),
        "residual_recall": residual,
        "precision_0.8": float(np.count_nonzero(covered(0.8)[removed])) / n_removed,
        "precision_0.7": float(np.count_nonzero(covered(0.7)[removed])) / n_removed,
        "content_lost": float(np.count_nonzero(~covered(0.5)[removed])) / n_removed,
    }


def load_or_build(out: str, n_real: int, seed: int = 0) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Corpus and truth pairs, cached under `out` (corpus.jsonl, pairs.npy)."""
    root = Path(out)
    corpus_path, pairs_path = root / "corpus.jsonl", root / "pairs.npy"
    meta_path = root / "meta.json"
    meta = {"n_real": n_real, "seed": seed}
    if meta_path.exists() and json.loads(meta_path.read_text()) == meta and pairs_path.exists():
        with open(corpus_path) as fh:
            docs = [(r["id"], r["text"]) for r in map(json.loads, fh)]
        return docs, np.load(pairs_path)
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    docs = build_corpus(n_real, seed)
    t1 = time.perf_counter()
    pairs = similar_pairs([t for _, t in docs])
    t2 = time.perf_counter()
    print(
        f"corpus: {len(docs)} docs in {t1 - t0:.0f}s; truth: {len(pairs)} pairs J>=0.5 in {t2 - t1:.0f}s"
    )
    with open(corpus_path, "w") as fh:
        for doc_id, text in docs:
            fh.write(json.dumps({"id": doc_id, "text": text}) + "\n")
    np.save(pairs_path, pairs)
    meta_path.write_text(json.dumps(meta))
    return docs, pairs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("DEDUP_GT", "/tmp/dedup_gt"))
    ap.add_argument("--real", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    docs, pairs = load_or_build(args.out, args.real, args.seed)
    jac = pairs["jaccard"]
    for t in (0.5, 0.7, 0.8, 0.9, 1.0):
        print(f"pairs with J >= {t}: {np.count_nonzero(jac >= t)}")


if __name__ == "__main__":
    main()
