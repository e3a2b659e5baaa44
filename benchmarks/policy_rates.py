"""Kept share per source under each built-in policy, on a demo corpus (not a speed benchmark).

What the web-text defaults do to code, docs and man pages, and what the `code` and `docs`
policies (quality/policies.py) keep instead: the first `--docs` documents of each source of a
`pipelines.demo_data` corpus, scored by `QualityStage` with the four heuristics (toxicity and
bias off: they never reject by default), each source under each policy.

    python -m pipelines.demo_data --out /tmp/classify-corpus --max-bytes 40MB
    python benchmarks/policy_rates.py --corpus /tmp/classify-corpus --docs 400
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
from collections import Counter

from quality.config import BiasConfig, QualityConfig, ToxicityConfig
from quality.policies import POLICIES
from quality.stage import QualityStage


def _texts(corpus: str, source: str, n: int) -> list[str]:
    out: list[str] = []
    for path in sorted(glob.glob(f"{corpus}/{source}-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                out.append(json.loads(line)["text"])
                if len(out) >= n:
                    return out
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--docs", type=int, default=400)
    args = ap.parse_args(argv)
    off = {"toxicity": ToxicityConfig(enabled=False), "bias": BiasConfig(enabled=False)}
    print(f"{'source':<6} {'policy':<6} {'kept':>6}  top rejection reasons")
    for source in ("code", "docs", "man"):
        texts = _texts(args.corpus, source, args.docs)
        for policy in POLICIES:
            stage = QualityStage(QualityConfig(default_policy=policy, **off))
            reasons = Counter(r.reason for r in stage.score_batch(texts))
            kept = reasons.pop(None, 0) / len(texts)
            top = ", ".join(f"{r} {n}" for r, n in reasons.most_common(3))
            print(f"{source:<6} {policy:<6} {kept:>6.1%}  {top}")


if __name__ == "__main__":
    main()
