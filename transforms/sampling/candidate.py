"""`Candidate`: the per-document metadata `SelectDocuments` reads, its coder and its checks."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.coders import FastPrimitivesCoder
from apache_beam.metrics import Metrics

NAMESPACE = "sampling"


class Candidate(NamedTuple):
    """Per-document metadata the selection needs."""

    id: str
    source: str
    n_tokens: int
    scores: dict[str, float]


class CandidateCoder(beam.coders.Coder):
    """Encodes a Candidate as a primitive tuple (Beam would otherwise pickle the NamedTuple)."""

    def __init__(self) -> None:
        self._inner = FastPrimitivesCoder()

    def encode(self, value: Candidate) -> bytes:
        return self._inner.encode(tuple(value))

    def decode(self, encoded: bytes) -> Candidate:
        return Candidate(*self._inner.decode(encoded))

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self):
        return Candidate


beam.coders.registry.register_coder(Candidate, CandidateCoder)


def parse_candidate(c: Any) -> tuple[str, str, int, Mapping | None] | None:
    """(id, source, n_tokens, scores) of a well-formed candidate, else None (bad records never crash)."""
    if not isinstance(c, tuple) or len(c) != 4:
        return None
    doc_id, source, n_tokens, scores = c
    if not (isinstance(doc_id, str) and doc_id and isinstance(source, str)):
        return None
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, numbers.Integral) or n_tokens <= 0:
        return None
    if scores is not None and not isinstance(scores, Mapping):
        return None
    return doc_id, source, int(n_tokens), scores


def source_of(c: Any) -> str:
    return c[1] if isinstance(c, tuple) and len(c) > 1 and isinstance(c[1], str) else "<invalid>"


def counter(name: str):
    """A Beam counter in the sampling namespace."""
    return Metrics.counter(NAMESPACE, name)
