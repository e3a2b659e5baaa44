"""The shared eval set, split off the raw input before any arm sees it.

A raw document goes to eval when its content hash (XXH3-128 of the normalized text, the key exact
dedup uses) falls below `fraction`; of those, the `max_docs` smallest hashes are kept, so the
choice depends only on the documents, never on file order or worker count. Exact copies share the
hash, so all copies of an eval document leave training together (one copy is evaluated).

Near copies: every eval document's MinHash-LSH band keys are kept (with the base config's near
dedup parameters: shingles, permutations, bands). A training document that shares a band with an
eval document and whose estimated Jaccard with it reaches the LSH threshold is removed from
training too (`near_eval` in the split counts), in every arm alike, so no arm trains on a near copy
of an eval document. This is the eval document's whole *direct* cluster (what LSH can find), not
transitive chains; whatever partial overlap remains is caught by decontamination (real shared content, not boilerplate) against
the eval set, which every arm runs (dedup.decontamination, action drop).

Cost: two streaming passes over the raw input in this process; memory holds only the eval side
(at most `max_docs` documents and their band keys), never per-document data of the corpus. For
inputs far larger than a one-machine ablation this step would become a Beam job of the same shape
(the eval band keys are a small side input).
"""

from __future__ import annotations

import gzip
import heapq
import io
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from pipelines.ablate.config import HoldoutConfig
from pipelines.config import CurateConfig, SourceConfig
from transforms.infra.hashing import content_key
from transforms.infra.record import Record
from transforms.stages.normalize import Normalizer
from transforms.stages.readers import plan_read_tasks, read_task

_BATCH = 512


@dataclass
class Split:
    """Where the split wrote its files, and its counts."""

    train_sources: list[SourceConfig]
    eval_path: str  # JSONL.gz of {"id", "source", "text"}
    counts: dict = field(default_factory=dict)


def _records(sources: list[SourceConfig], cfg: CurateConfig) -> Iterator[Record | object]:
    tasks = plan_read_tasks(sources, cfg.input.split_bytes, cfg.input.max_line_bytes)
    for task in tasks:
        yield from read_task(task)


