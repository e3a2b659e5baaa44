"""`ResolveComponents`: survivors of near-duplicate components, no giant one held whole.

`resolve_component` (clusters.py) walks a component best first, so the natural Beam step is a
GroupByKey on the component label and one call per component: one element then holds every
member's signature (~0.6 kB each). Real corpora have template families of tens of thousands
of pages (16k man pages share one template), so that element grows with the largest family.
Here it is bounded by `max_members` (`dedup.near.resolve_max_members`):

1. **Count, then decide** (GroupByKey on the label): the grouped members are iterated once to
   count them (O(1) memory; Dataflow pages large groups and re-iterates them). A component of
   at most `max_members` is materialised and resolved exactly as before (`_resolve_small`).
   A larger one is re-emitted member by member under salted sub-keys
   (label, hash(level, id) % S), S = ceil(count / max_members).
2. **Levels**: each sub-group is resolved with `resolve_component`; its removed members name a
   sub-group survivor (similarity >= threshold) and wait for step 3; the survivors of the
   whole component are counted again (GroupByKey on the label). At most `max_members`: one
   element resolves them (the final level). More, and the level removed at least a quarter of
   its input: split again, salted differently (at most `MAX_LEVELS` sub-group levels). More,
   and the level did not shrink its input (e.g. a long chain where nothing is mutually
   similar, so sub-groups remove little), or the levels are used up: **the survivors are
   resolved in one element anyway**, counted in `dedup_near/oversized_components_resolved_whole`.
   That is the honest limit: such a component is held whole (its survivors, not its removed
   members), as the one-step path always did.
3. **Orphans** (GroupByKey on the label): the final survivors' signatures are held (at most
   `max_members` but for the fallback above); the members removed at earlier levels stream
   past. A member whose representative survived keeps its decision; one whose representative
   was removed later (an orphan) names the most similar final survivor if that reaches the
   threshold; orphans similar to no final survivor are resolved among themselves best first
   (one element per component; rank order, not arrival order) and the kept ones are kept.
4. **Clusters** (CombinePerKey on the kept id): removals per kept id give the cluster size and a
   bounded audit sample (the kept member and the removed members with the smallest ids).

So every removed member names a kept member with Jaccard >= threshold (exact when the
candidates carry their verified neighbours, `dedup.near.verify: exact`) (the kept
members never get removed later: final survivors and kept orphans are final), and the result
depends only on the member set, ranks, signatures, config and seed (sub-keys hash the id; every
resolution sorts its members; nothing depends on arrival or bundle order). A large
component may keep a few more or fewer members than the one-element walk (a member is first
compared with its sub-group's survivors only; within 2% on tests/dedup/test_resolve_giant.py's
loose family), with the same guarantee. The orphans similar to no final survivor are resolved
in one element too: more than `max_members` of them (a component of mostly dissimilar members)
is counted in the same metric.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np
import xxhash

from transforms.dedup.clusters import Member, most_similar, priority_order, resolve_component
from transforms.dedup.near_audit import AUDIT_MEMBERS, audit_rows
from transforms.infra.disk_group import GroupByKeyOnDisk
from transforms.infra.record import Removal

_NS = "dedup_near"
MAX_LEVELS = 3  # sub-group levels built into the graph (each is two GroupByKeys)
SHRINK = 0.75  # another level is used only if this one left at most 3/4 of its input

# A candidate is any (id, source, minhash bytes, rank[, similar]) sequence, `similar` being
# its verified neighbours ((id, exact Jaccard), ...) with `verify: exact` (near.py joins them
# in; no shingle set reaches this step), else None: this module does not import near.py,
# which imports it. With neighbours, similarities are exact (clusters.py).
_ID, _SOURCE, _MINHASH, _RANK, _SIMILAR = range(5)
_KEPT, _REMOVED = "kept", "removed"  # decided records: (kind, candidate tuple, kept id, sim)


def _similar(c) -> dict[str, float] | None:
    raw = c[_SIMILAR] if len(c) > _SIMILAR else None
    return None if raw is None else dict(raw)


def _member(c) -> Member:
    sig = np.frombuffer(c[_MINHASH], dtype="<u4")
    return Member(c[_ID], c[_RANK], sig, similar=_similar(c))


def _salt(level: int, doc_id: str, n_keys: int) -> int:
    """Sub-key of a member at a level: a hash of the id, so independent of arrival order."""
    return xxhash.xxh64_intdigest(f"{level}:{doc_id}".encode()) % n_keys


def _audit_sample(seed: int, cid: str, size: int, ids: list[str], sigs: list, similar: list):
    priority = xxhash.xxh64_intdigest(f"{seed}:{cid}".encode())
    return priority, cid, size, audit_rows(cid, size, ids, sigs, similar)


def _resolve_small(cands: Iterable, threshold: float, seed: int, metrics: dict) -> Iterator:
    """One component in one element: removals, clusters, sizes and audit samples."""
    by_id = {c[_ID]: c for c in cands}
    members = [_member(c) for c in by_id.values()]
    of = {m.id: m for m in members}
    decisions = resolve_component(members, threshold)
    clusters: dict[str, list] = {}
    for d in decisions:
        clusters.setdefault(d.kept_id, [])
        if not d.kept:
            clusters[d.kept_id].append(d)
            c = by_id[d.id]
            metrics["removed"].inc()
            yield Removal(c[_ID], c[_SOURCE], "near", "near:" + d.kept_id, d.kept_id, d.similarity)
    metrics["rechained"].inc(len(clusters) - 1)  # representatives beyond the best one
    for kept_id, removed in clusters.items():
        if not removed:
            continue
        cid, size = "near:" + kept_id, 1 + len(removed)
        yield beam.pvalue.TaggedOutput("clusters", (kept_id, cid))
        yield beam.pvalue.TaggedOutput("sizes", size)
        ids = [kept_id] + [d.id for d in removed][: AUDIT_MEMBERS - 1]  # kept first
        sigs, similar = [of[i].signature for i in ids], [of[i].similar for i in ids]
        sample = _audit_sample(seed, cid, size, ids, sigs, similar)
        yield beam.pvalue.TaggedOutput("audit", sample)


def _metrics() -> dict[str, Any]:
    counter = beam.metrics.Metrics.counter
    return {
        "components": counter(_NS, "components"),
        "removed": counter(_NS, "removed"),
        "rechained": counter(_NS, "kept_chained_members"),
        "small": counter(_NS, "components_resolved_small"),
        "multilevel": counter(_NS, "components_resolved_multilevel"),
        "oversized": counter(_NS, "oversized_components_resolved_whole"),
        "levels": beam.metrics.Metrics.distribution(_NS, "resolve_levels"),
        "orphans": counter(_NS, "orphans_rechecked"),
        "orphans_kept": counter(_NS, "orphans_kept"),
    }


def _split(label: str, items: Iterable, level: int, n: int, max_members: int) -> Iterator:
    """Streams the members of a large group to their salted sub-keys (never held)."""
    n_keys = math.ceil(n / max_members)
    for c in items:
        c = tuple(c)
        yield beam.pvalue.TaggedOutput("split", ((label, _salt(level, c[_ID], n_keys)), (n, c)))


class _SmallOrSplitFn(beam.DoFn):
    """(label, members) -> a small component resolved as one; a large one split (streamed)."""

    def __init__(self, threshold: float, seed: int, max_members: int) -> None:
        self.threshold, self.seed, self.max_members = threshold, seed, max_members

    def setup(self):
        self.m = _metrics()

    def process(self, keyed):
        label, cands = keyed
        self.m["components"].inc()
        n = sum(1 for _ in cands)  # one pass to count: nothing held
        if n <= self.max_members:
            self.m["small"].inc()
            yield from _resolve_small(cands, self.threshold, self.seed, self.m)
            return
        self.m["multilevel"].inc()
        yield from _split(label, cands, 1, n, self.max_members)


class _SubGroupFn(beam.DoFn):
    """((label, salt), [(n, candidate)]) -> survivors (tagged) and pending removals (main).

    A sub-group holds at most about `max_members` members (the sub-keys are a hash of the id).
    """

    def process(self, keyed, threshold: float):
        (label, _), items = keyed
        n, by_id = 0, {}
        for level_count, c in items:  # every item carries the same count
            n, by_id[c[_ID]] = level_count, c
        for d in resolve_component([_member(c) for c in by_id.values()], threshold):
            if d.kept:
                yield beam.pvalue.TaggedOutput("survivors", (label, (n, by_id[d.id])))
            else:  # pending: its representative may be removed at a later level
                yield label, (1, (by_id[d.id], d.kept_id, d.similarity))


class _NextLevelFn(beam.DoFn):
    """(label, [(n at this level, survivor)]) -> resolved whole, or split for the next level."""

    def __init__(self, threshold: float, max_members: int, level: int, last: bool) -> None:
        self.threshold, self.max_members, self.level, self.last = (
            threshold,
            max_members,
            level,
            last,
        )

    def setup(self):
        self.m = _metrics()

    def process(self, keyed):
        label, items = keyed
        count, previous = 0, 0
        for level_count, _ in items:  # one pass to count: nothing held
            count, previous = count + 1, level_count
        if count > self.max_members and not self.last and count <= SHRINK * previous:
            yield from _split(label, (c for _, c in items), self.level + 1, count, self.max_members)
            return
        if count > self.max_members:
            self.m["oversized"].inc()
        self.m["levels"].update(self.level + 1)  # the sub-group levels and this final one
        yield from _resolve_final(label, [c for _, c in items], self.threshold)


def _resolve_final(label: str, cands: list, threshold: float) -> Iterator:
    """Final level: decided records (main) and the final survivors (tagged "final")."""
    by_id = {c[_ID]: tuple(c) for c in cands}
    for d in resolve_component([_member(c) for c in by_id.values()], threshold):
        yield (_KEPT if d.kept else _REMOVED), by_id[d.id], d.kept_id, d.similarity
        if d.kept:
            yield beam.pvalue.TaggedOutput("final", (label, (0, by_id[d.id])))


@beam.typehints.with_output_types(tuple[str, Any, Any, Any])  # main: a decided member
class _RecheckFn(beam.DoFn):
    """(label, final survivors (0, c) and pending removals (1, (c, rep, sim))) -> decided.

    Holds only the final survivors (first pass over the group); the pending removals stream
    past in the second. Orphans similar to no survivor go out tagged "orphans".
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def setup(self):
        self.m = _metrics()

    def process(self, keyed):
        label, items = keyed
        final = priority_order([_member(c) for tag, c in items if tag == 0])
        self.m["rechained"].inc(max(len(final) - 1, 0))
        kept_ids = {m.id for m in final}
        sigs = np.stack([m.signature for m in final]) if final else None
        for tag, value in items:
            if tag == 0:
                continue
            c, rep, sim = value
            if rep in kept_ids:
                yield _REMOVED, c, rep, sim
                continue
            self.m["orphans"].inc()
            hit = most_similar(_member(c), final, sigs, self.threshold) if final else None
            if hit is not None:  # the best-ranked of the most similar final survivors
                yield _REMOVED, c, final[hit[0]].id, hit[1]
                continue
            yield beam.pvalue.TaggedOutput("orphans", (label, c))


