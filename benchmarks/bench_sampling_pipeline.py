"""What budgeted sampling adds to an end-to-end run, on ≥ 100k documents (issue 5's target).

    python benchmarks/bench_sampling_pipeline.py [--budget 30000000]

The 200 MB real-text corpus of bench_pipeline.py, split into paragraph documents (≥ 300 chars;
about 376k documents), runs through `curate run` twice in one invocation with the same config
except `sampling`: `mode: all` (no selection), then `mode: budget` with a token budget and a
source mixture (code 0.6, docs 0.1, man 0.3). Prints both wall times, the overhead, and the
achieved shares.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import re

from bench_pipeline import WORK, ensure_corpus, ensure_tokenizer, load_texts, run_curate


def ensure_paragraphs(folder: str) -> str:
    out = os.path.join(WORK, "paras")
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=30_000_000)
    ap.add_argument("--mode", default="multi_processing")
    args = ap.parse_args()
    base = ensure_corpus(200)
    folder = ensure_paragraphs(base)
    tok = ensure_tokenizer(load_texts(base)[:20000])
    sources = [
        {"name": fam, "paths": [f"{folder}/{fam}-*.jsonl.gz"]} for fam in ("code", "docs", "man")
    ]
    runs = {}
    for label, sampling in (
        ("all", {"mode": "all"}),
        (
            "budget",
            {
                "mode": "budget",
                "token_budget": args.budget,
                "mixture": {"code": 0.6, "docs": 0.1, "man": 0.3},
            },
        ),
    ):
        extra = {"input": {"sources": sources, "max_doc_bytes": 10_000_000}, "sampling": sampling}
        seconds, peak, cpu, manifest = run_curate(
            folder, tok, args.mode, os.cpu_count(), extra, tag=f"-s{label}"
        )
        runs[label] = (seconds, manifest)
        acc = manifest["accounting"]
        print(
            f"sampling {label:6s}: {seconds:6.1f}s  read {acc['read']:,}  written {acc['written']:,}  "
            f"sampled_out {acc['sampled_out']:,}  peak RSS {peak / 2**30:.2f} GB"
        )
    (t_all, _), (t_budget, _) = runs["all"], runs["budget"]
    with open(os.path.join(WORK, f"out-{args.mode}-sbudget", "stats.json")) as fh:
        report = json.load(fh)["sampling"]
    print(
        f"budget sampling adds {100 * (t_budget - t_all) / t_all:+.1f}% to the end-to-end time (target <= 15%)"
    )
    print(
        "per source:",
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


if __name__ == "__main__":
    main()
