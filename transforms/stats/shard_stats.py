"""`ShardStats`: every final-corpus statistic, accumulated one Arrow table at a time.

The shard writer calls `add_table` on each shard it writes and emits the accumulator; a Beam
combiner merges them (`transforms.stats.beam_combiners.MergeShardStats`). Every part merges so that the
result does not depend on how shards were grouped or in what order they were merged:

- token frequencies: exact counts per id (addition);
- lengths (chars, tokens) and score columns: fixed-bin quantile sketches (addition);
- distinct documents (by content hash) and distinct n-grams: HyperLogLog++ (register max);
- top n-grams: Misra-Gries candidates ranked by a Count-Min sketch (see heavy_hitters: identical
  across partitionings whenever Count-Min errors stay within their stated bound);
- per-source counts: exact (addition).

Memory is fixed by the configuration and the vocabulary, except the per-source table and the
per-score-column sketches, which grow with the number of sources and score columns (a handful).
The state is numpy arrays and small dicts: it pickles to a few hundred KB.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quality.report_config import StatsConfig
from transforms.stats.distinct import DistinctCounter
from transforms.stats.hashing import hash_bytes, hash_strings
from transforms.stats.heavy_hitters import HeavyHitters
from transforms.stats.ngrams import batch_ngrams
from transforms.stats.quantiles import LinearBinQuantiles, LogBinQuantiles
from transforms.stats.token_counts import TokenFrequencies

NON_SCORE_COLUMNS = {"id", "source", "input_ids", "n_tokens", "dedup_cluster", "text"}


class ShardStats:
    """Mergeable statistics of a set of shard tables (see module doc)."""

    def __init__(self, cfg: StatsConfig, vocab_size: int) -> None:
        self.cfg = cfg
        self.vocab_size = vocab_size
        self.docs = 0
        self.docs_with_text = 0
        self.total_tokens = 0  # sum of n_tokens
        self.total_chars = 0
        self.tokens = TokenFrequencies(vocab_size)
        self.chars = LogBinQuantiles(cfg.relative_error)
        self.lengths = LogBinQuantiles(cfg.relative_error)
        self.scores: dict[str, LinearBinQuantiles | LogBinQuantiles] = {}
        self.distinct_docs = DistinctCounter(cfg.hll_precision)
        self.distinct_ngrams = DistinctCounter(cfg.hll_precision)
        self.ngrams = HeavyHitters(cfg.ngram_capacity, cfg.ngram_cms_depth)
        self.sources: dict[str, dict[str, int]] = {}

    def add_table(self, table: pa.Table) -> None:
        """Adds one shard's rows (columns as in the shard schema; `text` may be absent or null)."""
        if table.num_rows == 0:
            return
        self.docs += table.num_rows
        ids = table.column("input_ids").combine_chunks()
        self.tokens.add(pc.list_flatten(ids).to_numpy(zero_copy_only=False))
        n_tokens = pc.fill_null(table.column("n_tokens"), 0).to_numpy().astype(np.int64)
        self.lengths.add(n_tokens)
        self.total_tokens += int(n_tokens.sum())
        text = table.column("text").combine_chunks() if "text" in table.column_names else None
        chars = self._add_text(text, table.num_rows)
        self.distinct_docs.add_hashes(_content_hashes(text, ids))
        for field in table.schema:
            if field.name not in NON_SCORE_COLUMNS and pa.types.is_floating(field.type):
                sketch = self.scores.get(field.name)
                if sketch is None:
                    sketch = self.scores[field.name] = self._score_sketch(field.name)
                sketch.add(table.column(field.name).to_numpy(zero_copy_only=False))
        self._add_sources(table.column("source").to_pylist(), n_tokens, chars)

    def _score_sketch(self, name: str) -> LinearBinQuantiles | LogBinQuantiles:
        """Unit scores: linear bins on [0, 1]; other float columns: log bins (any range)."""
        if name in self.cfg.unit_score_columns:
            return LinearBinQuantiles(self.cfg.score_bins)
        return LogBinQuantiles(self.cfg.relative_error)

    def _add_text(self, text: pa.Array | None, rows: int) -> np.ndarray:
        """Char lengths and n-grams of the rows that have text; returns chars per row (0: none)."""
        if text is None or text.null_count == rows:
            return np.zeros(rows, dtype=np.int64)
        chars = pc.utf8_length(text).fill_null(0).to_numpy().astype(np.int64)
        valid = text.is_valid().to_numpy(zero_copy_only=False)
        self.docs_with_text += int(valid.sum())
        self.chars.add(chars[valid])
        self.total_chars += int(chars.sum())
        grams = batch_ngrams(text, self.cfg.ngram_n, self.cfg.ngram_lowercase)
        self.distinct_ngrams.add_hashes(grams.hashes)
        self.ngrams.add_unique(grams.hashes, grams.counts, grams.labels)
        return chars

    def _add_sources(self, sources: list, n_tokens: np.ndarray, chars: np.ndarray) -> None:
        names = ["" if s is None else str(s) for s in sources]
        uniq, inverse = np.unique(np.array(names, dtype=object), return_inverse=True)
        docs = np.bincount(inverse, minlength=uniq.size)
        toks = np.bincount(inverse, weights=n_tokens, minlength=uniq.size)
        chs = np.bincount(inverse, weights=chars, minlength=uniq.size)
        for i, name in enumerate(uniq.tolist()):
            row = self.sources.setdefault(name, {"docs": 0, "tokens": 0, "chars": 0})
            row["docs"] += int(docs[i])
            row["tokens"] += int(toks[i])
            row["chars"] += int(chs[i])

    def merge(self, other: ShardStats) -> ShardStats:
        """Merges `other` into this accumulator (in place; `other` is not modified); returns self."""
        if other.vocab_size != self.vocab_size:
            raise ValueError(f"vocab sizes differ: {other.vocab_size} vs {self.vocab_size}")
        self.docs += other.docs
        self.docs_with_text += other.docs_with_text
        self.total_tokens += other.total_tokens
        self.total_chars += other.total_chars
        self.tokens.merge(other.tokens)
        self.chars.merge(other.chars)
        self.lengths.merge(other.lengths)
        for name, sketch in other.scores.items():
            mine = self.scores.get(name) or self.scores.setdefault(name, self._score_sketch(name))
            mine.merge(sketch)
        self.distinct_docs.merge(other.distinct_docs)
        self.distinct_ngrams.merge(other.distinct_ngrams)
        self.ngrams.merge(other.ngrams)
        for name, row in other.sources.items():
            mine = self.sources.setdefault(name, {"docs": 0, "tokens": 0, "chars": 0})
            for key, value in row.items():
                mine[key] += value
        return self

    @classmethod
    def merge_all(cls, cfg: StatsConfig, vocab_size: int, parts: list[ShardStats]) -> ShardStats:
        """A new accumulator holding the merge of `parts` (which are left untouched)."""
        out = cls(cfg, vocab_size)
        for part in parts:
            out.merge(part)
        return out

    def to_json(self) -> dict:
        """The JSON-ready statistics (stats.json["corpus"])."""
        cfg = self.cfg
        qs, bins = list(cfg.quantiles), cfg.histogram_bins
        hh = self.ngrams
        return {
            "docs": self.docs,
            "docs_with_text": self.docs_with_text,
            "tokens": self.total_tokens,
            "chars": self.total_chars,
            "sources": {k: dict(self.sources[k]) for k in sorted(self.sources)},
            "lengths": {
                "chars": self.chars.summary(qs, bins, log=True),
                "tokens": self.lengths.summary(qs, bins, log=True),
                "relative_error": cfg.relative_error,
            },
            "scores": {
                name: _score_json(self.scores[name], qs, bins) for name in sorted(self.scores)
            },
            "token_frequencies": self.tokens.to_json(cfg.top_k),
            "ngrams": {
                "n": cfg.ngram_n,
                "lowercase": cfg.ngram_lowercase,
                "total": hh.cms.total,
                "capacity": cfg.ngram_capacity,
                "cms_width": hh.cms.width,
                "cms_depth": hh.cms.depth,
                "count_error_bound": round(hh.cms.error_bound, 3),
                "report_threshold": round(hh.threshold, 3),
                "top": [[label, count] for label, count in hh.top(cfg.top_k)],
            },
            "distinct": {
                "documents": self.distinct_docs.count(),
                "ngrams": self.distinct_ngrams.count(),
                "hll_precision": cfg.hll_precision,
                "relative_error": round(self.distinct_docs.relative_error, 5),
            },
        }


