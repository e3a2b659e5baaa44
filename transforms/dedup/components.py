"""Connected components of the duplicate graph: a mergeable union-find, and bucket edges.

Pure (no Beam). `UnionFind` is the sequential algorithm (path halving + union by size) and it is
mergeable: `merge(other)` unions every node of `other` with its root there, so partial
structures built on different workers from disjoint edge sets combine into the structure of the
union of the edges. `transforms.dedup.near.UnionFindCombineFn` wraps it as a Beam `CombineFn`
(this is the distributed strategy; not large-star/small-star).

Limit: the final merge holds one entry per node that has at least one edge (duplicates only, not
the whole corpus) in one worker's memory, about 150-200 bytes per node in CPython: ~10M
duplicate-involved documents per 2 GB. Above that, replace the combiner with rounds of
large-star/small-star (GroupByKey per round, O(log n) rounds).

Component labels are the smallest node id of each component, so the result does not depend on
edge order, bundle split or worker count.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable


class UnionFind:
    """Disjoint sets over hashable nodes."""

    def __init__(self) -> None:
        self.parent: dict[Hashable, Hashable] = {}
        self.size: dict[Hashable, int] = {}

    def __len__(self) -> int:
        return len(self.parent)

    def add(self, node: Hashable) -> None:
        if node not in self.parent:
            self.parent[node] = node
            self.size[node] = 1

    def find(self, node: Hashable) -> Hashable:
        """Root of `node`'s set (path halving keeps trees shallow)."""
        parent = self.parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, u: Hashable, v: Hashable) -> None:
        self.add(u)
        self.add(v)
        ru, rv = self.find(u), self.find(v)
        if ru == rv:
            return
        if self.size[ru] < self.size[rv]:
            ru, rv = rv, ru
        self.parent[rv] = ru
        self.size[ru] += self.size.pop(rv)

    def union_edges(self, edges: Iterable[tuple[Hashable, Hashable]]) -> UnionFind:
        for u, v in edges:
            self.union(u, v)
        return self

    def merge(self, other: UnionFind) -> UnionFind:
        """Adds every connection of `other` to this structure (returns self)."""
        for node in other.parent:
            self.union(node, other.find(node))
        return self

    def labels(self) -> dict[Hashable, Hashable]:
        """node -> smallest node of its component (a deterministic label)."""
        smallest: dict[Hashable, Hashable] = {}
        for node in self.parent:
            root = self.find(node)
            if root not in smallest or node < smallest[root]:
                smallest[root] = node
        return {node: smallest[self.find(node)] for node in self.parent}


def connected_components(edges: Iterable[tuple[Hashable, Hashable]]) -> dict[Hashable, Hashable]:
    """node -> smallest node id of its component, for every node with an edge."""
    return UnionFind().union_edges(edges).labels()


def bucket_edges(members: Iterable[str], max_bucket: int) -> tuple[list[tuple[str, str]], bool]:
    """Edges that connect the members of one LSH bucket.

    Small buckets give every pair (u < v), so that verification can drop a false member
    without disconnecting the true duplicates. Buckets larger than `max_bucket` give a star
    from the smallest id: n - 1 edges instead of n(n-1)/2, the same component.

    Returns:
        (edges, is_star); a star's edges are not meant to be verified (see NearDedup).
    """
    ids = sorted(set(members))
    if len(ids) < 2:
        return [], False
    if len(ids) > max_bucket:
        hub = ids[0]
        return [(hub, v) for v in ids[1:]], True
    return [(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids))], False
