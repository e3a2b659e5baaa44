"""`NearDedup`: MinHash-LSH near-duplicate removal over per-document metadata.

Input: `NearCandidate`s (id, source, MinHash signature bytes, keep-priority rank). Steps:

1. band keys: each signature gives `bands` keys (a 64-bit hash of band index and values,
   computed for a batch of signatures at once); the candidate itself is the value, so
   GroupByKey brings each bucket its members' signatures. Keys that a `SharedBandSketch` of
   every band hash rules out as one-document buckets (most of them) are not shuffled. `curate
   run` enters here through `NearDedupOverRuns` (run_features.py), which computes the band
   keys per spill run and can filter them exactly (`band_filter: exact`); this class's own
   `expand` takes in-memory candidates (tests, benchmarks of the algorithm);
2. bucket edges: every pair of a small bucket, a star from the smallest id for buckets larger
   than `max_bucket`;
3. verification (`verify`): with "minhash", inside the bucket, pairs whose signature estimate
   is below the threshold are dropped, and star edges of oversized buckets are kept as they are
   (they only glue a component; step 5 decides, on the same similarity). With "exact", pairs
   (and an oversized bucket's star from its best-ranked member) whose estimate is not far below
   (`clusters.estimate_floor`) are checked on the exact Jaccard of their shingle sets: in the
   bucket when the candidates carry their sets (this class's own `expand`), else in the spill
   runs that hold the two texts (`run_features.VerifyPairsInRuns`: the candidates carry a
   (run, row) reference, no set crosses the bucket shuffle); an edge is (a, b, Jaccard) at >=
   threshold, and each member learns its verified neighbours in step 5's join, the only pairs
   it can be removed for. Members with an edge are emitted
   once per id: only they are joined with their labels in step 5. Shuffle cost: one ~0.6 kB
   candidate per band key that may repeat (3.5 per document on the scale corpus, ~2 kB) instead
   of three joins of every candidate with the edges; on the local runner the large groups go
   through files (`GroupByKeyOnDisk`);
4. components: on distributed runners, rounds of large-star/small-star, each a GroupByKey
   (`ConnectedComponents`, components_beam.py: no worker holds a component, hot nodes are
   split into sub-keys); on the local runner (`components: auto`), one union-find combiner,
   which gives the same labels without the rounds' fixed cost; every node labelled by the
   smallest id of its component;
5. per component (`ResolveComponents`, resolve.py): `resolve_component` keeps a document
   unless it is similar to an already kept better-ranked one, so removal never loses content
   through transitivity (see clusters.py). A component of at most `resolve_max_members` is
   resolved in one element; a larger one (a 16k-page template family) in salted sub-groups
   and levels, so no element holds it whole (but for the fallback resolve.py documents).

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
from apache_beam.coders import FastPrimitivesCoder
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from transforms.dedup.clusters import Member, estimate_floor, exact_jaccard, priority_order
from transforms.dedup.components_beam import Components
from transforms.dedup.config import NearDedupConfig
from transforms.dedup.lsh import (
    BandSketchAccumulator,
    BandSketchAccumulatorCoder,
    RepeatFilter,
    band_hashes,
    optimal_bands,
)
from transforms.dedup.near_audit import ClusterAudit
from transforms.dedup.resolve import ResolveComponents
from transforms.dedup.shingles import Shingler
from transforms.infra.disk_group import CombinePerKeyOnDisk, DistinctOnDisk, GroupByKeyOnDisk

_NS = "dedup_near"
_GLOBAL = (GlobalWindow(),)


class NearCandidate(NamedTuple):
    """Per-document metadata for near dedup."""

    id: str
    source: str
    minhash: bytes  # uint32 little-endian signature (DocFeatures.minhash)
    rank: tuple  # keep priority: larger is better (e.g. (quality, n_chars)); ties -> smaller id
    # `verify: exact` needs one of the two: sorted distinct uint32 little-endian shingle hashes
    # (in-memory candidates), or where the text is: (spill run key, row of its surviving rows)
    shingles: bytes | None = None
    ref: tuple[int, int] | None = None


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


def _well_formed(c: NearCandidate, num_perm: int) -> bool:
    return isinstance(c.minhash, bytes) and len(c.minhash) == 4 * num_perm


def _signature_matrix(cands: list[NearCandidate]) -> np.ndarray:
    return np.frombuffer(b"".join(c.minhash for c in cands), "<u4").reshape(len(cands), -1)


class BandSketchAccumulatorBeamCoder(beam.coders.Coder):
    """`BandSketchAccumulator` as primitive bytes (Beam would pickle and compress it)."""

    def __init__(self) -> None:
        self._inner = FastPrimitivesCoder()

    def encode(self, acc: BandSketchAccumulator) -> bytes:
        return self._inner.encode(BandSketchAccumulatorCoder.to_tuple(acc))

    def decode(self, encoded: bytes) -> BandSketchAccumulator:
        return BandSketchAccumulatorCoder.from_tuple(self._inner.decode(encoded))

    def is_deterministic(self) -> bool:
        return False


class HashSketchFn(beam.CombineFn):
    """Arrays of band hashes -> `RepeatFilter` (which hashes may occur more than once).

    Bounded: the accumulator is at most the fixed-size sketch (2 x 2^max_log2_cells bits)
    plus 2^20 pending hashes; the output is folded down while it stays sparse.
    """

    def __init__(self, max_log2_cells: int = 28) -> None:
        self.max_log2_cells = max_log2_cells

    def get_accumulator_coder(self):
        return BandSketchAccumulatorBeamCoder()

    def create_accumulator(self) -> BandSketchAccumulator:
        return BandSketchAccumulator(self.max_log2_cells)

    def add_input(self, acc: BandSketchAccumulator, hashes) -> BandSketchAccumulator:
        return acc.add(hashes)

    def merge_accumulators(self, accs) -> BandSketchAccumulator:
        accs = list(accs)
        return accs[0].merge(accs[1:])

    def extract_output(self, acc: BandSketchAccumulator) -> RepeatFilter:
        return acc.result()


class _CandidateBandHashes(beam.DoFn):
    """Candidates -> arrays of their band hashes (a batch of signatures hashed at once)."""

    def __init__(self, num_perm: int, bands: int, rows: int, batch: int = 2048) -> None:
        self.num_perm, self.bands, self.rows, self.batch = num_perm, bands, rows, batch

    def start_bundle(self):
        self._buf: list[NearCandidate] = []

    def process(self, c):
        if _well_formed(c, self.num_perm):
            self._buf.append(c)
            if len(self._buf) >= self.batch:
                yield self._flush()

    def finish_bundle(self):
        if self._buf:
            yield WindowedValue(self._flush(), MIN_TIMESTAMP, _GLOBAL)

    def _flush(self) -> np.ndarray:
        cands, self._buf = self._buf, []
        return band_hashes(_signature_matrix(cands), self.bands, self.rows)


class _BandKeysFn(beam.DoFn):
    """Candidates -> (band key, candidate tuple) per band; band hashes computed per batch.

    The candidate travels with its band keys so that buckets verify their own pairs: no join
    of every candidate with the edges (see the module docstring for the shuffle cost). Band
    keys that the sketch shows to be unique (most of them: one-document buckets) are not
    emitted. Malformed signatures are counted and passed over (the document is kept).
    """

    def __init__(self, num_perm: int, bands: int, rows: int, batch: int = 2048) -> None:
        self.num_perm, self.bands, self.rows, self.batch = num_perm, bands, rows, batch
        self.bad = beam.metrics.Metrics.counter(_NS, "bad_signature")
        self.unique = beam.metrics.Metrics.counter(_NS, "band_keys_not_shuffled")

    def start_bundle(self):
        self._buf: list[NearCandidate] = []

    def process(self, c, sketch: RepeatFilter | None):
        if not _well_formed(c, self.num_perm):
            self.bad.inc()
            return
        self._sketch = sketch  # kept for the flush in finish_bundle (no side input there)
        self._buf.append(c)
        if len(self._buf) >= self.batch:
            yield from self._flush(windowed=False)

    def finish_bundle(self):
        yield from self._flush(windowed=True)

    def _flush(self, windowed: bool):
        if not self._buf:
            return
        cands, self._buf = self._buf, []
        hashes = band_hashes(_signature_matrix(cands), self.bands, self.rows)
        if self._sketch is None:  # an empty sketch input: keep every key (always correct)
            keep = np.ones(hashes.shape, dtype=bool)
        else:
            keep = self._sketch.may_repeat(hashes)
        self.unique.inc(int(keep.size - np.count_nonzero(keep)))
        for i, b in zip(*np.nonzero(keep), strict=True):
            kv = (int(hashes[i, b]), tuple(cands[i]))
            yield WindowedValue(kv, MIN_TIMESTAMP, _GLOBAL) if windowed else kv


class _BucketEdgesFn(beam.DoFn):
    """One LSH bucket -> its edges, and its members that have one (tagged "members").

    `verify` "minhash" / "off": small buckets give every pair, dropped unless the signature
    estimate reaches the threshold ("off" keeps every pair); buckets over `max_bucket` give a
    star from the smallest id, not verified (it only glues a component; survivor choice
    compares the members on the same similarity). Edges are (a, b).

    `verify` "exact": pairs whose estimate is not far below the threshold
    (`clusters.estimate_floor`) are checked on the exact Jaccard of the two shingle sets; an
    oversized bucket gives a star from its best-ranked member, checked the same way. Candidates
    that carry their sets (`NearDedup` on in-memory candidates) are checked here: main output
    (a, b, Jaccard) for pairs at >= threshold. Candidates that carry a spill-run reference
    instead (`NearDedupOverRuns`) give (a, b, ref a, ref b), tagged "unverified": their runs
    compute the Jaccard (run_features.py), so no set crosses the bucket shuffle. Members go
    out without their set or reference either way.
    """

    STAR, MEMBERS, UNVERIFIED = "star", "members", "unverified"

    def __init__(self, max_bucket: int, threshold: float, verify: str) -> None:
        self.max_bucket, self.threshold, self.verify = max_bucket, threshold, verify
        self.oversized = beam.metrics.Metrics.counter(_NS, "oversized_buckets")
        self.dropped = beam.metrics.Metrics.counter(_NS, "edges_rejected_by_verification")

    def start_bundle(self):
        # A near-duplicate pair shares most of its bands (4x as many pair copies as pairs on the
        # real-text benchmark), and so does a member: what this bundle sent recently is not
        # sent again. Bounded (cleared when full); the steps after drop copies anyway, so the
        # outputs do not depend on what is remembered, only their copies do.
        self._sent: set = set()

    def _fresh(self, key) -> bool:
        if key in self._sent:
            return False
        if len(self._sent) >= _RECENT_MAX:
            self._sent.clear()
        self._sent.add(key)
        return True

    def process(self, keyed):
        _, items = keyed
        by_id = {item[0]: item for item in items}
        if len(by_id) < 2:
            return
        ids = sorted(by_id)
        if self.verify == "exact":
            yield from self._exact(ids, by_id)
            return
        if len(ids) > self.max_bucket:
            self.oversized.inc()
            for v in ids[1:]:
                yield beam.pvalue.TaggedOutput(self.STAR, (ids[0], v))
            for i in ids:
                yield beam.pvalue.TaggedOutput(self.MEMBERS, (i, by_id[i]))
            return
        iu, iv = np.triu_indices(len(ids), k=1)
        if self.verify != "off":
            sigs = _signatures(ids, by_id)
            equal = np.count_nonzero(sigs[iu] == sigs[iv], axis=1)
            ok = equal >= self.threshold * sigs.shape[1]
            self.dropped.inc(int(len(ok) - np.count_nonzero(ok)))
            iu, iv = iu[ok], iv[ok]
        for a, b in zip(iu.tolist(), iv.tolist(), strict=True):
            yield ids[a], ids[b]
        for i in sorted(set(iu.tolist()) | set(iv.tolist())):
            yield beam.pvalue.TaggedOutput(self.MEMBERS, (ids[i], by_id[ids[i]]))

    def _exact(self, ids: list[str], by_id: dict):
        if len(ids) > self.max_bucket:
            self.oversized.inc()
            ranked = priority_order([Member(i, by_id[i][3], None) for i in ids])
            hub = ids.index(ranked[0].id)
            others = np.array([k for k in range(len(ids)) if k != hub], dtype=np.int64)
            iu, iv = np.full(len(others), hub, dtype=np.int64), others
            swap = iu > iv  # pairs as (smaller id, larger id), like the bucket pairs
            iu, iv = np.where(swap, iv, iu), np.where(swap, iu, iv)
        else:
            iu, iv = np.triu_indices(len(ids), k=1)
        sigs = _signatures(ids, by_id)
        equal = np.count_nonzero(sigs[iu] == sigs[iv], axis=1)
        # the estimate only skips pairs far below; the sets decide the rest
        ok = equal >= estimate_floor(self.threshold, sigs.shape[1]) * sigs.shape[1]
        self.dropped.inc(int(len(ok) - np.count_nonzero(ok)))
        iu, iv = iu[ok].tolist(), iv[ok].tolist()
        if not iu:
            return
        sets: dict[int, np.ndarray] = {}
        for a, b in zip(iu, iv, strict=True):
            if not self._fresh((ids[a], ids[b])):
                continue  # sent from another bucket of this bundle (its decision is the same)
            ca, cb = by_id[ids[a]], by_id[ids[b]]
            ref_a, ref_b = _field(ca, _REF), _field(cb, _REF)
            if ref_a is not None and ref_b is not None:
                yield beam.pvalue.TaggedOutput(self.UNVERIFIED, (ids[a], ids[b], ref_a, ref_b))
                continue
            for k, c in ((a, ca), (b, cb)):
                if k not in sets:
                    sets[k] = _shingle_set(c)
            sim = exact_jaccard(sets[a], sets[b])
            if sim >= self.threshold:
                yield ids[a], ids[b], sim
            else:
                self.dropped.inc()
        for k in sorted(set(iu) | set(iv)):
            if self._fresh(ids[k]):
                yield beam.pvalue.TaggedOutput(self.MEMBERS, (ids[k], tuple(by_id[ids[k]][:4])))


_RECENT_MAX = 1 << 16  # pairs and members a bucket bundle remembers having sent (~10 MB)
_SHINGLES, _REF = 4, 5  # NearCandidate fields beyond (id, source, minhash, rank)


def _field(cand, index: int):
    return cand[index] if len(cand) > index else None


def _signatures(ids: list[str], by_id: dict) -> np.ndarray:
    return np.frombuffer(b"".join(by_id[i][2] for i in ids), "<u4").reshape(len(ids), -1)


def _shingle_set(cand) -> np.ndarray:
    raw = _field(cand, _SHINGLES)
    if raw is None:
        raise ValueError(
            f"dedup.near.verify: exact needs candidates with shingle sets or spill-run "
            f"references; {cand[0]!r} has neither"
        )
    return np.frombuffer(raw, dtype="<u4")


def _neighbour_entries(edge):
    """(a, b, Jaccard) -> (a, (2, (b, J))) and (b, (2, (a, J))): the label join's third tag."""
    a, b, sim = edge
    yield a, (2, (b, sim))
    yield b, (2, (a, sim))


