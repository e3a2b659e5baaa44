"""ShardStats throughput vs a naive `collections.Counter` baseline, on the same real text.

    python benchmarks/bench_stats.py [--mb 40] [--rows 500] [--vocab 8192]

Input: documents from pipelines.demo_data (Python sources, docs, man pages of this machine),
tokenized once with a byte-level BPE trained on a sample (not timed), cut into shard tables of
`--rows` rows. Both sides compute the same statistics from the same tables: token frequencies,
top word bigrams, distinct documents and bigrams, length quantiles (chars, tokens), per-source
counts. The baseline is exact and unbounded (Counters, sets, lists); ShardStats is bounded and
mergeable. Prints MB/s of text, tokens/s, peak Python memory, the ratio, and how close the
sketch's top bigrams are to the exact ones.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.demo_data import iter_documents  # noqa: E402
from quality.report_config import StatsConfig  # noqa: E402
from transforms.stats import ShardStats  # noqa: E402

WORD = re.compile(r"\w+")


def load_docs(max_bytes: int) -> list[tuple[str, str]]:
    docs, size = [], 0
    iters = {f: iter_documents(f, seed=7) for f in ("code", "docs", "man")}
    while size < max_bytes and iters:
        for family in list(iters):
            try:
                _, text = next(iters[family])
            except StopIteration:
                del iters[family]
                continue
            docs.append((family, text))
            size += len(text.encode("utf-8", "surrogatepass"))
    return docs


def make_tables(docs: list[tuple[str, str]], rows: int, vocab: int) -> list[pa.Table]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=["<|endoftext|>"],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([t[:20_000] for _, t in docs[:2000]], trainer)
    tables = []
    for start in range(0, len(docs), rows):
        chunk = docs[start : start + rows]
        ids = [e.ids for e in tok.encode_batch([t for _, t in chunk])]
        tables.append(
            pa.table(
                {
                    "id": [f"d{start + i}" for i in range(len(chunk))],
                    "source": [s for s, _ in chunk],
                    "input_ids": pa.array(ids, pa.list_(pa.int32())),
                    "n_tokens": pa.array([len(x) for x in ids], pa.int32()),
                    "dedup_cluster": [""] * len(chunk),
                    "text": [t for _, t in chunk],
                }
            )
        )
    return tables


def naive(tables: list[pa.Table], k: int) -> dict:
    """Exact statistics with Counters, sets and lists: the obvious Python."""
    tokens, grams, docs, gram_set = Counter(), Counter(), set(), set()
    chars, lengths, sources = [], [], Counter()
    for table in tables:
        for src, text, ids in zip(
            table.column("source").to_pylist(),
            table.column("text").to_pylist(),
            table.column("input_ids").to_pylist(),
            strict=True,
        ):
            tokens.update(ids)
            words = WORD.findall(text.lower())
            pairs = [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
            grams.update(pairs)
            gram_set.update(pairs)
            docs.add(hash(text))
            chars.append(len(text))
            lengths.append(len(ids))
            sources[src] += 1
    return {
        "top_tokens": tokens.most_common(k),
        "top_ngrams": grams.most_common(k),
        "distinct_docs": len(docs),
        "distinct_ngrams": len(gram_set),
        "p50_chars": float(np.quantile(chars, 0.5)),
        "p50_tokens": float(np.quantile(lengths, 0.5)),
        "sources": dict(sources),
    }


def sketched(tables: list[pa.Table], vocab: int, k: int) -> dict:
    cfg = StatsConfig(top_k=k)
    total = ShardStats(cfg, vocab)
    for table in tables:  # one accumulator per shard, merged: what the pipeline does
        part = ShardStats(cfg, vocab)
        part.add_table(table)
        total.merge(part)
    return total.to_json()


def timed(fn, *args):
    """Result and seconds of an untraced run, then peak memory of a second, traced run
    (tracemalloc slows allocation-heavy code, so it must not touch the timing)."""
    t0 = time.perf_counter()
    out = fn(*args)
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=40.0, help="MB of text")
    parser.add_argument("--rows", type=int, default=500, help="rows per shard table")
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--k", type=int, default=50)
    args = parser.parse_args()
    docs = load_docs(int(args.mb * 1e6))
    tables = make_tables(docs, args.rows, args.vocab)
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for _, t in docs) / 1e6
    n_tokens = sum(int(pa.compute.sum(t.column("n_tokens")).as_py()) for t in tables)
    print(
        f"input: {len(docs):,} documents, {mb:.1f} MB of text, {n_tokens:,} tokens, {len(tables)} tables"
    )
    sketch, s_sec, s_peak = timed(sketched, tables, args.vocab, args.k)
    exact, n_sec, n_peak = timed(naive, tables, args.k)
    for name, sec, peak in (("ShardStats", s_sec, s_peak), ("Counter baseline", n_sec, n_peak)):
        print(
            f"{name:17s} {sec:7.2f} s  {mb / sec:6.2f} MB/s  {n_tokens / sec / 1e6:6.2f} M tokens/s  "
            f"peak Python memory {peak / 1e6:7.1f} MB"
        )
    print(
        f"speed ratio ShardStats / baseline: {n_sec / s_sec:.2f}x;  memory ratio: {s_peak / n_peak:.2f}"
    )
    true = dict(exact["top_ngrams"])
    got = sketch["ngrams"]["top"]
    recall = len({g for g, _ in got} & set(true)) / len(true)
    err = max((c - true[g]) / true[g] for g, c in got if g in true) if got else float("nan")
    tok_same = [list(x) for x in exact["top_tokens"]] == sketch["token_frequencies"]["top"]
    print(
        f"top-{args.k} bigrams: recall {recall:.2f} of the exact list ({len(got)} reported above the "
        f"guarantee threshold), worst overestimate {100 * err:.1f}%; top tokens identical: {tok_same}"
    )
    print(
        f"distinct docs {sketch['distinct']['documents']:,} (exact {exact['distinct_docs']:,}); distinct bigrams "
        f"{sketch['distinct']['ngrams']:,} (exact {exact['distinct_ngrams']:,}); median chars "
        f"{sketch['lengths']['chars']['quantiles']['0.5']} (exact {exact['p50_chars']})"
    )


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