class _OrphansFn(beam.DoFn):
    """(label, orphans similar to no final survivor) -> resolved among themselves, best first."""

    def __init__(self, threshold: float, max_members: int) -> None:
        self.threshold, self.max_members = threshold, max_members

    def setup(self):
        self.m = _metrics()

    def process(self, keyed):
        _, cands = keyed
        by_id = {c[_ID]: tuple(c) for c in cands}
        if len(by_id) > self.max_members:
            self.m["oversized"].inc()
        for d in resolve_component([_member(c) for c in by_id.values()], self.threshold):
            if d.kept:
                self.m["orphans_kept"].inc()
                self.m["rechained"].inc()
            yield (_KEPT if d.kept else _REMOVED), by_id[d.id], d.kept_id, d.similarity


@beam.typehints.with_output_types(Removal)  # main; "members" is tagged
class _DecidedFn(beam.DoFn):
    """Decided records -> `Removal`s (main) and (kept id, (kind, id, signature, neighbours))
    ("members")."""

    def setup(self):
        self.m = _metrics()

    def process(self, record):
        kind, c, kept_id, sim = record
        if kind == _REMOVED:
            self.m["removed"].inc()
            yield Removal(c[_ID], c[_SOURCE], "near", "near:" + kept_id, kept_id, sim)
        similar = c[_SIMILAR] if len(c) > _SIMILAR else None
        yield beam.pvalue.TaggedOutput("members", (kept_id, (kind, c[_ID], c[_MINHASH], similar)))


