"""What budgeted sampling adds to an end-to-end run (issue 5's target), repeated, order alternated.

    python benchmarks/bench_sampling_pipeline.py [--mb 50] [--repeats 3] [--budget TOKENS]

A real-text corpus of bench_pipeline.py (`--mb` MB), split into paragraph documents
(>= 300 chars; ~1,900 per MB), runs through `curate run` (read, normalize, exact dedup,
tokenize, shuffle, shards; multi_processing, one worker per core) with the same config except
`sampling`:

- `all`: no selection (every document written);
- `budget`: a token budget (default 0.15 tokens per corpus byte, about 60 % of the documents)
  and a source mixture (code 0.6, docs 0.1, man 0.3): the configuration of the claim. It writes
  fewer rows than `all`, which makes it cheaper downstream of the selection;
- `budget_full`: the budget machinery with a budget larger than the corpus and no mixture, so
  it selects and writes every document: the selection's cost without the savings of writing
  less.

Each repeat runs the three modes in a rotated order (repeat r starts with mode r), so every
mode runs first (on the coldest cache) once per three repeats; the input files are read once
before the first timed run. Reported per run: wall seconds, CPU seconds of the whole process
tree (user + system of curate and its worker processes, from `getrusage(RUSAGE_CHILDREN)`,
which background load on a shared machine inflates far less than wall time), peak RSS, rows
written. The ratio of each mode to `all` is taken within a repeat; min / median / max over
repeats are printed for CPU and for wall time.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import re
import resource
import shutil
import statistics

from bench_pipeline import WORK, ensure_corpus, ensure_tokenizer, load_texts, run_curate

MODES = ("all", "budget", "budget_full")


def ensure_paragraphs(folder: str, mb: int) -> str:
    out = os.path.join(WORK, f"paras{mb}")
    if os.path.exists(os.path.join(out, ".complete")):
        return out
    os.makedirs(out, exist_ok=True)
    for path in sorted(glob.glob(f"{folder}/*.jsonl.gz")):
        with (
            gzip.open(path) as src,
            gzip.open(os.path.join(out, os.path.basename(path)), "wb", compresslevel=1) as dst,
        ):
            for line in src:
                doc, buf = json.loads(line), ""
                for k, para in enumerate(re.split(r"\n\s*\n", doc["text"])):
                    buf = f"{buf}\n\n{para}" if buf else para
                    if len(buf) >= 300:
                        dst.write(
                            json.dumps({"id": f"{doc['id']}#{k}", "text": buf}).encode() + b"\n"
                        )
                        buf = ""
                if buf:
                    dst.write(json.dumps({"id": f"{doc['id']}#end", "text": buf}).encode() + b"\n")
    open(os.path.join(out, ".complete"), "w").close()
    return out


def sampling_section(mode: str, budget: int) -> dict:
    if mode == "all":
        return {"mode": "all"}
    if mode == "budget":
        mixture = {"code": 0.6, "docs": 0.1, "man": 0.3}
        return {"mode": "budget", "token_budget": budget, "mixture": mixture}
    return {"mode": "budget", "token_budget": 10**15}


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _spread(values: list[float]) -> str:
    return f"min {min(values):.3f}  median {statistics.median(values):.3f}  max {max(values):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=50, help="corpus size before paragraph split")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--budget", type=int, default=None, help="tokens (default 0.15 per byte)")
    ap.add_argument("--mode", default="multi_processing")
    ap.add_argument("--json", help="write every run's numbers here")
    args = ap.parse_args()
    base = ensure_corpus(args.mb)
    folder = ensure_paragraphs(base, args.mb)
    tok = ensure_tokenizer(load_texts(base)[:20000])
    files = sorted(glob.glob(f"{folder}/*.jsonl.gz"))
    corpus_bytes = sum(os.path.getsize(p) for p in files)  # compressed; only to size the budget
    budget = args.budget or int(0.15 * args.mb * 2**20)
    for p in files:  # one untimed read: no run pays for a cold page cache
        with open(p, "rb") as fh:
            while fh.read(1 << 24):
                pass
    sources = [
        {"name": fam, "paths": [f"{folder}/{fam}-*.jsonl.gz"]} for fam in ("code", "docs", "man")
    ]
    print(
        f"corpus {folder}: {len(files)} files, {corpus_bytes / 1e6:.1f} MB gzip; budget {budget:,} "
        f"tokens; {args.mode}, {os.cpu_count()} workers; load average {os.getloadavg()[0]:.2f}"
    )
    runs: list[dict] = []
    for rep in range(args.repeats):
        order = MODES[rep % len(MODES) :] + MODES[: rep % len(MODES)]
        for label in order:
            extra = {
                "input": {"sources": sources, "max_doc_bytes": 10_000_000},
                "sampling": sampling_section(label, budget),
            }
            shutil.rmtree(os.path.join(WORK, f"out-{args.mode}-s{label}"), ignore_errors=True)
            load = os.getloadavg()[0]
            c0 = _children_cpu()
            seconds, peak, sampled_cpu, manifest = run_curate(
                folder, tok, args.mode, os.cpu_count(), extra, tag=f"-s{label}"
            )
            cpu = _children_cpu() - c0
            acc = manifest["accounting"]
            runs.append(
                {"repeat": rep, "mode": label, "wall_s": seconds, "cpu_s": cpu,
                 "sampled_tree_cpu_s": sampled_cpu, "peak_rss_gb": peak / 2**30, "read": acc["read"], "written": acc["written"],
                 "sampled_out": acc["sampled_out"], "load_before": load}
            )  # fmt: skip
            print(
                f"repeat {rep} {label:11s}: wall {seconds:6.1f}s  CPU {cpu:6.1f}s (sampled {sampled_cpu:.1f})  read "
                f"{acc['read']:,}  written {acc['written']:,}  sampled_out {acc['sampled_out']:,}  "
                f"peak RSS {peak / 2**30:.2f} GB  (load before {load:.1f})",
                flush=True,
            )
    by = {(r["repeat"], r["mode"]): r for r in runs}
    for label in MODES[1:]:
        for key in ("cpu_s", "wall_s"):
            ratios = [by[(k, label)][key] / by[(k, "all")][key] for k in range(args.repeats)]
            print(f"{label:11s}/all {key[:-2]:4s} ratio: {_spread(ratios)}")
    with open(os.path.join(WORK, f"out-{args.mode}-sbudget", "stats.json")) as fh:
        report = json.load(fh)["sampling"]
    print(
        "budget per source:",
        json.dumps(
            {
                s: {
                    k: v
                    for k, v in d.items()
                    if k in ("target_share", "achieved_share", "within_tolerance")
                }
                for s, d in (report.get("sources") or {}).items()
            }
        ),
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(runs, fh, indent=1)


if __name__ == "__main__":
    main()