def _batches(items: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Sketcher:
    """MinHash signatures and LSH band hashes with the base config's near dedup parameters."""

    def __init__(self, cfg: CurateConfig) -> None:
        from transforms.dedup.minhash import MinHasher
        from transforms.dedup.near import resolve_bands
        from transforms.dedup.shingles import Shingler

        near = cfg.dedup.near
        self.shingler = Shingler(near.ngram, near.lowercase, near.strip_punct, near.fold_digits)
        self.hasher = MinHasher(near.num_perm, cfg.run.seed, near.scheme)
        self.bands, self.rows = resolve_bands(near)
        self.threshold = near.effective_lsh_threshold()

    def sketch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        from transforms.dedup.lsh import band_hashes

        sigs = self.hasher.signatures(self.shingler.hash_batch(texts))
        return sigs, band_hashes(sigs, self.bands, self.rows)


def _gzip_text(path: str):
    """A text writer to a gzip file without a timestamp: equal content gives equal bytes, so the
    split's hash (part of every arm's identity) is stable across reruns."""
    return io.TextIOWrapper(gzip.GzipFile(path, "wb", mtime=0), encoding="utf-8")


def _unit(key: bytes) -> float:
    return int.from_bytes(key[:8], "big") / 2.0**64


def split_holdout(
    sources: list[SourceConfig], cfg: CurateConfig, hold: HoldoutConfig, out_dir: str
) -> Split:
    """Writes `out_dir/train/<source>.jsonl.gz` (raw text) and `out_dir/eval.jsonl.gz`.

    Args:
        sources: the raw input.
        cfg: the base curate config (normalization, near dedup parameters, reader limits).
        hold: fraction, cap and near-copy policy.
        out_dir: the split folder (created).
    """
    normalizer = Normalizer.from_config(cfg.normalize)
    sketcher = _Sketcher(cfg) if hold.near_copies else None

    # Pass 1: the eval documents, the max_docs smallest content hashes below `fraction`.
    heap: list[tuple[float, bytes, str, str, str]] = []  # max-heap by -u
    seen_keys: set[bytes] = set()
    for rec in _records(sources, cfg):
        if not isinstance(rec, Record):
            continue
        text = normalizer(rec.text)
        if not text:
            continue
        key = content_key(text)
        u = _unit(key)
        if u >= hold.fraction or key in seen_keys:
            continue
        if len(heap) < hold.max_docs:
            heapq.heappush(heap, (-u, key, rec.id, rec.source, text))
            seen_keys.add(key)
        elif -heap[0][0] > u:
            _, old, *_ = heapq.heapreplace(heap, (-u, key, rec.id, rec.source, text))
            seen_keys.discard(old)
            seen_keys.add(key)
    evals = sorted(heap, key=lambda e: -e[0])
    eval_keys = {e[1] for e in evals}
    band_index: dict[int, list[int]] = defaultdict(list)
    eval_sigs = np.zeros((0, 0), dtype=np.uint32)
    if sketcher is not None and evals:
        eval_sigs, bands = sketcher.sketch([e[4] for e in evals])
        for i, row in enumerate(bands):
            for h in row.tolist():
                band_index[h].append(i)

    os.makedirs(os.path.join(out_dir, "train"), exist_ok=True)
    eval_path = os.path.join(out_dir, "eval.jsonl.gz")
    with _gzip_text(eval_path + ".tmp") as fh:
        for _, _, doc_id, source, text in evals:
            fh.write(json.dumps({"id": doc_id, "source": source, "text": text}) + "\n")
    os.replace(eval_path + ".tmp", eval_path)

    # Pass 2: every other document to its source's training file, unless it copies an eval doc.
    counts: Counter = Counter()
    writers: dict[str, io.TextIOWrapper] = {}
    names = [s.name for s in sources]
    try:
        for name in names:
            writers[name] = _gzip_text(os.path.join(out_dir, "train", f"{name}.jsonl.gz.tmp"))
        for batch in _batches(_records(sources, cfg), _BATCH):
            recs = [r for r in batch if isinstance(r, Record)]
            counts["unreadable"] += len(batch) - len(recs)
            texts = [normalizer(r.text) for r in recs]
            keep = [bool(t) and content_key(t) not in eval_keys for t in texts]
            counts["eval_copies"] += sum(
                bool(t) and not k for t, k in zip(texts, keep, strict=True)
            )
            counts["empty"] += sum(not t for t in texts)
            if sketcher is not None and band_index:
                idx = [i for i, k in enumerate(keep) if k]
                if idx:
                    sigs, bands = sketcher.sketch([texts[i] for i in idx])
                    for j, i in enumerate(idx):
                        hits = {e for h in bands[j].tolist() for e in band_index.get(h, ())}
                        if any(
                            np.mean(sigs[j] == eval_sigs[e]) >= sketcher.threshold for e in hits
                        ):
                            keep[i] = False
                            counts["near_eval"] += 1
            for rec, k in zip(recs, keep, strict=True):
                if k:
                    writers[rec.source].write(json.dumps({"id": rec.id, "text": rec.text}) + "\n")
                    counts["train"] += 1
    finally:
        for w in writers.values():
            w.close()
    for name in names:
        path = os.path.join(out_dir, "train", f"{name}.jsonl.gz")
        os.replace(path + ".tmp", path)
    counts["eval"] = len(evals)
    # Pass 2 skipped the eval documents themselves too: count only their other exact copies.
    counts["eval_copies"] -= len(evals)
    counts["eval_by_source"] = dict(Counter(e[3] for e in evals))
    train = [
        SourceConfig(name, [os.path.join(out_dir, "train", f"{name}.jsonl.gz")], "jsonl")
        for name in names
    ]
    return Split(train, eval_path, dict(counts))


def read_eval(path: str) -> list[dict]:
    """The held-out documents ({"id", "source", "text"}) of a split."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
