"""Scoring-stage speed per core: curate's scorers vs datatrove's Gopher/C4/FineWeb filters.

Both sides read the same JSONL.gz files (the demo corpus, built if missing: Python sources,
docs, man pages) and run in one process each; MB/s = UTF-8 bytes / process CPU time.

- curate, `heuristics`: the four scorers (gopher_quality_v1, gopher_repetition_v1, c4_v1,
  fineweb_v1) through `QualityStage`, every feature of every document, batches of 256 — the
  same work as the peer;
- curate, `full stage`: the same plus PII redaction, toxicity (alt-profanity-check on windows),
  identity lexicons and the decision, i.e. everything `ScoreAndFilter` runs per record;
- datatrove: `GopherQualityFilter`, `GopherRepetitionFilter`, `C4QualityFilter`,
  `FineWebQualityFilter` with default arguments, each applied to every document (a fresh
  `Document` each, since C4 rewrites text), in a subprocess of the separate venv
  /work/benchvenv-datatrove (`python -m venv ... && pip install datatrove spacy
  xxhash==3.4.2 regex tokenizers orjson`: datatrove 0.10.1 imports the last three without
  declaring them); datatrove caches the spaCy word split of a text, so the filters of one
  document share it. It runs twice: as shipped (words = spaCy tokens, punctuation included),
  and with its word splitter replaced by whitespace splitting (`WordTokenizer.word_tokenize`
  patched to `str.split`; spaCy still splits sentences for C4). The first ratio mixes
  implementation speed with a costlier word definition; the second compares implementations
  of (nearly) the same definition, the one curate follows (the Gopher paper's whitespace words).

It also prints, under both word splitters, how often each pair of filters agrees on
keep/reject (definitions differ in details documented in `quality/scorers/`).

    python benchmarks/bench_scoring.py --corpus /tmp/curate-bench-corpus
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from quality.config import BiasConfig, PiiConfig, QualityConfig, ScorerConfig, ToxicityConfig
from quality.stage import QualityStage

DATATROVE_PYTHON = "/work/benchvenv-datatrove/bin/python"
PAIRS = [
    ("gopher_quality_v1", "GopherQualityFilter"),
    ("gopher_repetition_v1", "GopherRepetitionFilter"),
    ("c4_v1", "C4QualityFilter"),
    ("fineweb_v1", "FineWebQualityFilter"),
]

PEER = r"""
import gzip, json, sys, time
from pathlib import Path
from datatrove.data import Document
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter,
    GopherQualityFilter, GopherRepetitionFilter)

corpus, max_bytes, out, words = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
if words == "whitespace":
    # Every filter gets its words from split_into_words -> load_word_tokenizer(lang)
    # .word_tokenize (spaCy for English); replace that one method by str.split (the Gopher
    # paper's whitespace words) and keep spaCy's sentence splitting (C4 counts sentences).
    import datatrove.utils.word_tokenizers as wt
    _load, _cache = wt.load_word_tokenizer, {}

    class _Whitespace(wt.WordTokenizer):
        def __init__(self, inner):
            super().__init__(inner.language)
            self.inner = inner

        def word_tokenize(self, text):
            return text.split()

        def sent_tokenize(self, text):
            return self.inner.sent_tokenize(text)

        def span_tokenize(self, text):
            return self.inner.span_tokenize(text)

    def _load_whitespace(language):
        if language not in _cache:
            _cache[language] = _Whitespace(_load(language))
        return _cache[language]

    wt.load_word_tokenizer = _load_whitespace
texts, total = [], 0
for path in sorted(corpus.glob("*.jsonl.gz")):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            try:
                text = json.loads(line).get("text")
            except (json.JSONDecodeError, AttributeError):
                continue
            if isinstance(text, str) and text:
                texts.append(text); total += len(text.encode())
                if total >= max_bytes: break
    if total >= max_bytes: break
filters = [GopherQualityFilter(), GopherRepetitionFilter(), C4QualityFilter(), FineWebQualityFilter()]
for f in filters:  # loads spaCy (words or sentences) before any timing, in both modes
    f.filter(Document(text="Warm up the tokenizer once. It loads lazily.", id="w"))
secs = [0.0] * len(filters)
keep = []
for i, text in enumerate(texts):
    row = []
    for k, f in enumerate(filters):
        start = time.process_time()
        res = f.filter(Document(text=text, id=str(i)))
        secs[k] += time.process_time() - start
        row.append(bool(res[0] if isinstance(res, tuple) else res))
    keep.append(row)
json.dump({"docs": len(texts), "bytes": total, "secs": secs,
           "names": [type(f).__name__ for f in filters], "keep": keep}, open(out, "w"))
