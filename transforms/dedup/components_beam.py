"""`ConnectedComponents`: component labels of an edge PCollection, by large-star/small-star rounds.

Input: edges (u, v) of node ids (str), in any orientation, duplicates allowed. Output: one
(node, label) pair per node with an edge, label = the smallest node id of its component: the
same labels as `UnionFind.labels()` (components.py), whatever the worker count.

Algorithm (Kiveris et al., SoCC 2014). One round = large-star then small-star, each a
GroupByKey on node ids (see components.py for the per-key functions):

- large-star at u: every neighbour v > u is re-linked to m = min(N(u) + u);
- small-star at u: u and its neighbours v < u are linked to their min.

Both keep every component connected (both ends of each input edge end linked to the same m) and
add no edge between components, and the graph stops changing exactly when each component is a
star around its smallest id, which is then every member's label. The number of rounds grows
like log(diameter) (measured in tests/dedup/test_components_beam.py: a path of 2,000 nodes in
sorted order needs 11). Beam graphs are static, so `max_rounds` rounds are built; a round on a
converged graph is a no-op that passes the stars through. Each reduce reports whether it
changed anything; those flags are summed per round (a per-round counter, and the round count
is logged), and the last round must have changed nothing, else the pipeline fails with
"connected components did not converge in N rounds".

No hot key holds a component whole. The only per-key lists are one node's neighbours, and a
node's degree is what can grow: the centre of a 16k-member template family ends with 16k
neighbours. Each round first counts edge ends per node (a lifted CombinePerKey: partial counts
per bundle, bounded), and the `HOT_TABLE` highest-degree nodes above `degree_cap` get
ceil(degree / cap) sub-keys (node, salt) for that round (a Top-N combine: the table is
bounded by its constant size, not by the corpus). A hot node's larger neighbours are spread
over its sub-keys by hash; the min of its smaller neighbours (a lifted combiner, one id) is
sent to every sub-key, so each sub-key still knows the exact min of the node's neighbourhood
(larger neighbours never lower it) and large-star's result is unchanged. In small-star a hot node's smaller neighbours are spread
over sub-keys and each sub-key links its share to that share's min: a coarser star, still
connectivity-preserving, merged by the next rounds (a salted node reports "changed", so the
rounds go on until it is no longer hot with smaller neighbours: a converged leaf has one edge).
Labels come out as (node, label) pairs from the final stars, never as a list per label. What
remains per key: if more than `HOT_TABLE` nodes are hot at once, the unsalted ones beyond the
table hold their whole neighbourhood.
"""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.transforms.combiners import TopCombineFn

from transforms.dedup.components import (
    HOT_MIN,
    UnionFind,
    hot_min_to_subkeys,
    hot_salts,
    large_star,
    large_star_keys,
    small_star,
    small_star_keys,
)
from transforms.infra.runners import is_local_runner

_NS = "dedup_components"
DEGREE_CAP = 4096  # neighbours per (node, salt) key before a node is split into sub-keys
HOT_TABLE = 4096  # nodes split per round at most (the side input stays this small)
_log = logging.getLogger(__name__)


# Main outputs are declared: Beam 2.78 infers a generator's yields as a Union with TaggedOutput,
# which GroupByKey's type check rejects (the tagged outputs are typed per tag, below).
@beam.typehints.with_output_types(tuple[str, str])
class _RoundFn(beam.DoFn):
    """One half-round (large-star or small-star): re-link a key's neighbours, flag changes."""

    CHANGED = "changed"

    def __init__(self, star: str, round_index: int) -> None:
        self.star, self.round_index = star, round_index
        self.changes = beam.metrics.Metrics.counter(_NS, f"round{round_index:02d}_changes")

    def process(self, keyed, salts):
        key, neighbours = keyed
        if self.star == "large":
            edges, changed = large_star(key, neighbours)
        else:
            edges, changed = small_star(key, neighbours, salts.get(key[0], 1) > 1)
        yield from edges
        if changed:
            self.changes.inc()
            yield beam.pvalue.TaggedOutput(self.CHANGED, (self.round_index, 1))


