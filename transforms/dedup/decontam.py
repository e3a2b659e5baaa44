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

Shared n-grams are evidence, not a verdict (`Decontaminator.judge`, the rule in
`DecontaminationConfig`): a document is contaminated when it holds a whole eval example, or
enough distinct shared n-grams that also cover a real share of the document or of one example.
N-grams common in the training corpus (licence headers, templates) are left out of the evidence
by the caller, which counts them over the corpus (`transforms/dedup/decontam_beam.py`).
"""

from __future__ import annotations

import glob
import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, NamedTuple

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


class EvalTable(NamedTuple):
    """One eval set's n-grams (every length in one array: `window_hashes` folds the length in).

    `hashes` is sorted and holds each n-gram once per example it occurs in, `examples` the
    example index of each entry and `sizes` each example's distinct n-gram count, so the share
    of one example a document covers is found without a per-document structure.
    """

    hashes: np.ndarray  # uint64, sorted, repeats across examples
    examples: np.ndarray  # int32, aligned with hashes
    sizes: np.ndarray  # int32 per example
    unique: np.ndarray  # uint64, sorted distinct hashes (the membership table)


class Verdict(NamedTuple):
    """The evidence a document shares with one eval set."""

    hits: int  # distinct shared n-grams (common ones left out)
    overlap: float  # max(share of the document's n-grams, share of one example's n-grams)
    whole: bool  # every n-gram of some eval example is in the document


def _table(parts: list[np.ndarray]) -> EvalTable:
    if not parts:
        empty = np.zeros(0, dtype=np.uint64)
        return EvalTable(empty, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), empty)
    examples = np.repeat(np.arange(len(parts), dtype=np.int32), [len(p) for p in parts])
    hashes = np.concatenate(parts)
    order = np.argsort(hashes, kind="stable")
    sizes = np.array([len(p) for p in parts], dtype=np.int32)
    return EvalTable(hashes[order], examples[order], sizes, np.unique(hashes))


class Decontaminator:
    """Finds a document's word n-grams in each eval set and judges the evidence.

    Args:
        tables: eval set name -> its `EvalTable`.
        ngram: the main n-gram length.
        lengths: every n-gram length the tables hold (`ngram` and shorter whole examples).
        min_hits, min_overlap: the rule (see `DecontaminationConfig`).
    """

    def __init__(
        self, tables: dict[str, EvalTable], ngram: int, lengths: list[int],
        min_hits: int = 1, min_overlap: float = 0.0,
    ) -> None:  # fmt: skip
        self.tables = tables
        self.ngram = ngram
        self.lengths = sorted(set(lengths) | {ngram})
        self.min_hits = min_hits
        self.min_overlap = min_overlap
        self._shingler = Shingler(ngram, lowercase=True, strip_punct=True)

    @classmethod
    def from_texts(
        cls, examples: dict[str, Iterable[str]], ngram: int = 13, min_example_words: int = 8,
        min_hits: int = 1, min_overlap: float = 0.0,
    ) -> Decontaminator:  # fmt: skip
        shingler = Shingler(ngram, lowercase=True, strip_punct=True)
        tables: dict[str, EvalTable] = {}
        lengths: set[int] = set()
        for name, texts in examples.items():
            parts: list[np.ndarray] = []
            texts = list(texts)
            for start in range(0, len(texts), 256):
                words, offsets = shingler.word_hashes(texts[start : start + 256])
                for a, b in zip(offsets[:-1], offsets[1:], strict=True):
                    n_words = int(b - a)
                    if n_words < min_example_words:
                        continue
                    n = min(ngram, n_words)
                    lengths.add(n)
                    parts.append(np.unique(window_hashes(words[a:b], n)))
            tables[name] = _table(parts)
        return cls(tables, ngram, sorted(lengths), min_hits, min_overlap)

    @classmethod
    def from_eval_sets(cls, cfg: DecontaminationConfig, **io) -> Decontaminator:
        """Reads every eval set of the config (`io`: opener/expand, see `read_examples`)."""
        examples = {spec.name: read_examples(spec, **io) for spec in cfg.eval_sets}
        return cls.from_texts(
            examples, cfg.ngram, cfg.min_example_words, cfg.min_hits, cfg.min_overlap
        )

    def n_ngrams(self) -> dict[str, int]:
        return {name: len(t.unique) for name, t in self.tables.items()}

    def matches(self, text: str) -> tuple[dict[str, np.ndarray], int]:
        """(eval set -> sorted distinct n-gram hashes of `text` found in it, number of distinct
        `ngram`-grams of the document)."""
        words, _ = self._shingler.word_hashes([text])
        grams = [np.unique(window_hashes(words, n)) for n in self.lengths]
        n_doc = len(grams[self.lengths.index(self.ngram)])
        doc = np.unique(np.concatenate(grams)) if grams else np.zeros(0, dtype=np.uint64)
        found = {}
        for name, table in self.tables.items():
            if len(doc) == 0 or len(table.unique) == 0:
                found[name] = doc[:0]
                continue
            pos = np.minimum(np.searchsorted(table.unique, doc), len(table.unique) - 1)
            found[name] = doc[table.unique[pos] == doc]
        return found, n_doc

    def scan(self, text: str) -> tuple[dict[str, int], int]:
        """(hits per eval set, number of distinct `ngram`-grams of the document)."""
        found, n_doc = self.matches(text)
        return {name: len(h) for name, h in found.items()}, n_doc

    def hits(self, text: str) -> dict[str, int]:
        """Distinct n-grams of `text` found in each eval set (every set is a key)."""
        return self.scan(text)[0]

    def verdict(self, name: str, found: np.ndarray, n_doc: int) -> Verdict:
        """The evidence of `found` (shared hashes, common ones already left out) for one set."""
        table = self.tables[name]
        if len(found) == 0:
            return Verdict(0, 0.0, False)
        left = np.searchsorted(table.hashes, found, "left")
        counts = np.searchsorted(table.hashes, found, "right") - left
        # Every table entry of every found hash: the examples that hold it.
        starts = np.repeat(left - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        entries = starts + np.arange(int(counts.sum()))
        ex, per_example = np.unique(table.examples[entries], return_counts=True)
        sizes = table.sizes[ex]
        whole = bool(np.any(per_example >= sizes))
        overlap = max(len(found) / max(1, n_doc), float(np.max(per_example / sizes)))
        return Verdict(len(found), min(1.0, overlap), whole)

    def contaminated(self, v: Verdict) -> bool:
        """The rule: a whole example, or `min_hits` shared n-grams covering `min_overlap`."""
        return v.whole or (v.hits >= self.min_hits and v.overlap >= self.min_overlap)

    def judge(
        self, found: dict[str, np.ndarray], n_doc: int, common: np.ndarray | None = None
    ) -> dict[str, Verdict]:
        """Eval sets the document is contaminated for -> their evidence (`common`: sorted hashes
        that are no evidence, e.g. found in many training documents)."""
        out = {}
        for name in sorted(found):
            hashes = found[name]
            if common is not None and len(common) and len(hashes):
                hashes = hashes[~np.isin(hashes, common, assume_unique=True)]
            v = self.verdict(name, hashes, n_doc)
            if self.contaminated(v):
                out[name] = v
        return out
