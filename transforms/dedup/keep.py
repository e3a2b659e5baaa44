"""Which document of a duplicate group survives: the `dedup.*.keep` rules, shared by exact and
near dedup so both keep the same kind of representative.

Pure functions of a record's metadata (`DocMeta`: id, length, quality), never of the worker or
the bundle split, so the survivor is the same on any runner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the rules stay pure (no Beam, no spill-run code)
    from transforms.infra.spill import DocMeta

# Exact dedup's sort key per rule: the smallest key is kept (ids are unique, so no ties).
KEEP_RULES: dict[str, Callable[[DocMeta], tuple]] = {
    "longest": lambda m: (-m.n_chars, m.id),
    "quality": lambda m: (-m.quality, -m.n_chars, m.id),
    "first_id": lambda m: (m.id,),
}


def near_rank(keep: str) -> Callable[[DocMeta], tuple]:
    """Near dedup's keep priority for the same `keep` rule (larger wins, ties by smaller id)."""
    if keep not in KEEP_RULES:
        raise ValueError(f"keep must be one of {sorted(KEEP_RULES)}, got {keep!r}")
    if keep == "quality":
        return _rank_quality
    if keep == "longest":
        return _rank_longest
    return _rank_first_id


def _rank_quality(m: DocMeta) -> tuple:
    return (m.quality, m.n_chars)


def _rank_longest(m: DocMeta) -> tuple:
    return (m.n_chars,)


def _rank_first_id(m: DocMeta) -> tuple:
    return ()  # every member ties: the smallest id is kept, as exact dedup's first_id does
