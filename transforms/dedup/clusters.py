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

Cost: O(members x kept x num_perm) vectorised byte comparisons per component, plus, with shingle
sets, one sorted-set intersection per pair whose estimate passes the floor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np


class Member(NamedTuple):
    id: str
    rank: Any  # larger is better; ties broken by the smaller id
    signature: np.ndarray  # uint32 MinHash signature
    shingles: np.ndarray | None = None  # sorted distinct uint32 shingle hashes (exact verify)
    # exact verification by routing (`NearDedupOverRuns`): {neighbour id: exact Jaccard} of the
    # member's verified candidate pairs at >= threshold; the only pairs it may be removed for
    similar: Mapping[str, float] | None = None


class Decision(NamedTuple):
    id: str
    kept_id: str  # the member itself when it is kept
    similarity: float  # Jaccard with kept_id (exact or estimated, see above; 1.0 when kept)

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


def estimate_floor(threshold: float, num_perm: int) -> float:
    """The lowest signature estimate worth an exact check at `threshold`: 5 standard deviations
    of the estimate (sqrt(J(1-J)/num_perm), 0.035 at J=0.8 and 128 permutations) below it, so
    a pair at the threshold is skipped with probability < 1e-6."""
    return threshold - 5.0 * math.sqrt(threshold * (1.0 - threshold) / num_perm)


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted arrays of distinct shingle hashes."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def shingle_set(hashes: np.ndarray) -> np.ndarray:
    """Shingle hashes of one document -> its set: sorted distinct uint32 (little-endian)."""
    return np.unique(np.asarray(hashes, dtype=np.uint32)).astype("<u4")


def most_similar(
    m: Member, kept: Sequence[Member], kept_sigs: np.ndarray, threshold: float
) -> tuple[int, float] | None:
    """(index into kept, similarity) of the kept member most similar to m, if >= threshold.

    Ties go to the first (best-ranked) kept member. `kept_sigs` stacks the kept signatures.
    Exact Jaccard: from m's verified neighbours when it has them (`similar`), from the shingle
    sets when m and the kept members carry them; else the estimate.
    """
    if not len(kept):
        return None
    if m.similar is not None:
        found, best_sim = None, -1.0
        for i, k in enumerate(kept):
            sim = m.similar.get(k.id)
            if sim is not None and sim >= threshold and sim > best_sim:
                found, best_sim = i, sim
        return None if found is None else (found, best_sim)
    width = kept_sigs.shape[1]
    equal = np.count_nonzero(kept_sigs == m.signature, axis=1)
    if m.shingles is None:
        best = int(np.argmax(equal))  # first maximum: the best-ranked of the most similar
        if equal[best] >= threshold * width:
            return best, float(equal[best]) / width
        return None
    found, best_sim = None, -1.0
    for i in np.flatnonzero(equal >= estimate_floor(threshold, width) * width).tolist():
        if kept[i].shingles is None:
            raise ValueError(f"member {kept[i].id!r} has no shingle set (exact verification)")
        sim = exact_jaccard(m.shingles, kept[i].shingles)
        if sim >= threshold and sim > best_sim:
            found, best_sim = i, sim
    return None if found is None else (found, best_sim)


def resolve_component(members: Sequence[Member], threshold: float) -> list[Decision]:
    """Keep/remove decisions for the members of one component (best first)."""
    ordered = priority_order(members)
    if not ordered:
        return []
    width = len(ordered[0].signature)
    kept_sigs = np.empty((len(ordered), width), dtype=np.uint32)
    kept: list[Member] = []
    out: list[Decision] = []
    for m in ordered:
        hit = most_similar(m, kept, kept_sigs[: len(kept)], threshold)
        if hit is not None:
            out.append(Decision(m.id, kept[hit[0]].id, hit[1]))
            continue
        kept_sigs[len(kept)] = m.signature
        kept.append(m)
        out.append(Decision(m.id, m.id, 1.0))
    return out
