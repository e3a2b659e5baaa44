"""`NearDedup`: MinHash-LSH near-duplicate removal over per-document metadata.

Input: `NearCandidate`s (id, source, MinHash signature bytes, keep-priority rank). Steps:

1. band keys: each signature gives `bands` keys (band index + band hash); GroupByKey;
2. bucket edges: every pair of a small bucket, a star from the smallest id for buckets larger
   than `max_bucket`;
3. verification (optional): pair edges whose estimated Jaccard (full signature) is below the
   threshold are dropped, after two joins that bring both signatures to the edge; star edges
   of oversized buckets are kept as they are (they only glue a component; step 5 decides);
4. components: on distributed runners, rounds of large-star/small-star, each a GroupByKey
   (`ConnectedComponents`, components_beam.py: no worker holds a component, hot nodes are
   split into sub-keys); on the local runner (`components: auto`), one union-find combiner,
   which gives the same labels without the rounds' fixed cost; every node labelled by the
   smallest id of its component;
5. per component (GroupByKey on the label): `resolve_component` keeps a document unless it is
   similar to an already kept better-ranked one, so removal never loses content through
   transitivity (see clusters.py).

Outputs (dict of PCollections): "removed" (`Removal`, stage "near"), "clusters"
((kept id, cluster id) for every kept document with at least one removed near-copy),
"cluster_sizes" (one dict {size: count}, size 1 = documents in no such cluster; a combiner whose
accumulator has one entry per distinct size), "audit"
(dicts with pairwise estimated Jaccard inside a deterministic sample of clusters). Cluster ids
are "near:" + kept id. The result depends only on the input set, config and seed.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np
import xxhash
from apache_beam.coders import FastPrimitivesCoder

from transforms.dedup.clusters import Member, resolve_component
from transforms.dedup.components import bucket_edges
from transforms.dedup.components_beam import Components
from transforms.dedup.config import NearDedupConfig
from transforms.dedup.lsh import band_keys, optimal_bands
from transforms.dedup.minhash import estimate_jaccard
from transforms.dedup.near_audit import AUDIT_MEMBERS, ClusterAudit
from transforms.record import Removal

_NS = "dedup_near"


class NearCandidate(NamedTuple):
    """Per-document metadata for near dedup."""

    id: str
    source: str
    minhash: bytes  # uint32 little-endian signature (DocFeatures.minhash)
    rank: tuple  # keep priority: larger is better (e.g. (quality, n_chars)); ties -> smaller id


class NearCandidateCoder(beam.coders.Coder):
    """Encodes a NearCandidate as a primitive tuple (no pickling per element)."""

    def __init__(self) -> None:
        self._inner = FastPrimitivesCoder()

    def encode(self, value: NearCandidate) -> bytes:
        return self._inner.encode(tuple(value))

    def decode(self, encoded: bytes) -> NearCandidate:
        return NearCandidate(*self._inner.decode(encoded))

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self):
        return NearCandidate


beam.coders.registry.register_coder(NearCandidate, NearCandidateCoder)


def _signature(c: NearCandidate) -> np.ndarray:
    return np.frombuffer(c.minhash, dtype="<u4")


@functools.lru_cache(maxsize=32)
def lsh_params(cfg_key: tuple) -> tuple[int, int]:
    threshold, num_perm, fp_w, fn_w = cfg_key
    return optimal_bands(threshold, num_perm, fp_w, fn_w)


def resolve_bands(cfg: NearDedupConfig) -> tuple[int, int]:
    """(bands, rows): explicit in the config, or the optimum for its LSH threshold."""
    if cfg.bands and cfg.rows:
        return cfg.bands, cfg.rows
    key = (cfg.effective_lsh_threshold(), cfg.num_perm, cfg.fp_weight, cfg.fn_weight)
    return lsh_params(key)


class _ValidSignatureFn(beam.DoFn):
    """Passes candidates with a well-formed signature; counts the others (they are kept)."""

    def __init__(self, num_perm: int) -> None:
        self.num_perm = num_perm
        self.bad = beam.metrics.Metrics.counter(_NS, "bad_signature")

    def process(self, c: NearCandidate):
        if isinstance(c.minhash, bytes) and len(c.minhash) == 4 * self.num_perm:
            yield c
        else:
            self.bad.inc()


def _band_keys(c: NearCandidate, bands: int, rows: int):
    for key in band_keys(_signature(c), bands, rows):
        yield key, c.id


class _BucketEdgesFn(beam.DoFn):
    STAR = "star"

    def __init__(self, max_bucket: int) -> None:
        self.max_bucket = max_bucket
        self.oversized = beam.metrics.Metrics.counter(_NS, "oversized_buckets")

    def process(self, keyed):
        _, ids = keyed
        edges, is_star = bucket_edges(ids, self.max_bucket)
        if is_star:
            self.oversized.inc()
        for edge in edges:
            yield beam.pvalue.TaggedOutput(self.STAR, edge) if is_star else edge


def _edge_halves(keyed):
    """(u, {cand, edge: [v]}) -> (v, (u, signature of u))."""
    _, group = keyed
    cands = list(group["cand"])
    if not cands:
        return
    u = cands[0]
    for v in group["edge"]:
        yield v, (u.id, u.minhash)


class _VerifyFn(beam.DoFn):
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.dropped = beam.metrics.Metrics.counter(_NS, "edges_rejected_by_verification")

    def process(self, keyed):
        _, group = keyed
        cands = list(group["cand"])
        if not cands:
            return
        v = cands[0]
        sig_v = _signature(v)
        for u_id, u_minhash in group["half"]:
            if estimate_jaccard(np.frombuffer(u_minhash, "<u4"), sig_v) >= self.threshold:
                yield u_id, v.id
            else:
                self.dropped.inc()


def _with_label(keyed):
    _, group = keyed
    labels, cands = list(group["label"]), list(group["cand"])
    if labels and cands:
        yield labels[0], cands[0]


class _ResolveFn(beam.DoFn):
    """(label, members) -> removals, kept cluster memberships, sizes and audit samples."""

    def __init__(self, threshold: float, seed: int) -> None:
        self.threshold, self.seed = threshold, seed
        self.components = beam.metrics.Metrics.counter(_NS, "components")
        self.removed = beam.metrics.Metrics.counter(_NS, "removed")
        self.rechained = beam.metrics.Metrics.counter(_NS, "kept_chained_members")

    def process(self, keyed):
        _, cands = keyed
        by_id = {c.id: c for c in cands}
        members = [Member(c.id, c.rank, _signature(c)) for c in by_id.values()]
        decisions = resolve_component(members, self.threshold)
        self.components.inc()
        clusters: dict[str, list] = {}
        for d in decisions:
            clusters.setdefault(d.kept_id, [])
            if not d.kept:
                clusters[d.kept_id].append(d)
                c = by_id[d.id]
                cid = "near:" + d.kept_id
                self.removed.inc()
                yield Removal(c.id, c.source, "near", cid, d.kept_id, d.similarity)
        self.rechained.inc(len(clusters) - 1)  # representatives beyond the best one
        for kept_id, removed in clusters.items():
            if not removed:
                continue
            cid = "near:" + kept_id
            yield beam.pvalue.TaggedOutput("clusters", (kept_id, cid))
            yield beam.pvalue.TaggedOutput("sizes", 1 + len(removed))
            ids = [kept_id] + [d.id for d in removed][: AUDIT_MEMBERS - 1]  # kept first
            priority = xxhash.xxh64_intdigest(f"{self.seed}:{cid}".encode())
            yield beam.pvalue.TaggedOutput("audit", (priority, cid, 1 + len(removed), ids))


class SizeHistogramFn(beam.CombineFn):
    """Cluster sizes -> {size: clusters}; the accumulator has one entry per distinct size."""

    def create_accumulator(self) -> dict[int, int]:
        return {}

    def add_input(self, acc: dict[int, int], size: int) -> dict[int, int]:
        acc[size] = acc.get(size, 0) + 1
        return acc

    def merge_accumulators(self, accs) -> dict[int, int]:
        out: dict[int, int] = {}
        for acc in accs:
            for size, n in acc.items():
                out[size] = out.get(size, 0) + n
        return out

    def extract_output(self, acc: dict[int, int]) -> dict[int, int]:
        return acc


def _with_singles(hist: dict[int, int], n_candidates: int) -> dict[int, int]:
    """Adds size 1: candidates in no cluster with a removal."""
    hist = {int(size): int(count) for size, count in hist.items()}
    singles = n_candidates - sum(size * count for size, count in hist.items())
    if singles > 0:
        hist[1] = singles
    return dict(sorted(hist.items()))


class NearDedup(beam.PTransform):
    """MinHash-LSH near dedup of `NearCandidate`s (see the module docstring).

    Args:
        cfg: the `dedup.near` config section.
        seed: run seed (picks the audited clusters; signatures carry their own permutations).
    """

    def __init__(self, cfg: NearDedupConfig, seed: int = 0) -> None:
        super().__init__()
        problems = cfg.validate()
        if problems:
            raise ValueError("invalid dedup.near config: " + "; ".join(problems))
        self.cfg, self.seed = cfg, seed
        self.bands, self.rows = resolve_bands(cfg)

    def expand(self, cands) -> dict[str, Any]:
        cfg = self.cfg
        valid = cands | "ValidSignatures" >> beam.ParDo(_ValidSignatureFn(cfg.num_perm))
        keyed = valid | "KeyById" >> beam.Map(lambda c: (c.id, c))
        edges = (
            valid
            | "BandKeys" >> beam.FlatMap(_band_keys, self.bands, self.rows)
            | "GroupBuckets" >> beam.GroupByKey()
            | "BucketEdges"
            >> beam.ParDo(_BucketEdgesFn(cfg.max_bucket)).with_outputs(
                _BucketEdgesFn.STAR, main="pairs"
            )
        )
        pairs = edges.pairs | "DistinctPairs" >> beam.Distinct()
        if cfg.verify:
            halves = (
                {"cand": keyed, "edge": pairs}
                | "JoinFirstEnd" >> beam.CoGroupByKey()
                | "EdgeHalves" >> beam.FlatMap(_edge_halves)
            )
            pairs = (
                {"cand": keyed, "half": halves}
                | "JoinSecondEnd" >> beam.CoGroupByKey()
                | "VerifyEdges" >> beam.ParDo(_VerifyFn(cfg.threshold))
            )
        labels = (
            (pairs, edges[_BucketEdgesFn.STAR])
            | "AllEdges" >> beam.Flatten()
            | "Components" >> Components(cfg.components, cfg.max_component_rounds)
        )["labels"]
        resolved = (
            {"cand": keyed, "label": labels}
            | "JoinLabels" >> beam.CoGroupByKey()
            | "KeyByComponent" >> beam.FlatMap(_with_label)
            | "GroupComponents" >> beam.GroupByKey()
            | "ResolveClusters"
            >> beam.ParDo(_ResolveFn(cfg.threshold, self.seed)).with_outputs(
                "clusters", "sizes", "audit", main="removed"
            )
        )
        # bounded: one count
        n_cands = cands | "CountCandidates" >> beam.combiners.Count.Globally()
        cluster_sizes = (
            resolved.sizes
            # bounded: the accumulator has one entry per distinct cluster size
            | "SizeHistogram" >> beam.CombineGlobally(SizeHistogramFn())
            | "WithSingles"
            >> beam.Map(
                _with_singles,
                n_candidates=beam.pvalue.AsSingleton(n_cands),  # bounded: one count
            )
        )
        audit = (resolved.audit, keyed) | "Audit" >> ClusterAudit(cfg.audit_clusters)
        return {
            "removed": resolved.removed,
            "clusters": resolved.clusters,
            "cluster_sizes": cluster_sizes,
            "audit": audit,
        }
