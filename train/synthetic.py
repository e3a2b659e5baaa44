"""A small corpus in the curation pipeline's output format, for smoke tests and benchmarks.

It writes exactly what a curation run hands the trainer: `manifest.json` (format_version 1),
Arrow IPC *stream* shards with the shard schema, and a byte-level BPE `tokenizer/tokenizer.json`
trained on the fly, so the trainer can be exercised without running the pipeline. The text comes
from a seeded Markov chain over made-up words: random enough to need training, structured enough
that the loss visibly falls.

    python -m train.synthetic out/synthetic --docs 3000 --vocab 8192 --words 6000
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

SPECIAL_TOKENS = ["<eos>", "<pad>"]  # ids 0 and 1


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def synthetic_texts(
    n_docs: int, seed: int = 0, n_words: int = 400, median_words: int = 60
) -> list[str]:
    """Documents from a sparse first-order Markov chain over `n_words` syllable words."""
    rng = np.random.default_rng(seed)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words = sorted(
        {"".join(rng.choice(syllables, size=rng.integers(1, 4))) for _ in range(n_words * 2)}
    )[:n_words]
    successors = rng.integers(
        0, len(words), size=(len(words), 4)
    )  # each word is followed by one of 4
    texts = []
    for _ in range(n_docs):
        length = max(3, int(rng.lognormal(np.log(median_words), 0.6)))
        w = int(rng.integers(len(words)))
        out = []
        for i in range(length):
            out.append(words[w])
            if i % 12 == 11:
                out[-1] += "."
            w = (
                int(successors[w, rng.integers(4)])
                if rng.random() < 0.9
                else int(rng.integers(len(words)))
            )
        texts.append(" ".join(out).capitalize())
    return texts


def train_tokenizer(texts: list[str], vocab_size: int, path: Path) -> int:
    """Trains a byte-level BPE with <eos>=0 and <pad>=1; returns the actual vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return tok.get_vocab_size(with_added_tokens=True)


def _write_shard(path: Path, rows: dict[str, list]) -> dict:
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("source", pa.string()),
            ("input_ids", pa.list_(pa.int32())),
            ("n_tokens", pa.int32()),
            ("quality", pa.float32()),
            ("dedup_cluster", pa.string()),
            ("text", pa.string()),
        ]
    )
    table = pa.table(rows, schema=schema)
    tmp = path.with_name(path.name + ".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for batch in table.to_batches(max_chunksize=256):
            writer.write_batch(batch)
    tmp.replace(path)
    return {
        "path": f"shards/{path.name}",
        "rows": table.num_rows,
        "tokens": int(sum(rows["n_tokens"])),
        "bytes": path.stat().st_size,
        "sha256": _sha256(path),
    }


def write_synthetic_corpus(
    out_dir: str | Path,
    n_docs: int = 400,
    n_shards: int = 2,
    n_eval_docs: int = 0,
    vocab_size: int = 512,
    seed: int = 0,
    median_words: int = 60,
    validation_success: bool = True,
    n_words: int = 400,
) -> Path:
    """Writes manifest.json, shards/*.arrow and tokenizer/tokenizer.json under `out_dir`.

    Args:
        out_dir: run directory (created).
        n_docs: training documents, spread evenly over `n_shards` shards.
        n_shards: training shards.
        n_eval_docs: documents of one extra eval shard (0: `eval_shards` is empty).
        vocab_size: BPE vocabulary to train (the manifest records what the trainer reached).
        seed: drives the text, the split and the shuffle.
        median_words: median document length in words.
        validation_success: the validation verdict to record.
        n_words: distinct made-up words (more words let the BPE reach a larger vocabulary).

    Returns:
        The manifest path.
    """
    out = Path(out_dir)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    texts = synthetic_texts(n_docs + n_eval_docs, seed, n_words=n_words, median_words=median_words)
    tok_path = out / "tokenizer" / "tokenizer.json"
    vocab = train_tokenizer(texts, vocab_size, tok_path)
    from tokenizers import Tokenizer

    encoded = [
        e.ids + [0] for e in Tokenizer.from_file(str(tok_path)).encode_batch(texts)
    ]  # EOS appended
    order = np.random.default_rng(seed + 1).permutation(len(texts))  # global shuffle

    def rows(indices: list[int]) -> dict[str, list]:
        return {
            "id": [f"synthetic-{i:06d}" for i in indices],
            "source": ["synthetic"] * len(indices),
            "input_ids": [encoded[i] for i in indices],
            "n_tokens": [len(encoded[i]) for i in indices],
            "quality": [float(np.float32(0.5 + 0.5 * ((i * 7919) % 100) / 100)) for i in indices],
            "dedup_cluster": [f"c{i:06d}" for i in indices],
            "text": [texts[i] for i in indices],
        }

    train_ids = [int(i) for i in order[:n_docs]]
    shards = [
        _write_shard(out / "shards" / f"train-{k:05d}.arrow", rows(part))
        for k, part in enumerate(np.array_split(train_ids, n_shards))
    ]
    eval_shards = (
        [_write_shard(out / "shards" / "eval-00000.arrow", rows([int(i) for i in order[n_docs:]]))]
        if n_eval_docs
        else []
    )
    manifest = {
        "format_version": 1,
        "config_sha256": hashlib.sha256(json.dumps({"synthetic": seed}).encode()).hexdigest(),
        "config": {"synthetic": {"seed": seed, "n_docs": n_docs}},
        "code_version": "0.1.0+synthetic",
        "arrow_format": "ipc_stream",
        "tokenizer": {
            "path": "tokenizer/tokenizer.json",
            "sha256": _sha256(tok_path),
            "vocab_size": vocab,
            "eos_id": 0,
            "pad_id": 1,
        },
        "shards": shards,
        "eval_shards": eval_shards,
        "accounting": {
            "read": len(texts),
            "written": len(texts),
            "dead_letter": 0,
            "rejected": {},
            "removed": {},
            "sampled_out": 0,
            "by_source": {},
        },
        "stats": "stats.json",
        "report": "report/index.html",
        "validation": {
            "success": validation_success,
            "failed_expectations": [] if validation_success else ["synthetic_failure"],
        },
    }
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--eval-docs", type=int, default=200)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--words", type=int, default=6000, help="distinct made-up words")
    a = parser.parse_args()
    print(
        write_synthetic_corpus(
            a.out_dir, a.docs, a.shards, a.eval_docs, a.vocab, a.seed, n_words=a.words
        )
    )
