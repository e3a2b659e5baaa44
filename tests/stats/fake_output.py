"""A small, realistic run output directory, built without the pipeline.

Used by the stats, validation and report tests and by benchmarks/screenshot_report.py. It holds
what `curate run` writes: manifest.json (accounting that reconciles), two Arrow IPC stream shards,
a byte-level BPE tokenizer trained on the fly, rejected/removed/dead_letter JSONL and stats.json.
Texts are generated (pseudo-words, Zipf-distributed) unless the caller passes real ones.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from quality.report_config import StatsConfig
from transforms.stats import ShardStats

SOURCES = ("code", "docs", "man")
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "da", "qua", "zo", "ber", "tin"]


def synthetic_texts(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """n (id, source, text) with Zipf-distributed pseudo-words (heavy n-grams exist)."""
    rng = np.random.default_rng(seed)
    vocab = sorted({"".join(rng.choice(SYLLABLES, size=rng.integers(1, 4))) for _ in range(400)})
    docs = []
    for i in range(n):
        length = int(rng.integers(20, 160))
        picks = np.minimum(rng.zipf(1.3, size=length) - 1, len(vocab) - 1)
        words = [vocab[j] for j in picks]
        lines = [" ".join(words[k : k + 12]) + "." for k in range(0, len(words), 12)]
        docs.append((f"doc-{i:04d}", SOURCES[i % len(SOURCES)], "\n".join(lines)))
    return docs


def train_tokenizer(texts: list[str], path: Path, vocab_size: int = 512) -> int:
    """Trains a byte-level BPE (eos id 0, pad id 1) and saves it; returns the vocab size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return tok.get_vocab_size()


def shard_table(rows: list[dict], include_text: bool) -> pa.Table:
    """A table in the shard schema from row dicts (id, source, input_ids, scores, text)."""
    cols = {
        "id": pa.array([r["id"] for r in rows], pa.string()),
        "source": pa.array([r["source"] for r in rows], pa.string()),
        "input_ids": pa.array([r["input_ids"] for r in rows], pa.list_(pa.int32())),
        "n_tokens": pa.array([len(r["input_ids"]) for r in rows], pa.int32()),
        "quality": pa.array([r["quality"] for r in rows], pa.float32()),
        "toxicity": pa.array([r["toxicity"] for r in rows], pa.float32()),
        # a raw scorer feature: unbounded, summarised with log bins, not range-checked
        "gopher_quality_word_count": pa.array([len(r["text"].split()) for r in rows], pa.float32()),
        "dedup_cluster": pa.array([r["id"] for r in rows], pa.string()),
    }
    if include_text:
        cols["text"] = pa.array([r["text"] for r in rows], pa.string())
    return pa.table(cols)


