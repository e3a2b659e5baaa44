"""Sampling benchmark: DSIR quality (KL to target vs random), mixture accuracy, sampling cost.

Corpus: this machine's man pages, docs and Python sources (`pipelines.demo_data.iter_documents`),
split into paragraph chunks (>= MIN_CHUNK chars) to reach >= 100k documents. A seeded 20% of the
man *pages* is held out as the DSIR target sample (written to JSONL.gz and read back through
`load_target_texts`, as the pipeline would); everything else is the raw pool, of which a random
sample fits the raw model. Token counts are a proxy: words of the DSIR regex + 1 (EOS).

Measured, side by side in one run:

1. DSIR: KL(target || selection) on the scorer's hashed features for `SelectDocuments` (mode
   budget, weight exp(dsir)) vs its uniform `baseline` selection of the same token budget, with
   the calibrated temperature (default) and with the paper's T = 1. Target from the issue: >= 30%
   lower. Also the scoring throughput of our vectorised scorer vs the reference implementation
   (`data-selection` from PyPI, in its own venv: `python -m venv /work/benchvenv-sampling &&
   /work/benchvenv-sampling/bin/pip install data-selection`; skipped when absent) on the same texts.
2. Mixture {code: 0.5, docs: 0.3, man: 0.2}: achieved token shares (target: within 1 point).
3. Cost: wall time of `SelectDocuments` over all candidates vs a baseline pass over the same
   candidates (Create -> Map -> Count.Globally), both on the FnApiRunner, medians of REPEATS;
   and the added time relative to batch-tokenising the same texts with a byte-level BPE
   (HF tokenizers), a lower bound of an end-to-end pipeline pass.

Run: `python benchmarks/bench_sampling.py` (about 10 minutes on 2 idle cores); `--quick` for a smoke run.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import apache_beam as beam
import numpy as np
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.demo_data import iter_documents
from transforms.sampling import (
    Candidate,
    DsirScorer,
    FeatureCounts,
    SamplingConfig,
    SelectDocuments,
    kl_diagnostic,
    load_target_texts,
)
from transforms.sampling.config import DsirConfig

MIN_CHUNK = 500
PEER_VENV = Path(
    "/work/benchvenv-sampling/bin/python"
)  # pip install data-selection (not in setup.py)
REPEATS = 3
OUT_DIR = tempfile.mkdtemp(prefix="bench-sampling-out-")


def _keep(value, name, folder):
    # A file, not a global: Beam pickles functions of __main__ by value, globals included.
    with open(os.path.join(folder, name), "w") as fh:
        json.dump(value, fh)


def _read_results() -> dict:
    out = {}
    for name in os.listdir(OUT_DIR):
        with open(os.path.join(OUT_DIR, name)) as fh:
            out[name] = json.load(fh)
        os.unlink(os.path.join(OUT_DIR, name))
    return out


def chunks(text: str) -> list[str]:
    """Paragraph groups of at least MIN_CHUNK characters (the last one may be shorter)."""
    out, cur = [], ""
    for para in re.split(r"\n\s*\n", text):
        cur = f"{cur}\n\n{para}" if cur else para
        if len(cur) >= MIN_CHUNK:
            out.append(cur)
            cur = ""
    if cur.strip():
        out.append(cur)
    return out


def build(max_code_bytes: int, max_docs_per_family: int | None):
    """(pool: list of (id, source, text), target texts written to a JSONL.gz path)."""
    pool, target_dir = [], tempfile.mkdtemp(prefix="bench-sampling-")
    target_path = os.path.join(target_dir, "target.jsonl.gz")
    with gzip.open(target_path, "wt", encoding="utf-8") as target:
        for family in ("man", "docs", "code"):
            n_bytes = 0
            for i, (doc_id, text) in enumerate(iter_documents(family, seed=0)):
                if max_docs_per_family and i >= max_docs_per_family:
                    break
                if family == "code" and n_bytes >= max_code_bytes:
                    break
                n_bytes += len(text)
                held_out = family == "man" and hashlib.sha1(doc_id.encode()).digest()[0] < 51  # 20%
                if held_out:
                    target.write(json.dumps({"text": text}) + "\n")
                    continue
                pool.extend((f"{doc_id}#{j}", family, c) for j, c in enumerate(chunks(text)))
    return pool, target_path


def run_pipeline(build_fn, workers: int = 1) -> float:
    opts = PipelineOptions(flags=[], direct_num_workers=workers, direct_running_mode="in_memory")
    start = time.perf_counter()
    with beam.Pipeline(runner="FnApiRunner", options=opts) as p:
        build_fn(p)
    return time.perf_counter() - start


def select(cands, cfg: SamplingConfig):
    def graph(p):
        out = p | beam.Create(cands) | SelectDocuments(cfg, seed=0)
        (
            out["selected"]
            | "ListSel" >> beam.combiners.ToList()
            | "KeepSel" >> beam.Map(_keep, "selected", OUT_DIR)
        )
        out["report"] | "KeepRep" >> beam.Map(_keep, "report", OUT_DIR)
        if "baseline" in out:
            (
                out["baseline"]
                | "ListBase" >> beam.combiners.ToList()
                | "KeepBase" >> beam.Map(_keep, "baseline", OUT_DIR)
            )

    secs = run_pipeline(graph)
    return secs, _read_results()


def baseline_pass(cands) -> float:
    def graph(p):
        (
            p
            | beam.Create(cands)
            | beam.Map(lambda c: (c.id, c.n_tokens))
            | beam.combiners.Count.Globally()
            | beam.Map(_keep, "count", OUT_DIR)
        )

    return run_pipeline(graph)


def peer_scoring(texts: list[str], target: list[str], raw: list[str]) -> dict | None:
    """Times the reference DSIR featuriser + dot product (data-selection) on the same texts."""
    if not PEER_VENV.exists():
        return None
    code = r"""