class ClusterSampleFn(beam.CombineFn):
    """(kind, id, signature, neighbours) per kept id -> (kept (signature, neighbours), removals,
    audit sample).

    Bounded: the kept signature, a count and the `AUDIT_MEMBERS - 1` removed members with the
    smallest ids (a deterministic sample, whatever the arrival order).
    """

    def create_accumulator(self):
        return None, 0, []

    def add_input(self, acc, item):
        kept, n, sample = acc
        kind, doc_id, sig, sets = item
        if kind == _KEPT:
            return (sig, sets), n, sample
        sample = heapq.nsmallest(AUDIT_MEMBERS - 1, [*sample, (doc_id, sig, sets)])
        return kept, n + 1, sample

    def merge_accumulators(self, accs):
        accs = list(accs)
        kept = next((a[0] for a in accs if a[0] is not None), None)
        sample = heapq.nsmallest(AUDIT_MEMBERS - 1, [s for a in accs for s in a[2]])
        return kept, sum(a[1] for a in accs), sample

    def extract_output(self, acc):
        return acc


class _ClusterOutputsFn(beam.DoFn):
    """(kept id, cluster sample) -> clusters, sizes and audit samples (tagged)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def process(self, keyed):
        kept_id, (kept, n, sample) = keyed
        if n == 0:
            return
        kept_sig, kept_set = kept if kept is not None else (None, None)
        cid, size = "near:" + kept_id, 1 + n
        yield beam.pvalue.TaggedOutput("clusters", (kept_id, cid))
        yield beam.pvalue.TaggedOutput("sizes", size)
        ids = [kept_id] + [doc_id for doc_id, _, _ in sample]
        sigs = [np.frombuffer(s, "<u4") for s in [kept_sig] + [s for _, s, _ in sample]]
        raw = [kept_set] + [t for _, _, t in sample]
        similar = [None if t is None else dict(t) for t in raw]
        sample = _audit_sample(self.seed, cid, size, ids, sigs, similar)
        yield beam.pvalue.TaggedOutput("audit", sample)


class ResolvedComponents(NamedTuple):
    """`ResolveComponents`' outputs (the ones `NearDedup` used to take from one ParDo)."""

    removed: beam.PCollection  # Removal, stage "near"
    clusters: beam.PCollection  # (kept id, "near:" + kept id), one per cluster with a removal
    sizes: beam.PCollection  # int: 1 + removed members, one per cluster with a removal
    audit: beam.PCollection  # (priority, cluster id, size, audit rows), see near_audit.py


