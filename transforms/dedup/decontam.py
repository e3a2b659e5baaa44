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
`DecontaminationConfig`): a document is contaminated when it holds a whole eval example, most of
one example, or a long shared passage (consecutive shared n-grams) that also covers a real share
of the document or of one example. Templates are no evidence: n-grams found in several distinct
examples of an eval set (known here, `EvalTable.common`), and n-grams common in the training
corpus (licence headers), which the caller counts over the corpus and passes to `judge`
(`transforms/dedup/decontam_beam.py`). Templated sentences a few documents share (a "For more
information see ..." line) are rarely longer than a paragraph, which the passage length rules out.
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
    of one example a document covers is found without a per-document structure. `common` holds
    the set's templates: n-grams found in at least `eval_common` distinct examples (identical
    examples count once, so a duplicated example is not a template of itself).
    """

    hashes: np.ndarray  # uint64, sorted, repeats across examples
    examples: np.ndarray  # int32, aligned with hashes
    sizes: np.ndarray  # int32 per example
    unique: np.ndarray  # uint64, sorted distinct hashes (the membership table)
    common: np.ndarray  # uint64, sorted: n-grams of `eval_common` or more distinct examples


class Matches(NamedTuple):
    """What one document shares with the eval sets (`Decontaminator.matches`).

    `positions[s]` are the start positions (in words) of the document's `ngram`-grams found in
    eval set s, in document order, and `grams[s]` their hashes: enough to find shared passages
    again after templates are left out, without the document's text.
    """

    found: dict  # eval set -> sorted distinct hashes of the document found in it (every length)
    n_doc: int  # distinct `ngram`-grams of the document
    positions: dict  # eval set -> int32 start positions of found `ngram`-grams, ascending
    grams: dict  # eval set -> uint64 hashes at those positions

    def only(self, names) -> Matches:
        """The same, restricted to the eval sets in `names`."""
        names = set(names)
        return Matches(
            {k: v for k, v in self.found.items() if k in names},
            self.n_doc,
            {k: v for k, v in self.positions.items() if k in names},
            {k: v for k, v in self.grams.items() if k in names},
        )


class Verdict(NamedTuple):
    """The evidence a document shares with one eval set."""

    hits: int  # distinct shared n-grams (templates left out)
    overlap: float  # max(share of the document's n-grams, share of one example's n-grams)
    whole: bool  # every n-gram of some eval example is in the document
    passage: int = 0  # words in the longest run of consecutive shared `ngram`-grams
    share: float = 0.0  # the largest share of one example's n-grams the document holds


def _table(parts: list[np.ndarray], eval_common: int = 0) -> EvalTable:
    empty = np.zeros(0, dtype=np.uint64)
    if not parts:
        return EvalTable(
            empty, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), empty, empty
        )
    examples = np.repeat(np.arange(len(parts), dtype=np.int32), [len(p) for p in parts])
    hashes = np.concatenate(parts)
    order = np.argsort(hashes, kind="stable")
    sizes = np.array([len(p) for p in parts], dtype=np.int32)
    common = empty
    if eval_common > 1:
        distinct = list({p.tobytes(): p for p in parts}.values())  # identical examples once
        grams, counts = np.unique(np.concatenate(distinct), return_counts=True)
        common = grams[counts >= eval_common]
    return EvalTable(hashes[order], examples[order], sizes, np.unique(hashes), common)


def _per_example(table: EvalTable, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(examples holding any of `found`, how many of `found` each holds)."""
    left = np.searchsorted(table.hashes, found, "left")
    counts = np.searchsorted(table.hashes, found, "right") - left
    # Every table entry of every found hash: the examples that hold it.
    starts = np.repeat(left - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    entries = starts + np.arange(int(counts.sum()))
    return np.unique(table.examples[entries], return_counts=True)


def longest_run(positions: np.ndarray) -> int:
    """The most consecutive integers in ascending `positions` (0 when empty)."""
    if len(positions) == 0:
        return 0
    breaks = np.flatnonzero(np.diff(positions) != 1)
    bounds = np.concatenate(([-1], breaks, [len(positions) - 1]))
    return int(np.max(np.diff(bounds)))


class Decontaminator:
    """Finds a document's word n-grams in each eval set and judges the evidence.

    Args:
        tables: eval set name -> its `EvalTable`.
        ngram: the main n-gram length.
        lengths: every n-gram length the tables hold (`ngram` and shorter whole examples).
        min_hits, min_overlap, min_passage_words, example_share: the rule (see
            `DecontaminationConfig`; the defaults here are GPT-3's: any shared n-gram).
    """

    def __init__(
        self, tables: dict[str, EvalTable], ngram: int, lengths: list[int],
        min_hits: int = 1, min_overlap: float = 0.0, min_passage_words: int = 0,
        example_share: float = 1.0,
    ) -> None:  # fmt: skip
        self.tables = tables
        self.ngram = ngram
        self.lengths = sorted(set(lengths) | {ngram})
        self.min_hits = min_hits
        self.min_overlap = min_overlap
        self.min_passage_words = min_passage_words
        self.example_share = example_share
        self._shingler = Shingler(ngram, lowercase=True, strip_punct=True)

    @classmethod
    def from_texts(
        cls, examples: dict[str, Iterable[str]], ngram: int = 13, min_example_words: int = 8,
        min_hits: int = 1, min_overlap: float = 0.0, min_passage_words: int = 0,
        example_share: float = 1.0, eval_common: int = 0,
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
            tables[name] = _table(parts, eval_common)
        return cls(
            tables, ngram, sorted(lengths), min_hits, min_overlap, min_passage_words, example_share
        )

    @classmethod
    def from_eval_sets(cls, cfg: DecontaminationConfig, **io) -> Decontaminator:
        """Reads every eval set of the config (`io`: opener/expand, see `read_examples`)."""
        examples = {spec.name: read_examples(spec, **io) for spec in cfg.eval_sets}
        return cls.from_texts(
            examples, cfg.ngram, cfg.min_example_words, cfg.min_hits, cfg.min_overlap,
            cfg.min_passage_words, cfg.example_share, cfg.eval_common,
        )  # fmt: skip

    def n_ngrams(self) -> dict[str, int]:
        return {name: len(t.unique) for name, t in self.tables.items()}

    def matches(self, text: str) -> Matches:
        """The document's n-grams found in each eval set (every set is a key)."""
        words, _ = self._shingler.word_hashes([text])
        grams = [window_hashes(words, n) for n in self.lengths]
        main = grams[self.lengths.index(self.ngram)]
        n_doc = len(np.unique(main))
        doc = np.unique(np.concatenate(grams)) if grams else np.zeros(0, dtype=np.uint64)
        found, positions, at = {}, {}, {}
        for name, table in self.tables.items():
            if len(doc) == 0 or len(table.unique) == 0:
                found[name], positions[name], at[name] = doc[:0], np.zeros(0, np.int32), doc[:0]
                continue
            pos = np.minimum(np.searchsorted(table.unique, doc), len(table.unique) - 1)
            found[name] = doc[table.unique[pos] == doc]
            where = np.flatnonzero(np.isin(main, found[name]))
            positions[name], at[name] = where.astype(np.int32), main[where]
        return Matches(found, n_doc, positions, at)

    def scan(self, text: str) -> tuple[dict[str, int], int]:
        """(hits per eval set, number of distinct `ngram`-grams of the document)."""
        m = self.matches(text)
        return {name: len(h) for name, h in m.found.items()}, m.n_doc

    def hits(self, text: str) -> dict[str, int]:
        """Distinct n-grams of `text` found in each eval set (every set is a key)."""
        return self.scan(text)[0]

    def verdict(self, name: str, m: Matches, common: np.ndarray | None = None) -> Verdict:
        """The evidence `m` holds for one eval set. `common` (sorted hashes, e.g. found in many
        training documents) is no evidence at all; the set's own templates (`EvalTable.common`)
        are no evidence either, but still count towards holding a whole example."""
        table = self.tables[name]
        found = m.found[name]
        if common is not None and len(common) and len(found):
            found = found[~np.isin(found, common, assume_unique=True)]
        if len(found) == 0:
            return Verdict(0, 0.0, False)
        ex, per_example = _per_example(table, found)
        whole = bool(np.any(per_example >= table.sizes[ex]))
        evidence = found
        if len(table.common):
            evidence = found[~np.isin(found, table.common, assume_unique=True)]
        if len(evidence) == 0:
            return Verdict(0, 0.0, whole)
        ex, per_example = _per_example(table, evidence)
        share = float(np.max(per_example / table.sizes[ex]))
        overlap = max(len(evidence) / max(1, m.n_doc), share)
        run = longest_run(m.positions[name][np.isin(m.grams[name], evidence)])
        passage = run + self.ngram - 1 if run else 0
        return Verdict(len(evidence), min(1.0, overlap), whole, passage, min(1.0, share))

    def contaminated(self, v: Verdict) -> bool:
        """The rule: a whole example; or `min_hits` shared n-grams that hold `example_share` of
        one example, or form a passage of `min_passage_words` words and cover `min_overlap`."""
        if v.whole:
            return True
        if v.hits < self.min_hits:
            return False
        passage = v.passage >= self.min_passage_words and v.overlap >= self.min_overlap
        return passage or v.share >= self.example_share

    def judge(self, m: Matches, common: np.ndarray | None = None) -> dict[str, Verdict]:
        """Eval sets the document is contaminated for -> their evidence (`common`: sorted hashes
        that are no evidence, e.g. found in many training documents)."""
        out = {}
        for name in sorted(m.found):
            v = self.verdict(name, m, common)
            if self.contaminated(v):
                out[name] = v
        return out