def _first(values):
    """Any one of equal values (every copy of a candidate is the same tuple)."""
    return next(iter(values))


def _with_label(keyed):
    """(id, [(0, candidate tuple), (1, label), (2, (neighbour, Jaccard))...]) ->
    (label, candidate): with `verify: exact`, the candidate's fifth field is its verified
    neighbours ((id, exact Jaccard), ... sorted), the only pairs resolve.py removes it for."""
    _, tagged = keyed
    found, similar = {}, []
    for tag, value in tagged:
        if tag == 2:
            similar.append(tuple(value))
        else:
            found[tag] = value
    if 0 in found and 1 in found:
        cand = tuple(found[0])[:4]
        yield found[1], (*cand, tuple(sorted(similar)) if similar else None)


class SizeHistogramFn(beam.CombineFn):
    """Cluster sizes -> {size: clusters}; the accumulator has one entry per distinct size."""

    def create_accumulator(self) -> dict[int, int]:
        return {}

    def add_input(self, acc: dict[int, int], size) -> dict[int, int]:
        size, n = size if isinstance(size, tuple) else (size, 1)  # (0, n): n candidates
        acc[size] = acc.get(size, 0) + n
        return acc

    def merge_accumulators(self, accs) -> dict[int, int]:
        out: dict[int, int] = {}
        for acc in accs:
            for size, n in acc.items():
                out[size] = out.get(size, 0) + n
        return out

    def extract_output(self, acc: dict[int, int]) -> dict[int, int]:
        return acc