def write_stream(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=64)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def build_fake_output(
    out: Path,
    n_docs: int = 90,
    include_text: bool = True,
    docs: list[tuple[str, str, str]] | None = None,
    seed: int = 0,
    extras: bool = True,
) -> dict:
    """Writes a complete run output under `out`; returns the manifest (also on disk).

    Of the documents, about 10% are rejected, 10% removed as duplicates, 5% sampled out; the rest
    are split into two train shards. `extras` adds the quality_summary and sampling sections
    to stats.json (the report must also work without them).
    """
    out = Path(out)
    docs = docs if docs is not None else synthetic_texts(n_docs, seed)
    vocab = train_tokenizer([t for _, _, t in docs], out / "tokenizer" / "tokenizer.json")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    rng = np.random.default_rng(seed)
    fate = rng.choice(
        ["keep", "reject", "remove", "sample"], size=len(docs), p=[0.75, 0.1, 0.1, 0.05]
    )
    kept, rejected, removed = [], [], []
    by_source = {s: _zero_accounting() for s in sorted({d[1] for d in docs})}
    reasons = ["too_short", "gopher_quality:word_count", "toxicity"]
    for i, (doc_id, source, text) in enumerate(docs):
        acc = by_source[source]
        acc["read"] += 1
        n_bytes = len(text.encode("utf-8"))
        acc["bytes"]["read"] = acc["bytes"].get("read", 0) + n_bytes
        place = {"reject": "rejected", "remove": "removed", "sample": "sampled_out"}.get(
            fate[i], "written"
        )
        acc["bytes"][place] = acc["bytes"].get(place, 0) + n_bytes
        if fate[i] == "reject":
            reason = reasons[i % len(reasons)]
            rejected.append(
                {
                    "id": doc_id,
                    "source": source,
                    "reason": reason,
                    "detail": "score 0.1 < 0.5",
                    "text": "<b>bold</b> & " + text[:2000],
                }
            )
            acc["rejected"][reason] = acc["rejected"].get(reason, 0) + 1
        elif fate[i] == "remove":
            stage = "exact" if i % 2 else "near"
            removed.append(
                {
                    "id": doc_id,
                    "source": source,
                    "stage": stage,
                    "cluster": f"c-{i % 7}",
                    "kept_id": docs[0][0],
                    "similarity": 0.91,
                    "text": text[:2000],
                }
            )
            acc["removed"][stage] = acc["removed"].get(stage, 0) + 1
        elif fate[i] == "sample":
            acc["sampled_out"] += 1
        else:
            ids = tok.encode(text).ids + [0]
            kept.append(
                {
                    "id": doc_id,
                    "source": source,
                    "text": text,
                    "input_ids": ids,
                    "quality": float(rng.uniform(0.4, 1.0)),
                    "toxicity": float(rng.uniform(0, 0.1)),
                }
            )
            acc["written"] += 1
    dead = [
        {
            "reason": "malformed_json",
            "source": "docs",
            "file": "docs-00000.jsonl.gz",
            "line": 7,
            "raw": '{"id": "x", "text": "<unterminated',
            "detail": "Expecting ',' delimiter",
        }
    ]
    by_source.setdefault("docs", _zero_accounting())
    by_source["docs"]["read"] += 1
    by_source["docs"]["dead_letter"]["malformed_json"] = 1
    by_source["docs"]["bytes"]["dead_letter"] = (
        by_source["docs"]["bytes"].get("dead_letter", 0) + 34
    )
    by_source["docs"]["bytes"]["read"] = by_source["docs"]["bytes"].get("read", 0) + 34
    _jsonl(out / "rejected" / "rejected-00000.jsonl", rejected)
    _jsonl(out / "removed" / "removed-00000.jsonl", removed)
    _jsonl(out / "dead_letter" / "dead_letter-00000.jsonl", dead)

    half = len(kept) // 2
    shards, stats = [], ShardStats(StatsConfig(top_k=30), vocab)
    for k, rows in enumerate([kept[:half], kept[half:]]):
        path = out / "shards" / f"train-{k:05d}.arrow"
        table = shard_table(rows, include_text)
        write_stream(path, table)
        stats.add_table(shard_table(rows, True))
        shards.append(
            {
                "path": f"shards/train-{k:05d}.arrow",
                "rows": len(rows),
                "tokens": int(sum(len(r["input_ids"]) for r in rows)),
                "bytes": path.stat().st_size,
                "sha256": _sha256(path),
            }
        )
    accounting = _total(by_source)
    tokens = sum(sh["tokens"] for sh in shards)
    stats_json = {
        "corpus": stats.to_json(),
        "funnel": accounting,
        "tokens": {"written": tokens, "by_split": {"train": tokens}},
        "dedup": {
            "exact_cluster_sizes": {"1": 60, "2": 5, "3": 2},
            "near": {"cluster_sizes": {"2": 4, "5": 1}},
        },
    }
    if extras:
        stats_json.update(_extras())
    (out / "stats.json").write_text(json.dumps(stats_json, indent=1), encoding="utf-8")
    manifest = {
        "format_version": 1,
        "config_sha256": "0" * 64,
        "config": {"run": {"name": "fake"}},
        "code_version": "0.1.0+gtest",
        "arrow_format": "ipc_stream",
        "tokenizer": {
            "path": "tokenizer/tokenizer.json",
            "sha256": _sha256(out / "tokenizer" / "tokenizer.json"),
            "vocab_size": vocab,
            "eos_id": 0,
            "pad_id": 1,
        },
        "shards": shards,
        "eval_shards": [],
        "accounting": accounting,
        "name": "fake",
        "timings": {"total_s": 12.5, "prepare_s": 2.0, "pipeline_s": 10.5},
        "schema": {
            "score_columns": ["quality", "toxicity", "gopher_quality_word_count"],
            "text": include_text,
        },
        "accounting_ok": True,
        "stats": "stats.json",
        "report": None,
        "validation": {"success": None, "skipped": True},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.makedirs(out / "report", exist_ok=True)
    return manifest


def _zero_accounting() -> dict:
    return {
        "read": 0,
        "written": 0,
        "dead_letter": {},
        "rejected": {},
        "removed": {},
        "sampled_out": 0,
        "bytes": {},
    }


def _total(by_source: dict) -> dict:
    total = _zero_accounting()
    for acc in by_source.values():
        for key in ("read", "written", "sampled_out"):
            total[key] += acc[key]
        for key in ("dead_letter", "rejected", "removed", "bytes"):
            for reason, n in acc[key].items():
                total[key][reason] = total[key].get(reason, 0) + n
    total["by_source"] = by_source
    return total


def _extras() -> dict:
    """stats.json sections of other stages, in the shapes of quality.summary.ScoringSummary and
    transforms.sampling.selection (as of this writing); the report renders any shape."""
    groups = {
        "gender:female": {
            "docs": 40,
            "share_of_docs": 0.4,
            "share_of_axis_mentions": 0.4,
            "scored_docs": 40,
            "toxic_docs": 1,
            "toxic_rate": 0.025,
            "toxic_rate_ci95": [0.004, 0.128],
            "disparity": 0.8,
            "disparity_ci95": [0.1, 4.1],
        },
        "gender:male": {
            "docs": 60,
            "share_of_docs": 0.6,
            "share_of_axis_mentions": 0.6,
            "scored_docs": 60,
            "toxic_docs": 2,
            "toxic_rate": 0.033,
            "toxic_rate_ci95": [0.009, 0.114],
            "disparity": 1.07,
            "disparity_ci95": [0.3, 3.6],
        },
    }
    scope = {
        "docs": 90,
        "kept": 80,
        "rejected": {"toxicity": 3, "gopher_quality:word_count": 7},
        "scorers": {"gopher_v1": {"pass": 83, "fail": 7, "fail_by_rule": {"word_count": 7}}},
        "toxicity": {
            "scored": 90,
            "mean": 0.05,
            "above_threshold": 3,
            "rate_above_threshold": 0.033,
            "histogram": [60, 15, 6, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0],
        },
        "pii": {"docs_with_pii": 4, "counts": {"email": 4, "phone": 1, "ip_address": 0}},
    }
    return {
        "quality_summary": {
            "toxicity_threshold": 0.8,
            "toxicity_histogram_edges": [round(i / 20, 6) for i in range(21)],
            **scope,
            "bias": {
                "toxicity_threshold": 0.5,
                "corpus": {
                    "docs": 100,
                    "docs_with_identity": 30,
                    "scored_docs": 100,
                    "toxic_docs": 3,
                    "toxic_rate": 0.03,
                    "groups": groups,
                },
                "by_source": {"docs": {"docs": 30, "groups": groups}},
            },
            "by_source": {"docs": scope},
        },
        "sampling": {
            "mode": "weighted",
            "token_budget": 5000,
            "k": None,
            "lookahead": 4,
            "seed": 0,
            "candidates": {"docs": 80, "tokens": 6000},
            "selected": {
                "docs": 70,
                "tokens": 4800,
                "train": {"docs": 70, "tokens": 4800},
                "eval": {"docs": 0, "tokens": 0},
            },
            "budget_used": 0.96,
            "mixture": {"redistribute": True, "all_within_tolerance": True},
            "sources": {
                s: {
                    "docs": 30,
                    "tokens": 2000,
                    "eligible_docs": 27,
                    "eligible_tokens": 1900,
                    "bad_scores": 0,
                    "selected_docs": 23,
                    "selected_tokens": 1500 + 100 * i,
                    "share": 0.33,
                    "not_selected": {"sampled_out": 4},
                    "target_tokens": 1650,
                    "budget_tokens": 1650,
                }
                for i, s in enumerate(SOURCES)
            },
            "log_weight_quantiles": {
                "kept": {"q01": -1.0, "q25": -0.2, "q50": 0.1, "q75": 0.4, "q99": 1.2},
                "dropped": {"q01": -3.0, "q25": -1.5, "q50": -0.9, "q75": -0.4, "q99": 0.3},
            },
            "ngram_distribution": {
                "features": "word_1_2",
                "buckets": 64,
                "overall": {"counts": list(range(64))},
            },
        },
    }