import json, sys, time, numpy as np
from data_selection.hashed_ngram_dsir import get_ngram_counts
d = json.load(open(sys.argv[1]))
def fit(ts):
    c = np.zeros(10000, dtype=np.int64)
    for t in ts: c = get_ngram_counts(t, n=2, num_buckets=10000, counts=c)
    return c / c.sum()
lt, lr = fit(d["target"]), fit(d["raw"])
log_diff = np.log(lt + 1e-8) - np.log(lr + 1e-8)
t0 = time.perf_counter()
scores = [float(np.dot(log_diff, get_ngram_counts(t, n=2, num_buckets=10000))) for t in d["texts"]]
print(json.dumps({"seconds": time.perf_counter() - t0, "n": len(scores)}))
"""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"texts": texts, "target": target, "raw": raw}, fh)
    out = subprocess.run(
        [str(PEER_VENV), "-c", code, fh.name], capture_output=True, text=True, timeout=1800
    )
    os.unlink(fh.name)
    return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-500:]}


def tokenize_time(texts: list[str]) -> float:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(texts[::20], trainers.BpeTrainer(vocab_size=8192, show_progress=False))
    start = time.perf_counter()
    for i in range(0, len(texts), 512):
        tok.encode_batch(texts[i : i + 512])
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small corpus, one repeat (smoke run)")
    ap.add_argument("--code-mb", type=int, default=30)
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else REPEATS

    t0 = time.perf_counter()
    pool, target_path = build(args.code_mb << 20, 400 if args.quick else None)
    ids, sources, texts = zip(*pool, strict=True)
    print(
        f"corpus: {len(pool)} documents ({sum(map(len, texts)) / 1e6:.0f} MB) built in {time.perf_counter() - t0:.0f}s"
    )
    by_src = {s: sources.count(s) for s in ("code", "docs", "man")}
    print(f"  by source: {by_src}")

    dcfg = DsirConfig(enabled=True, target_paths=[target_path], buckets=10_000, ngram_orders=[1, 2])
    target = load_target_texts(dcfg.target_paths, max_docs=dcfg.max_target_docs).texts
    rng = np.random.default_rng(0)
    raw = [
        texts[i]
        for i in rng.choice(len(texts), size=min(dcfg.raw_sample_docs, len(texts)), replace=False)
    ]
    t0 = time.perf_counter()
    scorer = DsirScorer.fit(target, raw, dcfg)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ratios = np.concatenate(
        [scorer.log_ratio(texts[i : i + 256]) for i in range(0, len(texts), 256)]
    )
    score_s = time.perf_counter() - t0
    mb = sum(map(len, texts)) / 1e6
    print(
        f"DSIR: target {len(target)} man pages, raw sample {len(raw)}; fit {fit_s:.1f}s (calibrated temperature"
        f" {scorer.temperature:.4g}); scoring {len(texts)} docs in {score_s:.1f}s ({mb / score_s:.1f} MB/s, one process)"
    )
    sub = list(texts[:: max(1, len(texts) // 3000)])[:3000]
    peer = peer_scoring(sub, target[:300], raw[:1000])
    if peer and "seconds" in peer:
        t0 = time.perf_counter()
        scorer.log_ratio(sub)
        ours = time.perf_counter() - t0
        print(
            f"  scoring {len(sub)} docs: data-selection {peer['seconds']:.2f}s, ours {ours:.2f}s -> {peer['seconds'] / ours:.1f}x faster"
        )
    else:
        print(f"  peer scoring skipped: {peer}")

    n_tokens = [len(scorer.hasher.words(t)) + 1 for t in texts]
    total = sum(n_tokens)
    text_of = dict(zip(ids, texts, strict=True))

    def candidates(temperature: float) -> list[Candidate]:
        return [
            Candidate(i, s, n, {"dsir": temperature * float(r)})
            for i, s, n, r in zip(ids, sources, n_tokens, ratios, strict=True)
        ]

    # 1. DSIR KL diagnostic: calibrated temperature (the default) and the paper's T = 1
    budget = total // 10
    cfg = SamplingConfig(mode="budget", token_budget=budget, weight="1", dsir=dcfg)
    print(f"KL(target || selection), budget {budget} of {total} tokens (10%):")
    for label, temperature in (("calibrated T", scorer.temperature), ("paper T", 1.0)):
        _, res = select(candidates(temperature), cfg)
        sel = FeatureCounts(scorer.hasher).add_texts([text_of[i] for i, _ in res["selected"]])
        base = FeatureCounts(scorer.hasher).add_texts([text_of[i] for i in res["baseline"]])
        diag = kl_diagnostic(scorer, sel, base)
        shares = {s: round(v["share"], 3) for s, v in res["report"]["sources"].items()}
        print(
            f"  {label}={temperature:.4g}: selected {diag['kl_selected']:.4f}, random {diag['kl_random']:.4f}"
            f" -> {100 * diag['relative_reduction']:.1f}% lower (target >= 30%); selected token shares {shares}"
        )
    cands = candidates(scorer.temperature)

    # 2. mixture
    mixture = {"code": 0.5, "docs": 0.3, "man": 0.2}
    avail = {s: sum(c.n_tokens for c in cands if c.source == s) for s in mixture}
    mbudget = int(0.5 * min(avail[s] / w for s, w in mixture.items()))
    mcfg = SamplingConfig(
        mode="budget",
        token_budget=mbudget,
        mixture=mixture,
        weight="1",
        dsir=dcfg,
        eval_fraction=0.01,
    )
    _, res = select(cands, mcfg)
    rep = res["report"]
    worst = max(abs(rep["sources"][s]["achieved_share"] - w) for s, w in mixture.items())
    print(
        f"mixture (budget {mbudget}): achieved "
        + ", ".join(f"{s} {rep['sources'][s]['achieved_share']:.4f}" for s in mixture)
        + f"; worst error {100 * worst:.3f} points (target <= 1); budget used {100 * rep['budget_used']:.2f}%"
    )

    # 3. cost
    sel_times, base_times = [], []
    for _ in range(repeats):
        base_times.append(baseline_pass(cands))
        sel_times.append(select(cands, mcfg)[0])
    s_med, b_med = statistics.median(sel_times), statistics.median(base_times)
    tok_s = tokenize_time(list(texts))
    added = s_med - b_med
    print(
        f"cost over {len(cands)} candidates (FnApiRunner in_memory, median of {repeats}): SelectDocuments {s_med:.2f}s,"
        f" baseline Map+Count {b_med:.2f}s -> ratio {s_med / b_med:.2f}x, added {added:.2f}s"
    )
    print(
        f"  tokenising the same {mb:.0f} MB (BPE encode_batch, a lower bound of one pipeline pass) {tok_s:.1f}s:"
        f" selection adds {100 * added / tok_s:.1f}% of it; DSIR scoring adds {100 * score_s / tok_s:.1f}%"
    )


if __name__ == "__main__":
    sys.exit(main())