class ResolveComponents(beam.PTransform):
    """(component label, candidate) -> removed, clusters, sizes, audit (see module docstring).

    Args:
        threshold: Jaccard at which a member is a near-copy of a kept one (exact when the
            candidates carry shingle sets, else estimated).
        seed: run seed (picks the audited clusters).
        max_members: the most members one element resolves, but for the fallback above.
    """

    def __init__(self, threshold: float, seed: int, max_members: int) -> None:
        super().__init__()
        if max_members < 2:
            raise ValueError(f"max_members must be >= 2, got {max_members}")
        self.threshold, self.seed, self.max_members = threshold, seed, max_members

    def expand(self, keyed):
        t, mm = self.threshold, self.max_members
        small = (
            keyed
            | "GroupComponents" >> GroupByKeyOnDisk()
            | "SmallOrSplit"
            >> beam.ParDo(_SmallOrSplitFn(t, self.seed, mm)).with_outputs(
                "clusters", "sizes", "audit", "split", main="removed"
            )
        )
        split, pending, decided, final = small.split, [], [], []
        for level in range(1, MAX_LEVELS + 1):
            sub = (
                split
                | f"GroupLevel{level}" >> beam.GroupByKey()
                | f"ResolveLevel{level}"
                >> beam.ParDo(_SubGroupFn(), t).with_outputs("survivors", main="pending")
            )
            nxt = (
                sub.survivors
                | f"GroupSurvivors{level}" >> beam.GroupByKey()
                | f"NextLevel{level}"
                >> beam.ParDo(_NextLevelFn(t, mm, level, level == MAX_LEVELS)).with_outputs(
                    "split", "final", main="decided"
                )
            )
            pending.append(sub.pending)
            decided.append(nxt.decided)
            final.append(nxt.final)
            split = nxt.split
        rechecked = (
            (*final, *pending)
            | "SurvivorsAndPending" >> beam.Flatten()
            | "GroupForRecheck" >> beam.GroupByKey()
            | "RecheckOrphans" >> beam.ParDo(_RecheckFn(t)).with_outputs("orphans", main="decided")
        )
        orphans = (
            rechecked.orphans
            | "GroupOrphans" >> beam.GroupByKey()
            | "ResolveOrphans" >> beam.ParDo(_OrphansFn(t, mm))
        )
        large = (
            (*decided, rechecked.decided, orphans)
            | "AllDecided" >> beam.Flatten()
            | "Decided" >> beam.ParDo(_DecidedFn()).with_outputs("members", main="removed")
        )
        clusters = (
            large.members
            | "ClusterSamples" >> beam.CombinePerKey(ClusterSampleFn())
            | "ClusterOutputs"
            >> beam.ParDo(_ClusterOutputsFn(self.seed)).with_outputs("clusters", "sizes", "audit")
        )
        return ResolvedComponents(
            removed=(small.removed, large.removed) | "AllRemoved" >> beam.Flatten(),
            **{
                name: (small[name], clusters[name]) | f"All{name.title()}" >> beam.Flatten()
                for name in ("clusters", "sizes", "audit")
            },
        )
