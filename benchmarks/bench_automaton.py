"""Lexicon matching speed: the word-level phrase automaton vs a naive scan and a regex alternation.

A 5,000-term lexicon is generated from the corpus itself (seeded): single words of middling
frequency and two- or three-word phrases, so that terms really occur. Three matchers count
every occurrence of every term (whole tokens, case-insensitive):

- `automaton`: `quality.automaton.PhraseAutomaton.find(text)`, tokenization included;
- `naive`: per document, one `str.find` loop per term over the space-joined tokens;
- `regex`: one compiled alternation of all terms (longest first) with a lookahead, so it
  reports the longest term at each start position (its count is compared to the number of
  distinct start positions the automaton finds).

The automaton runs on the whole input; the two references on `--ref-mb` MB of documents spread
over the input (they are slow), where all three must agree. MB/s are per core: bytes of UTF-8 text / process CPU time.

    python benchmarks/bench_automaton.py --corpus /tmp/curate-bench-corpus --mb 100
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

from quality.automaton import PhraseAutomaton
from quality.text import word_tokens


def load_texts(corpus: Path, max_bytes: int) -> list[str]:
    """Texts of the corpus JSONL.gz files, in sorted file order, up to max_bytes of UTF-8."""
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


def spread_sample(texts: list[str], max_bytes: int) -> list[str]:
    """Documents at evenly spaced positions (every family of the corpus), up to max_bytes."""
    step = max(1, round(sum(len(t.encode()) for t in texts) / max_bytes))
    out, total = [], 0
    for text in texts[::step]:
        if total >= max_bytes:
            break
        out.append(text)
        total += len(text.encode())
    return out


def ensure_corpus(corpus: Path, mb: int) -> None:
    if not any(corpus.glob("*.jsonl.gz")):
        from pipelines.demo_data import build_corpus

        print(f"building {mb} MB demo corpus in {corpus} ...", file=sys.stderr)
        build_corpus(corpus, max_bytes=mb << 20, seed=0)


def make_lexicon(texts: list[str], n_terms: int, seed: int) -> list[str]:
    """n_terms distinct terms: 80% words of rank 200..20200, 20% 2-3 word phrases from the text."""
    rng = random.Random(seed)
    sample = [word_tokens(t) for t in texts[:2000]]
    counts = Counter(tok for toks in sample for tok in toks)
    vocab = sorted(w for w, _ in counts.most_common(20_200)[200:])
    terms: set[str] = set()
    while len(terms) < int(n_terms * 0.8):
        terms.add(rng.choice(vocab))
    while len(terms) < n_terms:
        toks = rng.choice(sample)
        n = rng.choice((2, 3))
        if len(toks) > n:
            i = rng.randrange(len(toks) - n)
            terms.add(" ".join(toks[i : i + n]))
    return sorted(terms)


def naive_count(terms: list[str], text: str) -> int:
    joined = " " + " ".join(word_tokens(text)) + " "
    total = 0
    for term in terms:
        needle = f" {term} "
        i = joined.find(needle)
        while i >= 0:
            total += 1
            i = joined.find(needle, i + 1)
    return total


def regex_for(terms: list[str]) -> re.Pattern:
    parts = [
        r"\W+".join(map(re.escape, t.split())) for t in sorted(terms, key=lambda t: (-len(t), t))
    ]
    return re.compile(r"(?<!\w)(?=(?:" + "|".join(parts) + r")(?!\w))", re.I)


def timed(fn, texts: list[str]) -> tuple[float, int]:
    start = time.process_time()
    total = sum(fn(t) for t in texts)
    return time.process_time() - start, total


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/curate-bench-corpus"))
    ap.add_argument("--mb", type=int, default=100, help="MB of text for the automaton")
    ap.add_argument("--ref-mb", type=float, default=1, help="MB for the naive and regex references")
    ap.add_argument("--terms", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    ensure_corpus(args.corpus, max(args.mb + 10, 110))
    texts = load_texts(args.corpus, args.mb << 20)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    terms = make_lexicon(texts, args.terms, args.seed)
    start = time.process_time()
    automaton = PhraseAutomaton((t, t) for t in terms)
    build_s = time.process_time() - start
    print(
        f"input: {len(texts)} documents, {mb:.1f} MB; lexicon: {len(terms)} terms "
        f"({sum(' ' in t for t in terms)} phrases); automaton built in {build_s * 1000:.0f} ms"
    )

    secs, matches = timed(lambda t: len(automaton.find(t)), texts)
    auto_rate = mb / secs
    print(f"automaton   {auto_rate:8.2f} MB/s per core  ({matches} matches, {secs:.1f} s CPU)")

    ref = spread_sample(texts, int(args.ref_mb * (1 << 20)))
    ref_mb = sum(len(t.encode()) for t in ref) / 1e6
    a_secs, a_matches = timed(lambda t: len(automaton.find(t)), ref)
    starts = sum(len({m[0] for m in automaton.find(t)}) for t in ref)
    n_secs, n_matches = timed(lambda t: naive_count(terms, t), ref)
    pattern = regex_for(terms)
    r_secs, r_starts = timed(lambda t: sum(1 for _ in pattern.finditer(t)), ref)
    print(f"on {len(ref)} documents spread over the input, {ref_mb:.2f} MB:")
    print(f"  automaton {ref_mb / a_secs:8.2f} MB/s  matches={a_matches} starts={starts}")
    print(
        f"  naive     {ref_mb / n_secs:8.2f} MB/s  matches={n_matches}  (agrees: {n_matches == a_matches})"
    )
    print(
        f"  regex     {ref_mb / r_secs:8.2f} MB/s  starts={r_starts}  (agrees: {r_starts == starts})"
    )
    print(
        f"ratio automaton/naive: {n_secs / a_secs:.1f}x, automaton/regex: {r_secs / a_secs:.1f}x; "
        f"target >= 20 MB/s per core: {'met' if auto_rate >= 20 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
