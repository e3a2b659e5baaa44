"""Choosing survivors inside a component of the duplicate graph, without transitive loss.

LSH edges chain: A~B and B~C put A, B, C in one component even when A and C share little. Keeping
only the best document of the component would then drop C although nothing similar to C
survives. `resolve_component` walks the members from best to worst (rank descending, then id
ascending) and keeps a member unless it is similar (estimated Jaccard >= threshold) to a member
already kept; a removed member names the most similar kept one. So:

- every removed document has a surviving document with estimated similarity >= threshold;
- members that only chain to the representative become representatives of their own
  sub-clusters (they are "re-clustered among themselves");
- the result depends only on the member set, ranks and signatures (deterministic).

Cost: O(members x kept x num_perm) vectorised byte comparisons per component.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np


class Member(NamedTuple):
    id: str
    rank: Any  # larger is better; ties broken by the smaller id
    signature: np.ndarray  # uint32 MinHash signature


class Decision(NamedTuple):
    id: str
    kept_id: str  # the member itself when it is kept
    similarity: float  # estimated Jaccard with kept_id (1.0 when kept)

    @property
    def kept(self) -> bool:
        return self.id == self.kept_id


def priority_order(members: Sequence[Member]) -> list[Member]:
    """Members best first: rank descending, then id ascending."""
    ordered = sorted(members, key=lambda m: m.id)
    try:
        ordered.sort(key=lambda m: m.rank, reverse=True)  # stable: ids stay ascending on ties
    except TypeError:  # incomparable ranks: fall back to a stable textual order, never crash
        ordered.sort(key=lambda m: repr(m.rank), reverse=True)
    return ordered


def resolve_component(members: Sequence[Member], threshold: float) -> list[Decision]:
    """Keep/remove decisions for the members of one component (best first)."""
    ordered = priority_order(members)
    if not ordered:
        return []
    width = len(ordered[0].signature)
    kept_sigs = np.empty((len(ordered), width), dtype=np.uint32)
    kept_ids: list[str] = []
    out: list[Decision] = []
    need = threshold * width
    for m in ordered:
        if kept_ids:
            equal = np.count_nonzero(kept_sigs[: len(kept_ids)] == m.signature, axis=1)
            best = int(np.argmax(equal))  # first maximum: the best-ranked of the most similar
            if equal[best] >= need:
                out.append(Decision(m.id, kept_ids[best], float(equal[best]) / width))
                continue
        kept_sigs[len(kept_ids)] = m.signature
        kept_ids.append(m.id)
        out.append(Decision(m.id, m.id, 1.0))
    return out
