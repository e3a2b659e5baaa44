"""Connected components of the duplicate graph: union-find, large-star/small-star, bucket edges.

Pure (no Beam). Two algorithms with the same result (every node labelled by the smallest node id
of its component, so the labels do not depend on edge order, bundle split or worker count):

- `UnionFind`: the sequential algorithm (path halving + union by size), the reference the tests
  compare against. It holds one entry per node in one process.
- the rounds of large-star / small-star (Kiveris et al., "Connected Components in MapReduce and
  Beyond", SoCC 2014) as per-key functions: `large_star_keys` / `large_star` and
  `small_star_keys` / `small_star` are the map and reduce sides of one round;
  `transforms.dedup.components_beam.ConnectedComponents` runs them as GroupByKeys, and
  `star_rounds` runs them in memory (tests, and to count rounds). The hot-key argument (salted
  sub-keys) is in components_beam.py.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable, Iterable, Iterator

Edge = tuple[str, str]  # (child, parent) with parent < child once oriented; any order on input


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


# Large-star / small-star rounds ---------------------------------------------------------------


def salt(node: str, n: int) -> int:
    """A stable sub-key in [0, n) for `node` (crc32: the same in every process and run)."""
    return zlib.crc32(node.encode()) % n if n > 1 else 0


HOT_MIN = -1  # sub-key of the map output that goes to a hot node's min combiner


def large_star_keys(edge: Edge, salts: dict[str, int]) -> Iterator[tuple[tuple[str, int], str]]:
    """Map side of large-star: ((node, sub-key), neighbour) for both ends of one edge.

    A node `u` with `salts[u] = S > 1` is split into S sub-keys: each larger neighbour goes to
    one of them (by its hash). Its smaller neighbours go to sub-key `HOT_MIN`: their min (a
    combiner) is then sent to every sub-key by `hot_min_to_subkeys`, so each sub-key knows the
    exact min of u's neighbourhood (larger neighbours never lower it) without a copy of every
    smaller neighbour.
    """
    a, b = edge
    if a == b:
        return
    lo, hi = (a, b) if a < b else (b, a)
    yield (lo, salt(hi, salts.get(lo, 1))), hi
    yield (hi, HOT_MIN if salts.get(hi, 1) > 1 else 0), lo


def hot_min_to_subkeys(
    node_min: tuple[str, str], salts: dict[str, int]
) -> Iterator[tuple[tuple[str, int], str]]:
    """(hot node, min of its smaller neighbours) -> the same value for each of its sub-keys."""
    node, low = node_min
    for s in range(salts.get(node, 1)):
        yield (node, s), low


def large_star(key: tuple[str, int], neighbours: Iterable[str]) -> tuple[list[Edge], bool]:
    """Reduce side of large-star: every larger neighbour of u is linked to m = min(N(u) + u).

    Also links u to m (sub-key 0 only): with it, both ends of every input edge (u, v), u < v,
    end linked to the same m, which is the whole connectivity argument. Returns (edges, changed);
    changed is False when the output equals the input (u has no smaller or no larger neighbour).
    """
    u, sub = key
    nbrs = set(neighbours)
    m = min(nbrs) if nbrs else u
    m = min(m, u)
    larger = [v for v in nbrs if v > u]
    out = [(v, m) for v in larger]
    if m != u and sub == 0:
        out.append((u, m))
    return out, bool(larger) and m != u


def small_star_keys(edge: Edge, salts: dict[str, int]) -> Iterator[tuple[tuple[str, int], str]]:
    """Map side of small-star: ((larger end, sub-key), smaller end)."""
    a, b = edge
    if a == b:
        return
    lo, hi = (a, b) if a < b else (b, a)
    yield (hi, salt(lo, salts.get(hi, 1))), lo


def small_star(
    key: tuple[str, int], smaller: Iterable[str], salted: bool = False
) -> tuple[list[Edge], bool]:
    """Reduce side of small-star: u and its smaller neighbours (of this sub-key) are linked to
    their min m. Both ends of every input edge end linked to m, so connectivity holds.

    Returns (edges, changed); changed is False when u has one smaller neighbour (the output is
    the input edge), conservatively True for a salted u (its other sub-keys may hold others).
    """
    u = key[0]
    nbrs = set(smaller)
    if not nbrs:
        return [], False
    m = min(nbrs)
    out = [(v, m) for v in nbrs if v != m]
    out.append((u, m))
    return out, len(nbrs) > 1 or salted


def node_degrees(edges: Iterable[Edge]) -> dict[str, int]:
    """Edge ends per node (duplicates counted: the load a node's key gets)."""
    deg: dict[str, int] = {}
    for a, b in edges:
        if a != b:
            deg[a] = deg.get(a, 0) + 1
            deg[b] = deg.get(b, 0) + 1
    return deg


def hot_salts(degrees: Iterable[tuple[str, int]], cap: int, table_size: int) -> dict[str, int]:
    """{node: sub-keys} for the `table_size` highest-degree nodes whose degree exceeds `cap`."""
    hot = sorted(((d, n) for n, d in degrees if d > cap), reverse=True)[:table_size]
    return {n: -(-d // cap) for d, n in hot}


def star_labels(edges: Iterable[Edge]) -> dict[str, str]:
    """node -> smallest end of its edges; equals the component labels once converged."""
    out: dict[str, str] = {}
    for a, b in edges:
        lo, hi = (a, b) if a < b else (b, a)
        out[hi] = min(out.get(hi, lo), lo)
        out[lo] = min(out.get(lo, lo), lo)
    return out


def star_rounds(
    edges: Iterable[Edge], max_rounds: int, cap: int = 1 << 30, table_size: int = 4096
) -> tuple[dict[str, str], int]:
    """In-memory large-star/small-star rounds, as `ConnectedComponents` runs them.

    Returns (labels, rounds that changed the graph). Raises RuntimeError if the graph still
    changes in round `max_rounds`.
    """
    cur = [tuple(e) for e in edges]
    for r in range(max_rounds):
        salts = hot_salts(node_degrees(cur).items(), cap, table_size)
        changed = False
        groups: dict[tuple[str, int], list[str]] = {}
        hot_min: dict[str, str] = {}
        for e in cur:
            for k, v in large_star_keys(e, salts):
                if k[1] == HOT_MIN:
                    hot_min[k[0]] = min(hot_min.get(k[0], v), v)
                else:
                    groups.setdefault(k, []).append(v)
        for item in hot_min.items():
            for k, v in hot_min_to_subkeys(item, salts):
                groups.setdefault(k, []).append(v)
        mid = []
        for k, vs in groups.items():
            out, ch = large_star(k, vs)
            mid += out
            changed |= ch
        groups = {}
        for e in mid:
            for k, v in small_star_keys(e, salts):
                groups.setdefault(k, []).append(v)
        cur = []
        for k, vs in groups.items():
            out, ch = small_star(k, vs, salts.get(k[0], 1) > 1)
            cur += out
            changed |= ch
        if not changed:
            return star_labels(cur), r
    raise RuntimeError(
        f"connected components did not converge in {max_rounds} rounds; "
        "raise dedup.near.max_component_rounds"
    )