def _with_singles(hist: dict[int, int]) -> dict[int, int]:
    """Adds size 1 (candidates in no cluster with a removal); key 0 counted the candidates."""
    hist = {int(size): int(count) for size, count in hist.items()}
    n_candidates = hist.pop(0, 0)
    singles = n_candidates - sum(size * count for size, count in hist.items())
    if singles > 0:
        hist[1] = singles
    return dict(sorted(hist.items()))


class NearDedup(beam.PTransform):
    """MinHash-LSH near dedup of `NearCandidate`s (see the module docstring).

    Args:
        cfg: the `dedup.near` config section.
        seed: run seed (picks the audited clusters; signatures carry their own permutations).
        tmp_dir: a folder the run owns; on an in-process runner the shuffles are grouped
            through files there (`GroupByKeyOnDisk`), not in the runner's memory. None: the
            pipeline's `disk_group.group_dir` (plain GroupByKeys when it has none).
    """

    def __init__(self, cfg: NearDedupConfig, seed: int = 0, tmp_dir: str | None = None) -> None:
        super().__init__()
        problems = cfg.validate()
        if problems:
            raise ValueError("invalid dedup.near config: " + "; ".join(problems))
        self.cfg, self.seed, self.tmp_dir = cfg, seed, tmp_dir
        self.bands, self.rows = resolve_bands(cfg)
        # the MinHash's own shingling: exact verification compares the sets it estimates
        self.shingler = (
            Shingler(cfg.ngram, cfg.lowercase, cfg.strip_punct, cfg.fold_digits)
            if cfg.verify == "exact"
            else None
        )

    def expand(self, cands):
        cfg = self.cfg
        sketch = (
            cands
            | "BandHashes" >> beam.ParDo(_CandidateBandHashes(cfg.num_perm, self.bands, self.rows))
            # bounded: a fixed-size bit array (RepeatFilter) + at most 2^20 pending hashes
            | "BandSketch" >> beam.CombineGlobally(HashSketchFn()).without_defaults()
        )
        entries = cands | "BandKeys" >> beam.ParDo(
            _BandKeysFn(cfg.num_perm, self.bands, self.rows),
            beam.pvalue.AsSingleton(sketch, default_value=None),  # bounded: fixed-size
        )
        marks = cands | "CandidateMarks" >> beam.Map(lambda _: (0, 1))
        return self.from_band_entries(entries, marks)

    def from_band_entries(self, entries, marks, verify_in_runs=None) -> dict[str, Any]:
        """Steps 2-5 of the module docstring, from (band hash, candidate tuple) entries.

        `marks` is (0, n) per n candidates (the size-1 count of the cluster histogram).
        `verify_in_runs`: with `verify: exact`, a PTransform that turns the (a, b, ref a,
        ref b) pairs of candidates carrying spill-run references into (a, b, Jaccard) for
        pairs at >= threshold (`run_features.VerifyPairsInRuns`).
        """
        cfg = self.cfg
        buckets = (
            entries
            # the largest shuffle of the run (every band key that may repeat, with its
            # candidate): on the local runner through files, not the runner's memory
            | "GroupBuckets" >> GroupByKeyOnDisk(self.tmp_dir)
            | "BucketEdges"
            >> beam.ParDo(_BucketEdgesFn(cfg.max_bucket, cfg.threshold, cfg.verify)).with_outputs(
                _BucketEdgesFn.STAR,
                _BucketEdgesFn.MEMBERS,
                _BucketEdgesFn.UNVERIFIED,
                main="pairs",
            )
        )
        # the candidates with at least one edge (only these are joined with their labels)
        members = buckets[_BucketEdgesFn.MEMBERS] | "DistinctMembers" >> CombinePerKeyOnDisk(_first)
        tagged = [members | "TagMembers" >> beam.Map(lambda kv: (kv[0], (0, kv[1])))]
        if cfg.verify == "exact":
            if verify_in_runs is not None:
                # every candidate carries a run reference: no pair was decided in a bucket, and
                # the runs see each pair once (its copies from several buckets meet in a's run)
                edges = buckets[_BucketEdgesFn.UNVERIFIED] | "VerifyInRuns" >> verify_in_runs
            else:
                edges = buckets.pairs | "DistinctPairs" >> DistinctOnDisk()
            tagged.append(edges | "Neighbours" >> beam.FlatMap(_neighbour_entries))
            all_edges = edges | "EdgeIds" >> beam.Map(lambda e: (e[0], e[1]))
        else:
            pairs = buckets.pairs | "DistinctPairs" >> DistinctOnDisk()
            all_edges = (pairs, buckets[_BucketEdgesFn.STAR]) | "AllEdges" >> beam.Flatten()
        components = Components(cfg.components, cfg.max_component_rounds)
        labels = (all_edges | "Components" >> components)["labels"]
        tagged.append(labels | "TagLabels" >> beam.Map(lambda kv: (kv[0], (1, kv[1]))))
        resolved = (
            tagged
            | "MembersAndLabels" >> beam.Flatten()
            | "JoinLabels" >> GroupByKeyOnDisk()
            | "KeyByComponent" >> beam.FlatMap(_with_label)
            | "ResolveClusters"
            >> ResolveComponents(cfg.threshold, self.seed, cfg.resolve_max_members)
        )
        cluster_sizes = (
            (resolved.sizes, marks)
            | "SizesAndCandidates" >> beam.Flatten()
            # bounded: the accumulator has one entry per distinct cluster size (0 counts the
            # candidates)
            | "SizeHistogram" >> beam.CombineGlobally(SizeHistogramFn())
            | "WithSingles" >> beam.Map(_with_singles)
        )
        audit = resolved.audit | "Audit" >> ClusterAudit(cfg.audit_clusters)
        return {
            "removed": resolved.removed,
            "clusters": resolved.clusters,
            "cluster_sizes": cluster_sizes,
            "audit": audit,
        }