@beam.typehints.with_output_types(tuple[tuple[str, int], str])
class _LargeStarKeysFn(beam.DoFn):
    """large_star_keys, with a hot node's smaller neighbours routed to its min combiner."""

    HOT = "hot"

    def process(self, edge, salts):
        for key, value in large_star_keys(edge, salts):
            if key[1] == HOT_MIN:
                yield beam.pvalue.TaggedOutput(self.HOT, (key[0], value))
            else:
                yield key, value


def _by_degree(kv: tuple[str, int]) -> tuple[int, str]:
    return kv[1], kv[0]


def _ends(edge):
    a, b = edge
    if a != b:
        yield a, 1
        yield b, 1


def _label_pairs(edge):
    """(child, parent) of a converged star -> (child, centre) and (centre, centre)."""
    a, b = edge
    if a == b:
        return
    lo, hi = (a, b) if a < b else (b, a)
    yield hi, lo
    yield lo, lo


class _CheckConvergence(beam.DoFn):
    """{round: changes} (one small dict) -> logs rounds used; raises if the last one changed."""

    def __init__(self, max_rounds: int) -> None:
        self.max_rounds = max_rounds
        self.rounds = beam.metrics.Metrics.distribution(_NS, "rounds_with_changes")

    def process(self, changes: dict[int, int]):
        used = len(changes)
        self.rounds.update(used)
        _log.info("connected components: %d round(s) changed the graph (max %d)", used,
                  self.max_rounds)  # fmt: skip
        if changes.get(self.max_rounds - 1, 0):
            raise RuntimeError(
                f"connected components did not converge in {self.max_rounds} rounds; "
                "raise dedup.near.max_component_rounds"
            )
        yield used


class _ChangesPerRound(beam.CombineFn):
    """(round, n) pairs -> {round: total}; bounded: one entry per round (max_rounds)."""

    def create_accumulator(self) -> dict[int, int]:
        return {}

    def add_input(self, acc, item):
        r, n = item
        acc[r] = acc.get(r, 0) + n
        return acc

    def merge_accumulators(self, accs):
        out: dict[int, int] = {}
        for acc in accs:
            for r, n in acc.items():
                out[r] = out.get(r, 0) + n
        return out

    def extract_output(self, acc):
        return dict(sorted(acc.items()))


class ConnectedComponents(beam.PTransform):
    """Edges -> (node, smallest id of its component), by large-star/small-star rounds.

    Args:
        max_rounds: rounds built into the graph; the pipeline fails if the last one still
            changes the graph.
        degree_cap: neighbours per key before a node is split into sub-keys.
        hot_table: at most this many nodes are split per round.

    Returns a dict: "labels" (node, label) pairs and "rounds" (one int: rounds that changed the
    graph, a diagnostic; the step that computes it also enforces convergence).
    """

    def __init__(
        self, max_rounds: int = 20, degree_cap: int = DEGREE_CAP, hot_table: int = HOT_TABLE
    ) -> None:
        super().__init__()
        if max_rounds < 1 or degree_cap < 1 or hot_table < 0:
            raise ValueError("max_rounds and degree_cap must be >= 1, hot_table >= 0")
        self.max_rounds, self.degree_cap, self.hot_table = max_rounds, degree_cap, hot_table

    def _salts(self, edges, r: int):
        cap, size = self.degree_cap, self.hot_table
        if size == 0:
            return {}
        hot = (
            edges
            | f"Ends{r}" >> beam.FlatMap(_ends)
            | f"Degrees{r}" >> beam.CombinePerKey(sum)  # lifted: partial sums per bundle
            | f"HotNodes{r}" >> beam.Filter(lambda kv, c: kv[1] > c, cap)
            | f"HotTable{r}"
            # bounded: the Top-N accumulator and the table hold at most hot_table nodes
            >> beam.CombineGlobally(TopCombineFn(size, key=_by_degree)).without_defaults()
            | f"SaltTable{r}" >> beam.Map(hot_salts, cap, size)
        )
        return beam.pvalue.AsSingleton(hot, default_value={})  # bounded: <= hot_table entries

    def expand(self, edges):
        changes = []
        for r in range(self.max_rounds):
            salts = self._salts(edges, r)
            keyed = edges | f"LargeStarKeys{r}" >> beam.ParDo(
                _LargeStarKeysFn(), salts
            ).with_outputs(_LargeStarKeysFn.HOT, main="keyed")
            hot_mins = (
                keyed[_LargeStarKeysFn.HOT]
                | f"HotMins{r}" >> beam.CombinePerKey(min)  # lifted: one id per hot node
                # bounded: the salt table side input (at most hot_table nodes)
                | f"HotMinsToSubkeys{r}" >> beam.FlatMap(hot_min_to_subkeys, salts)
            )
            large = (
                (keyed.keyed, hot_mins)
                | f"LargeStarInputs{r}" >> beam.Flatten()
                | f"LargeStarGroup{r}" >> beam.GroupByKey()
                # bounded: the salt table side input (at most hot_table nodes)
                | f"LargeStar{r}"
                >> beam.ParDo(_RoundFn("large", r), salts).with_outputs(
                    _RoundFn.CHANGED, main="edges"
                )
            )
            small = (
                large.edges
                | f"SmallStarKeys{r}" >> beam.FlatMap(small_star_keys, salts)
                | f"SmallStarGroup{r}" >> beam.GroupByKey()
                # bounded: the salt table side input (at most hot_table nodes)
                | f"SmallStar{r}"
                >> beam.ParDo(_RoundFn("small", r), salts).with_outputs(
                    _RoundFn.CHANGED, main="edges"
                )
            )
            changes += [large[_RoundFn.CHANGED], small[_RoundFn.CHANGED]]
            edges = small.edges
        rounds = (
            changes
            | "AllChanges" >> beam.Flatten()
            # bounded: one (round, count) entry per round, max_rounds in all
            | "ChangesPerRound" >> beam.CombineGlobally(_ChangesPerRound())
            | "CheckConvergence" >> beam.ParDo(_CheckConvergence(self.max_rounds))
        )
        labels = edges | "LabelPairs" >> beam.FlatMap(_label_pairs) | "Labels" >> beam.Distinct()
        return {"labels": labels, "rounds": rounds}