def _score_json(sketch: LinearBinQuantiles | LogBinQuantiles, qs: list[float], bins: int) -> dict:
    """Summary of one float column, saying which sketch (and error bound) produced it."""
    if isinstance(sketch, LinearBinQuantiles):
        return {
            **sketch.summary(qs, bins, log=False),
            "kind": "unit",
            "absolute_error": sketch.absolute_error,
        }
    wide = (
        sketch.count and sketch.min > 0 and sketch.max > 100 * sketch.min
    )  # log axis reads better
    return {
        **sketch.summary(qs, bins, log=bool(wide)),
        "kind": "log",
        "relative_error": sketch.relative_error,
    }


def _content_hashes(text: pa.Array | None, input_ids: pa.Array) -> np.ndarray:
    """One hash per row: of the text when present, else of the token ids (same as validation)."""
    texts = text.to_pylist() if text is not None else [None] * len(input_ids)
    offsets = input_ids.offsets.to_numpy()
    values = input_ids.values.to_numpy(zero_copy_only=False).astype(np.int32)  # offsets index it
    out = np.empty(len(texts), dtype=np.uint64)
    missing = [i for i, t in enumerate(texts) if t is None]
    present = [i for i, t in enumerate(texts) if t is not None]
    if present:
        out[present] = hash_strings([texts[i] for i in present])
    for i in missing:
        chunk = values[offsets[i] : offsets[i + 1]]
        out[i] = hash_bytes(chunk.tobytes(), seed=1)
    return out
