"""What decontamination removes in an ablation's raw arm, without training anything.

Builds the ablation's split (reused when unchanged) and tokenizer like `curate ablate`, runs only
the raw arm's `curate run` (its config as `curate ablate` builds it, decontamination against the
held-out split) and lists every document it removed for decontamination, with the evidence: shared
13-grams (templates left out), overlap, the longest shared passage in words and its text, so each
removal can be judged by eye (benchmarks/RESULTS.md, issue 22).

    python -m benchmarks.bench_decontam --out /tmp/bench_decontam
    python -m benchmarks.bench_decontam --out /tmp/bench_decontam --tag before --set \\
        dedup.decontamination.min_passage_words=0 dedup.decontamination.example_share=1 \\
        dedup.decontamination.eval_common=0 dedup.decontamination.common_docs=5

`--set` takes curate `KEY=VALUE` overrides for the arm (the previous rule above).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import logging
import os
import time
from collections import Counter

import numpy as np


def _read(path: str) -> list[dict]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def evidence(cfg, train_paths: list[str], ids: set[str]) -> list[dict]:
    """The removed documents' evidence, recounted directly on the training split (normalized as
    the run does): the corpus-wide count of common n-grams, then each document's verdict."""
    from transforms.dedup.decontam import Decontaminator
    from transforms.dedup.shingles import reference_words
    from transforms.stages.normalize import Normalizer

    dcfg = cfg.dedup.decontamination
    dc = Decontaminator.from_eval_sets(dcfg)
    norm = Normalizer.from_config(cfg.normalize)
    docs = [(d["id"], norm(d["text"])) for p in train_paths for d in _read(p)]
    docs = [(i, t) for i, t in docs if t]
    matches = {i: dc.matches(t) for i, t in docs}
    df = Counter(int(h) for m in matches.values() for h in np.unique(np.concatenate(
        [v for v in m.found.values()] or [np.zeros(0, np.uint64)])))  # fmt: skip
    cap = dcfg.common_cap(len(docs)) if dcfg.counts_common else None
    common = np.array(sorted(h for h, k in df.items() if cap is not None and k > cap), np.uint64)
    out = []
    for doc_id, text in docs:
        if doc_id not in ids:
            continue
        m = matches[doc_id]
        verdicts = {s: dc.verdict(s, m, common) for s in sorted(m.found)}
        name = max(sorted(verdicts), key=lambda s: verdicts[s].passage)
        v = verdicts[name]
        table = dc.tables[name]
        keep = ~np.isin(m.grams[name], common) & ~np.isin(m.grams[name], table.common)
        pos = m.positions[name][keep]
        words = reference_words(text)
        best, start, run = (0, 0), 0, 0
        for k in range(len(pos)):
            run = run + 1 if k and pos[k] == pos[k - 1] + 1 else 1
            start = pos[k] - run + 1
            if run > best[0]:
                best = (run, start)
        passage = " ".join(words[best[1] : best[1] + best[0] + dcfg.ngram - 1]) if best[0] else ""
        out.append({"id": doc_id, "eval_set": name, "hits": v.hits, "overlap": round(v.overlap, 3),
                    "whole": v.whole, "passage_words": v.passage, "share": round(v.share, 3),
                    "contaminated": dc.contaminated(v), "passage": passage})  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/ablation_demo.yaml")
    ap.add_argument("--out", required=True, help="the ablation output folder (split, tokenizer)")
    ap.add_argument("--set", nargs="*", default=[], help="curate KEY=VALUE overrides for the arm")
    ap.add_argument("--arm", default="raw")
    ap.add_argument("--tag", default="", help="subfolder of OUT/decontam (default: the arm)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from pipelines.ablate import arms as arms_mod
    from pipelines.ablate.config import load_ablation_config
    from pipelines.ablate.run import Ablation
    from pipelines.run import run
    from train.typed_config import apply_overrides

    cfg = load_ablation_config(args.config, [f"output={args.out}"])
    ab = Ablation(cfg)
    ab.validate()
    ab.split()
    ab.tokenizer()
    arm = next(a for a in cfg.arms if a.name == args.arm)
    eval_sets = [{"name": "heldout", "paths": [ab.eval_path], "fields": ["text"]}, *ab.user_eval]
    tag = args.tag or args.arm
    output = os.path.join(args.out, "decontam", tag)
    data = arms_mod.arm_dict(ab.base, arm, output, ab.train_sources, ab.tokenizer_path,
                             eval_sets, cfg.holdout.ngram)  # fmt: skip
    apply_overrides(data, args.set)
    arm_cfg = arms_mod.build_arm(data, args.arm)
    t0 = time.time()
    manifest = run(arm_cfg)
    seconds = time.time() - t0
    removed = [
        r
        for path in sorted(glob.glob(os.path.join(output, "removed", "*.jsonl")))
        for r in _read(path)
        if r["stage"] == "decontamination"
    ]
    ids = {r["id"] for r in removed}
    train_paths = [p for s in ab.train_sources for p in s.paths]
    rows = sorted(evidence(arm_cfg, train_paths, ids), key=lambda r: r["id"])
    share = manifest.get("decontamination") or {}
    print(f"decontamination rule: {json.dumps(arm_cfg.to_dict()['dedup']['decontamination'])}")
    print(f"removed {len(removed)} of {share.get('read')} ({100 * share.get('share', 0):.2f}%) "
          f"in {seconds:.0f} s; by source {json.dumps(share.get('by_source'))}")  # fmt: skip
    for r in rows:
        print(f"- {r['id']}: {r['hits']} shared 13-grams, overlap {r['overlap']}, "
              f"longest passage {r['passage_words']} words: {r['passage'][:200]!r}")  # fmt: skip
    with open(os.path.join(args.out, "decontam", f"{tag}.json"), "w") as fh:
        json.dump({"removed": len(removed), "share": share, "documents": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
