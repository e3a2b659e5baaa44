"""Scoring cost per document: two source trees' scorers on the same texts, side by side.

Each tree runs in its own subprocess (PYTHONPATH = the tree), alternately, `--rounds` times; both
score the same normalized texts (the demo corpus by default: what `configs/demo.yaml` scores,
with its per-source policies) in batches of 256, as `ScoreAndFilter` does. Per run it reports
CPU seconds (`time.process_time`) of

- set-up: the imports and `QualityStage.load()` of a fresh process (what every worker pays
  once: models, lexicons; the toxicity model's scikit-learn import where a tree needs it);
- each scorer (its `prepare` and `compute_with_meta` calls; the shared per-document splits of
  `quality.text.TextView` are charged to the first scorer that reads them);
- the whole `score_batch` loop (scorers plus the stage's bookkeeping),

and a digest of every result (text, meta, reason, detail, verdicts), which must be equal for
the two trees: a faster scorer that changes one float or one decision is a bug. The toxicity
weights cache (`quality.toxicity_weights`) lives in a fresh folder: the first run of a tree
that uses it fills it (reported as "cold"), the later runs read it.

    python benchmarks/bench_scorer_cost.py --before /work/main --after . \\
        --corpus out/demo/demo_input --config configs/demo.yaml
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r"""
import json, sys, time
start = time.process_time()
import hashlib
from pipelines.config import load_config
from quality.stage import QualityStage

config, texts_path, out_path = sys.argv[1:4]
cfg = load_config(config)
data = json.load(open(texts_path))
texts, sources = data["texts"], data["sources"]
stage = QualityStage(cfg.quality)
for source in sorted(set(sources)):
    stage.scorers_for(source)
stage.load()
setup = time.process_time() - start
spent = {}

def timed(obj, method, key):
    inner = getattr(obj, method)

    def wrapper(*args, **kwargs):
        t0 = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + time.process_time() - t0

    setattr(obj, method, wrapper)

for scorer in [*stage._instances.values(), *stage.sections]:
    timed(scorer, "compute_with_meta", scorer.name)
    timed(scorer, "prepare", scorer.name)
digest = hashlib.sha256()
t0 = time.process_time()
for i in range(0, len(texts), 256):
    for r in stage.score_batch(texts[i : i + 256], sources[i : i + 256]):
        digest.update(repr((r.text, sorted(r.meta.items()), r.reason, r.detail,
                            sorted(r.verdicts.items()))).encode("utf-8", "surrogatepass"))
total = time.process_time() - t0
json.dump({"setup": setup, "total": total, "scorers": spent, "digest": digest.hexdigest(),
           "sklearn": "sklearn" in sys.modules}, open(out_path, "w"))
"""


def load_corpus(corpus: Path, config: str) -> tuple[list[str], list[str]]:
    """Normalized texts and their sources (the file family) of a demo-style JSONL.gz folder."""
    from pipelines.config import load_config
    from transforms.stages.normalize import Normalizer

    normalize = Normalizer.from_config(load_config(config).normalize)
    texts, sources = [], []
    for path in sorted(corpus.glob("*.jsonl.gz")):
        source = path.name.split("-")[0]
        try:
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        text = json.loads(line).get("text")
                    except (json.JSONDecodeError, AttributeError):
                        continue
                    if isinstance(text, str) and text:
                        texts.append(normalize(text))
                        sources.append(source)
        except EOFError:  # the demo's deliberately truncated file
            continue
    return texts, sources


def run_tree(tree: Path, config: str, texts_path: Path, cache: Path, python: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "PYTHONPATH": str(tree), "XDG_CACHE_HOME": str(cache)}
        cmd = [python, "-c", WORKER, str(tree / config), str(texts_path), out.name]
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{tree} failed:\n{proc.stderr[-3000:]}")
        return json.loads(Path(out.name).read_text())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", type=Path, required=True, help="source tree of the baseline")
    ap.add_argument("--after", type=Path, default=Path("."), help="source tree to compare")
    ap.add_argument("--corpus", type=Path, required=True, help="folder of *.jsonl.gz files")
    ap.add_argument("--config", default="configs/demo.yaml", help="relative to each tree")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)

    texts, sources = load_corpus(args.corpus, str(args.after / args.config))
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    print(f"input: {args.corpus}, {len(texts)} documents, {mb:.2f} MB (normalized)")
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        texts_path = Path(tmp) / "texts.json"
        texts_path.write_text(json.dumps({"texts": texts, "sources": sources}))
        cache = Path(tmp) / "cache"
        cold = {
            name: run_tree(tree, args.config, texts_path, cache, args.python)
            for name, tree in trees.items()
        }
        for _ in range(args.rounds):
            for name, tree in trees.items():
                runs[name].append(run_tree(tree, args.config, texts_path, cache, args.python))

    digests = {r["digest"] for rs in [*runs.values(), list(cold.values())] for r in rs}
    print(f"results identical across trees and runs: {len(digests) == 1}")
    for name in trees:
        print(
            f"{name}: cold-cache set-up {cold[name]['setup']:.2f} s CPU "
            f"(scikit-learn imported: {cold[name]['sklearn']}); "
            f"warm: scikit-learn imported: {runs[name][-1]['sklearn']}"
        )
    med = {
        name: {
            "setup": statistics.median(r["setup"] for r in rs),
            "total": statistics.median(r["total"] for r in rs),
            **{
                key: statistics.median(r["scorers"].get(key, 0.0) for r in rs)
                for key in rs[0]["scorers"]
            },
        }
        for name, rs in runs.items()
    }
    print(f"median of {args.rounds} alternating runs, CPU s per MB (CPU s)")
    print(f"{'':24s} {'before':>17s} {'after':>17s} {'after/before':>13s}")
    keys = [
        "setup",
        "total",
        *sorted(med["before"].keys() - {"setup", "total"}, key=lambda k: -med["before"][k]),
    ]
    for key in keys:
        b, a = med["before"].get(key, 0.0), med["after"].get(key, 0.0)
        ratio = f"{a / b:13.2f}" if b else f"{'':13s}"
        if key == "setup":
            print(f"{'set-up (s CPU)':24s} {b:17.2f} {a:17.2f} {ratio}")
        else:
            print(f"{key:24s} {b / mb:8.4f} ({b:6.2f}) {a / mb:8.4f} ({a:6.2f}) {ratio}")
    b = med["before"]["total"] + med["before"]["setup"]
    a = med["after"]["total"] + med["after"]["setup"]
    print(f"{'set-up + scoring':24s} {b:17.2f} {a:17.2f} {a / b:13.2f}")


if __name__ == "__main__":
    main()