"""


def load_texts(corpus: Path, max_bytes: int) -> list[str]:
    """Texts of the corpus JSONL.gz files in sorted file order, up to max_bytes (as the peer)."""
    texts, total = [], 0
    for path in sorted(corpus.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                try:
                    text = json.loads(line).get("text")
                except (json.JSONDecodeError, AttributeError):
                    continue
                if isinstance(text, str) and text:
                    texts.append(text)
                    total += len(text.encode())
                    if total >= max_bytes:
                        return texts
    return texts


def ensure_corpus(corpus: Path, mb: int) -> None:
    if not any(corpus.glob("*.jsonl.gz")):
        from pipelines.demo_data import build_corpus

        print(f"building a {mb} MB demo corpus in {corpus} ...", file=sys.stderr)
        build_corpus(corpus, max_bytes=mb << 20, seed=0)


def run_curate(texts: list[str], cfg: QualityConfig, batch: int = 256) -> tuple[float, list]:
    stage = QualityStage(cfg).load()  # model loading is not timed: once per worker
    results = []
    start = time.process_time()
    for i in range(0, len(texts), batch):
        results.extend(stage.score_batch(texts[i : i + batch]))
    return time.process_time() - start, results


def run_peer(python: str, corpus: Path, max_bytes: int, words: str) -> dict:
    """datatrove's four filters in its own venv; words = "spacy" (its default) or "whitespace"."""
    with tempfile.TemporaryDirectory() as tmp:
        script, out = Path(tmp) / "peer.py", Path(tmp) / "peer.json"
        script.write_text(PEER)
        cmd = [python, str(script), str(corpus), str(max_bytes), str(out), words]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"datatrove run failed:\n{proc.stderr[-3000:]}")
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/curate-bench-corpus"))
    ap.add_argument(
        "--mb",
        type=int,
        default=110,
        help="MB of text to score; files load in sorted order (code, docs, man), so a value "
        "below the corpus size leaves the last families out",
    )
    ap.add_argument(
        "--peer-mb", type=int, default=None, help="MB for datatrove (default: same as --mb)"
    )
    ap.add_argument("--datatrove-python", default=DATATROVE_PYTHON)
    args = ap.parse_args(argv)

    ensure_corpus(args.corpus, max(args.mb + 10, 120))
    texts = load_texts(args.corpus, args.mb << 20)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"input: {args.corpus}, {len(texts)} documents, {mb:.1f} MB")

    heuristics = QualityConfig(
        scorers=[ScorerConfig(name, action="score_only") for name, _ in PAIRS],
        toxicity=ToxicityConfig(enabled=False),
        bias=BiasConfig(enabled=False),
        pii=PiiConfig(enabled=False),
    )
    h_secs, h_results = run_curate(texts, heuristics)
    f_secs, _ = run_curate(texts, QualityConfig())
    one_secs = {}  # each scorer alone, for the per-filter ratios
    for name, _ in PAIRS:
        one = QualityConfig(
            scorers=[ScorerConfig(name, action="score_only")],
            toxicity=ToxicityConfig(enabled=False),
            bias=BiasConfig(enabled=False),
            pii=PiiConfig(enabled=False),
        )
        one_secs[name] = run_curate(texts, one)[0]
    print(f"curate heuristics (4 scorers)   {mb / h_secs:8.2f} MB/s per core ({h_secs:.1f} s CPU)")
    print(
        f"curate full stage (+pii/tox/bias) {mb / f_secs:6.2f} MB/s per core ({f_secs:.1f} s CPU)"
    )
    print("curate each scorer alone:", ", ".join(f"{n} {mb / s:.2f}" for n, s in one_secs.items()))

    peer_mb = args.peer_mb or args.mb
    for words in ("spacy", "whitespace"):
        peer = run_peer(args.datatrove_python, args.corpus, peer_mb << 20, words)
        p_mb, p_secs = peer["bytes"] / 1e6, sum(peer["secs"])
        per = ", ".join(
            f"{n} {p_mb / s:.2f}" for n, s in zip(peer["names"], peer["secs"], strict=True)
        )
        label = "spaCy words (default)" if words == "spacy" else "whitespace words"
        print(
            f"datatrove 4 filters, {label:21s} {p_mb / p_secs:6.2f} MB/s per core "
            f"({p_secs:.1f} s CPU on {p_mb:.1f} MB; {per})"
        )
        print(
            f"  ratio curate/datatrove [{words}]: heuristics {(mb / h_secs) / (p_mb / p_secs):.1f}x, "
            f"full stage {(mb / f_secs) / (p_mb / p_secs):.1f}x (target >= 2x)"
        )
        print(
            f"  per filter [{words}]: "
            + ", ".join(
                f"{ours} {(mb / one_secs[ours]) / (p_mb / s):.1f}x"
                for (ours, _), s in zip(PAIRS, peer["secs"], strict=True)
            )
        )
        n = peer["docs"]
        for k, (ours, theirs) in enumerate(PAIRS):
            same = sum((h_results[i].verdicts[ours] == "") == peer["keep"][i][k] for i in range(n))
            kept_ours = sum(h_results[i].verdicts[ours] == "" for i in range(n))
            kept_peer = sum(peer["keep"][i][k] for i in range(n))
            print(
                f"  agreement [{words}] {ours:22s} vs {theirs:24s} {same / n:6.1%}  "
                f"(kept: ours {kept_ours}, datatrove {kept_peer}, of {n})"
            )


if __name__ == "__main__":
    main()
