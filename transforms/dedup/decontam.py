"""Eval-set decontamination: word n-grams shared with evaluation examples.

Choice: an exact set per eval set — a sorted uint64 array of 64-bit n-gram hashes — rather
than a Bloom filter. Eval sets are small (a million n-grams is 8 MB), so a Bloom filter would
save little memory but add false positives that flag training documents for nothing; with 64-bit
hashes an accidental match has probability ~n_doc_ngrams * n_eval_ngrams / 2^64 (< 1e-6 for a
whole corpus). Lookups are one vectorised `np.searchsorted` per document.

Words are normalized like the MinHash shingles (lowercase, punctuation is a separator), so a
benchmark question copied with other casing or punctuation is still found. Examples shorter than
`ngram` words but with at least `min_example_words` are matched whole (GPT-3, Brown et al. 2020,
appendix C: "we use n-grams of the example's length when shorter, down to 8").
"""

from __future__ import annotations

import glob
import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import numpy as np

from transforms.dedup.config import DecontaminationConfig, EvalSetConfig
from transforms.dedup.rolling import window_hashes
from transforms.dedup.shingles import Shingler


def _open_local(path: str) -> BinaryIO:
    return open(path, "rb")  # noqa: SIM115 - the caller closes it


def _glob_local(pattern: str) -> list[str]:
    return sorted(glob.glob(pattern))


def read_examples(
    spec: EvalSetConfig,
    opener: Callable[[str], BinaryIO] = _open_local,
    expand: Callable[[str], list[str]] = _glob_local,
) -> Iterator[str]:
    """Example texts of one eval set: every string field of each JSON line (or `fields`), or
    every non-empty line of a text file. `.gz` files are decompressed."""
    for pattern in spec.paths:
        for path in expand(pattern):
            with opener(path) as raw:
                fh = gzip.open(raw) if path.endswith(".gz") else raw  # noqa: SIM115
                is_json = path.removesuffix(".gz").endswith((".jsonl", ".json"))
                for line in fh:
                    line = line.decode("utf-8", "replace").strip()
                    if not line:
                        continue
                    if not is_json:
                        yield line
                        continue
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue  # a broken eval line is skipped, never fatal
                    if isinstance(obj, str):
                        yield obj
                    elif isinstance(obj, dict):
                        keys = spec.fields or list(obj)
                        yield from (obj[k] for k in keys if isinstance(obj.get(k), str))


class Decontaminator:
    """Counts a document's distinct word n-grams found in each eval set.

    Args:
        tables: eval set name -> {n-gram length: sorted unique uint64 n-gram hashes}.
        ngram: the main n-gram length.
        min_hits: hits that make a document contaminated for a set.
    """

    def __init__(self, tables: dict[str, dict[int, np.ndarray]], ngram: int, min_hits: int = 1):
        self.tables = tables
        self.ngram = ngram
        self.min_hits = min_hits
        self.lengths = sorted({n for t in tables.values() for n in t})
        self._shingler = Shingler(ngram, lowercase=True, strip_punct=True)

    @classmethod
    def from_texts(
        cls, examples: dict[str, Iterable[str]], ngram: int = 13, min_example_words: int = 8,
        min_hits: int = 1,
    ) -> Decontaminator:  # fmt: skip
        shingler = Shingler(ngram, lowercase=True, strip_punct=True)
        tables: dict[str, dict[int, np.ndarray]] = {}
        for name, texts in examples.items():
            grams: dict[int, list[np.ndarray]] = {}
            texts = list(texts)
            for start in range(0, len(texts), 256):
                words, offsets = shingler.word_hashes(texts[start : start + 256])
                for a, b in zip(offsets[:-1], offsets[1:], strict=True):
                    n_words = int(b - a)
                    if n_words < min_example_words:
                        continue
                    n = min(ngram, n_words)
                    grams.setdefault(n, []).append(window_hashes(words[a:b], n))
            tables[name] = {n: np.unique(np.concatenate(parts)) for n, parts in grams.items()}
        return cls(tables, ngram, min_hits)

    @classmethod
    def from_eval_sets(cls, cfg: DecontaminationConfig, **io) -> Decontaminator:
        """Reads every eval set of the config (`io`: opener/expand, see `read_examples`)."""
        examples = {spec.name: read_examples(spec, **io) for spec in cfg.eval_sets}
        return cls.from_texts(examples, cfg.ngram, cfg.min_example_words, cfg.min_hits)

    def n_ngrams(self) -> dict[str, int]:
        return {name: sum(len(a) for a in t.values()) for name, t in self.tables.items()}

    def scan(self, text: str) -> tuple[dict[str, int], int]:
        """(hits per eval set, number of distinct `ngram`-grams of the document)."""
        words, _ = self._shingler.word_hashes([text])
        hits = dict.fromkeys(self.tables, 0)
        n_doc = 0
        for n in self.lengths:
            grams = np.unique(window_hashes(words, n))
            if n == self.ngram:
                n_doc = len(grams)
            if len(grams) == 0:
                continue
            for name, table in self.tables.items():
                ref = table.get(n)
                if ref is None or len(ref) == 0:
                    continue
                pos = np.minimum(np.searchsorted(ref, grams), len(ref) - 1)
                hits[name] += int(np.count_nonzero(ref[pos] == grams))
        return hits, n_doc

    def hits(self, text: str) -> dict[str, int]:
        """Distinct n-grams of `text` found in each eval set (every set is a key)."""
        return self.scan(text)[0]
