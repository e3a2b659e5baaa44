"""The one record type that flows through every curation transform.

A `Record` is a `NamedTuple` of (id, text, source, meta). `meta` is a flat dict of scores and
annotations (str -> float | int | str | bool | list). We give it an explicit coder that encodes the
four fields as a plain tuple with Beam's Cython `FastPrimitivesCoder`: without it Beam would fall
back to pickling the NamedTuple (see benchmarks/bench_record_coder.py for the measured ratio).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.coders import FastPrimitivesCoder


def utf8_len(text: str) -> int:
    """The UTF-8 size of `text` in bytes (lone surrogates as 3 bytes, as `surrogatepass` encodes).

    An ASCII string's size is its length (`str.isascii()` reads a flag CPython keeps), so the
    common case copies nothing.
    """
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class Record(NamedTuple):
    """A document: stable id, normalized text, source tag and annotations."""

    id: str
    text: str
    source: str
    meta: dict[str, Any]

    def with_meta(self, **updates: Any) -> Record:
        """Returns a copy whose meta has `updates` merged in (the original is left untouched)."""
        meta = dict(self.meta)
        meta.update(updates)
        return self._replace(meta=meta)


class RecordCoder(beam.coders.Coder):
    """Encodes a Record as a primitive tuple through FastPrimitivesCoder."""

    def __init__(self) -> None:
        self._inner = FastPrimitivesCoder()

    def encode(self, value: Record) -> bytes:
        return self._inner.encode((value.id, value.text, value.source, value.meta))

    def decode(self, encoded: bytes) -> Record:
        return Record(*self._inner.decode(encoded))

    def is_deterministic(self) -> bool:
        return False  # meta is a dict; records are never used as shuffle keys

    def to_type_hint(self):
        return Record


beam.coders.registry.register_coder(Record, RecordCoder)


class DeadLetter(NamedTuple):
    """An input that could not become a Record: why, where, and the raw bytes (truncated)."""

    reason: str  # record: malformed_json, invalid_utf8, invalid_unicode (lone surrogate),
    #              empty_text, missing_text, non_string_text, bad_id, duplicate_id,
    #              line_too_long, bad_record, bad_row; file (line 0 or where it broke):
    #              truncated_gzip, corrupt_file, unreadable_file
    source: str
    file: str
    line: int  # 1-based line (JSONL/text) or row (Parquet/HF) number; 0 when unknown
    raw: bytes
    detail: str = ""


class Rejection(NamedTuple):
    """A record dropped by a policy (size limit, quality filter): reason code and detail."""

    record: Record
    reason: str  # e.g. too_large, too_short, gopher_quality:word_count, toxicity
    detail: str = ""


class Removal(NamedTuple):
    """A record removed by a dedup stage: which stage, which cluster, which copy was kept."""

    id: str
    source: str
    stage: str  # exact, near, cross_release, decontamination
    cluster: str  # cluster id (stable: derived from the kept id or the content hash)
    kept_id: str  # "" when nothing in this corpus was kept (cross-release, decontamination)
    similarity: float = 1.0