class UnionFindCombineFn(beam.CombineFn):
    """Edges -> {node: component label}; accumulators are mergeable `UnionFind`s.

    The whole edge set ends in one accumulator (about 200 bytes per node with an edge): the
    local runner's path only, see `Components`.
    """

    def create_accumulator(self) -> UnionFind:
        return UnionFind()

    def add_input(self, acc: UnionFind, edge: tuple[str, str]) -> UnionFind:
        acc.union(edge[0], edge[1])
        return acc

    def merge_accumulators(self, accs) -> UnionFind:
        accs = iter(accs)
        out = next(accs)
        for other in accs:
            out.merge(other)
        return out

    def extract_output(self, acc: UnionFind) -> dict[str, str]:
        return acc.labels()


def runs_on_this_machine(pipeline: beam.Pipeline) -> bool:
    """True for Beam's in-process runners (FnApiRunner, DirectRunner), whatever their mode."""
    return is_local_runner(getattr(pipeline, "runner", None))


class Components(beam.PTransform):
    """Edges -> (node, smallest id of its component), by the path that suits the runner.

    mode "rounds": `ConnectedComponents` (scales out; what distributed runners always get).
    mode "local": one union-find combiner; on the local runner every PCollection already sits
    in this machine's memory, and the rounds' fixed cost (about 15 Beam stages per round, each
    ~15-50 ms of runner overhead, plus graph construction) would dominate a local run
    (benchmarks/RESULTS.md, "Near dedup speed"). mode "auto": "local" on Beam's in-process
    runners, "rounds" on any other. Both give identical labels (tests/dedup).
    """

    def __init__(self, mode: str = "auto", max_rounds: int = 16) -> None:
        super().__init__()
        if mode not in ("auto", "rounds", "local"):
            raise ValueError(f"components mode must be auto, rounds or local, got {mode!r}")
        self.mode, self.max_rounds = mode, max_rounds

    def expand(self, edges):
        mode = self.mode
        if mode == "auto":
            mode = "local" if runs_on_this_machine(edges.pipeline) else "rounds"
        if mode == "rounds":
            return edges | "Rounds" >> ConnectedComponents(self.max_rounds)
        labels = (
            edges
            # local runner only (see the class docstring): the accumulator holds every node
            # with an edge; distributed runners get the rounds above
            | "UnionFind" >> beam.CombineGlobally(UnionFindCombineFn()).without_defaults()
            | "Labels" >> beam.FlatMap(lambda d: sorted(d.items()))
        )
        return {"labels": labels}
