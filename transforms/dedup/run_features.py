"""Dedup features read back from the spill runs, for the exact-dedup survivors only.

Stage 1 writes each record's MinHash signature and line hashes into its spill run, next to the
text (`transforms/infra/spill.py`), instead of carrying them in `DocMeta` through the duplicate-id and
exact-dedup shuffles. Those shuffles then move ~100 bytes per record instead of ~700, and on
the local runner, which holds every shuffle in memory, that is most of the metadata's memory.

Near dedup and boilerplate counting need the features of the records that survive duplicate-id
resolution and exact dedup. Rather than a join of every record with its features, the few
records those two steps drop are routed to their spill run (`RunsWithDrops`: one CoGroupByKey of
the runs with the dropped (run key, input position) pairs), and each run is read once per use,
its dropped rows masked out:

- `RunLineHashes`: the line-hash bytes of each surviving record (boilerplate counting);
- `NearDedupOverRuns`: `NearDedup` whose band hashes are computed per run, vectorised over the
  run's signature column; the sketch of repeated band hashes is built from a first read, and the
  band entries (band hash, candidate) are emitted from a second read, so no PCollection of every
  candidate's signature ever exists between stages. With `dedup.near.band_filter: exact` (the
  default on distributed runners, where the fixed-size sketch fills up past ~2e7 documents) the
  second read emits only (band hash, (run key, row)) references; a GroupByKey on the band hash
  keeps the keys that two or more documents share, their references go back to their runs (a
  CoGroupByKey on the run key), and a third read attaches the candidates to those alone. The
  same buckets either way, so the same result; the band shuffle then carries ~30 B per band key
  plus a candidate per repeated key instead of a candidate per key the sketch lets through.

With `dedup.near.verify: exact` each candidate also carries its shingle set (sorted distinct 32-bit
shingle hashes, `clusters.shingle_set`), computed here from the run's text: the run is the one
place the text already is, so no text moves; the buckets and components then decide on exact
Jaccard (near.py, clusters.py). Only candidates (documents with a band key that may repeat)
pay for it.

Every element is one run's worth (a run is bounded by the spill size, 64 MiB of text); reads
are one file each (runs, not runs x anything), memory-mapped when local.
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.dedup.clusters import exact_jaccard, shingle_set
from transforms.dedup.keep import near_rank
from transforms.dedup.lsh import RepeatFilter, band_hashes
from transforms.dedup.near import HashSketchFn, NearDedup
from transforms.infra.disk_group import CoGroupByKeyOnDisk, GroupByKeyOnDisk
from transforms.infra.runners import is_local_runner
from transforms.infra.spill import SpillRun, read_run

_NS = "dedup_near"
_CHUNK = 8192  # signatures hashed per vectorised call
_SET_BATCH = 1024  # texts shingled per vectorised call (exact verification)


class RunWork(NamedTuple):
    """One spill run and the input positions of its records dropped before near dedup."""

    path: str
    key: int
    dropped: tuple[int, ...] = ()


def _run_work(keyed):
    _, grouped = keyed
    for run in grouped["run"]:
        yield RunWork(run.path, run.key, tuple(sorted(grouped["drop"])))


class RunsWithDrops(beam.PTransform):
    """{"runs": SpillRun, "drops": (run key, pos)} -> `RunWork` per run."""

    def expand(self, parts):
        return (
            {
                "run": parts["runs"] | "RunByKey" >> beam.Map(_keyed_run),
                "drop": parts["drops"],
            }
            | "JoinDrops" >> beam.CoGroupByKey()
            | "RunWork" >> beam.FlatMap(_run_work)
        )


def _keyed_run(run: SpillRun):
    return run.key, run


class _Rank(NamedTuple):
    quality: float
    n_chars: int


def surviving_rows(work: RunWork, columns: list[str]) -> pa.Table:
    """The run's rows not dropped, with `pos` and `columns`."""
    table = read_run(work.path).select(["pos", *columns])
    if work.dropped:
        pos = table.column("pos").to_numpy()
        table = table.filter(pa.array(~np.isin(pos, np.asarray(work.dropped, dtype=np.int64))))
    return table


def signature_rows(col: pa.ChunkedArray, num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """(row indices of well-formed signatures, their (n, num_perm) uint32 matrix)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    lengths = pc.fill_null(pc.binary_length(arr), 0).to_numpy(zero_copy_only=False)
    ok = np.flatnonzero(lengths == 4 * num_perm)
    if len(ok) == 0:
        return ok, np.zeros((0, num_perm), dtype=np.uint32)
    good = arr.take(pa.array(ok))
    offsets = np.frombuffer(good.buffers()[1], dtype=np.int32)[
        good.offset : good.offset + len(good) + 1
    ]
    data = np.frombuffer(good.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return ok, data.view("<u4").reshape(len(ok), num_perm)


class _RunLineHashesFn(beam.DoFn):
    def process(self, work: RunWork):
        col = surviving_rows(work, ["line_hashes"]).column("line_hashes")
        for value in col.to_pylist():
            if value:
                yield value


class RunLineHashes(beam.PTransform):
    """`RunWork` -> the line-hash bytes of every surviving record (boilerplate counting)."""

    def expand(self, work):
        return work | "ReadLineHashes" >> beam.ParDo(_RunLineHashesFn())


class _RunSignaturesFn(beam.DoFn):
    """What the per-run near-dedup steps share: a run's surviving signatures, in chunks."""

    def __init__(self, num_perm: int, bands: int, rows: int, keep: str, refs: bool) -> None:
        self.num_perm, self.bands, self.rows, self.keep = num_perm, bands, rows, keep
        self.refs = refs  # verify: exact: candidates carry (run key, row), see VerifyPairsInRuns
        self.bad = beam.metrics.Metrics.counter(_NS, "bad_signature")
        self.unique = beam.metrics.Metrics.counter(_NS, "band_keys_not_shuffled")

    def setup(self) -> None:
        self._rank = near_rank(self.keep)

    def _read(self, work: RunWork) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        table = surviving_rows(work, ["id", "source", "quality", "n_chars", "minhash"])
        ok, sigs = signature_rows(table.column("minhash"), self.num_perm)
        return table, ok, sigs

    def _may_repeat(self, work: RunWork, sketch: RepeatFilter | None):
        """(table, rows, signatures, band hashes, hit rows, hit bands) per chunk with a band key
        the sketch cannot rule out as a one-document bucket."""
        table, ok, all_sigs = self._read(work)
        for lo in range(0, len(ok), _CHUNK):
            rows, sigs = ok[lo : lo + _CHUNK], all_sigs[lo : lo + _CHUNK]
            hashes = band_hashes(sigs, self.bands, self.rows)
            keep = np.ones(hashes.shape, bool) if sketch is None else sketch.may_repeat(hashes)
            self.unique.inc(int(keep.size - np.count_nonzero(keep)))
            hit_i, hit_b = np.nonzero(keep)
            if len(hit_i):
                yield table, rows, sigs, hashes, hit_i.tolist(), hit_b.tolist()

    def _columns(self, table: pa.Table) -> list:
        return [table.column(c).to_pylist() for c in ("id", "source", "quality", "n_chars")]

    def _candidate(self, cols: list, run_key: int, row: int, sig: np.ndarray) -> tuple:
        ids, sources, quality, n_chars = cols
        rank = self._rank(_Rank(quality[row], n_chars[row]))
        ref = (run_key, row) if self.refs else None
        return ids[row], sources[row], sig.astype("<u4").tobytes(), rank, None, ref


class _RunBandHashesFn(_RunSignaturesFn):
    """`RunWork` -> arrays of its band hashes (for the sketch), and its candidate count
    (tagged "count", as (0, n) for the cluster-size histogram)."""

    COUNT = "count"

    def process(self, work: RunWork):
        table, ok, sigs = self._read(work)
        self.bad.inc(table.num_rows - len(ok))
        for lo in range(0, len(ok), _CHUNK):
            yield band_hashes(sigs[lo : lo + _CHUNK], self.bands, self.rows)
        yield beam.pvalue.TaggedOutput(self.COUNT, (0, len(ok)))


class _RunEntriesFn(_RunSignaturesFn):
    """`RunWork` -> (band hash, candidate tuple) for the band keys that may repeat."""

    def process(self, work: RunWork, sketch: RepeatFilter | None):
        cols = None
        for table, rows, sigs, hashes, hit_i, hit_b in self._may_repeat(work, sketch):
            if cols is None:  # once per run, and only for a run with a possible duplicate
                cols = self._columns(table)
            cache: dict[int, tuple] = {}
            for i, b in zip(hit_i, hit_b, strict=True):
                cand = cache.get(i)
                if cand is None:
                    cand = cache[i] = self._candidate(cols, work.key, int(rows[i]), sigs[i])
                yield int(hashes[i, b]), cand


class _RunRefsFn(_RunSignaturesFn):
    """`RunWork` -> (band hash, (run key, row)) for the band keys that may repeat: the exact
    filter's first pass, 8-byte references instead of candidates."""

    def process(self, work: RunWork, sketch: RepeatFilter | None):
        for _, rows, _, hashes, hit_i, hit_b in self._may_repeat(work, sketch):
            for i, b in zip(hit_i, hit_b, strict=True):
                yield int(hashes[i, b]), (work.key, int(rows[i]))


def _repeated_refs(keyed):
    """(band hash, refs) -> (run key, (row, band hash)) for each ref of a key held by two or
    more documents (a band hash names one band of one signature: a document gives it once)."""
    band_hash, refs = keyed
    refs = list(refs)
    if len(refs) >= 2:
        for run_key, row in refs:
            yield run_key, (row, band_hash)


class _RunWantedEntriesFn(_RunSignaturesFn):
    """(run key, {"work": [RunWork], "want": [(row, band hash)]}) -> (band hash, candidate)."""

    def process(self, keyed):
        _, grouped = keyed
        wanted = sorted(grouped["want"])
        for work in grouped["work"]:
            if not wanted:
                continue
            table, ok, sigs = self._read(work)
            cols = self._columns(table)
            cache: dict[int, tuple] = {}
            for row, band_hash in wanted:
                cand = cache.get(row)
                if cand is None:
                    at = int(np.searchsorted(ok, row))  # ok: sorted rows with a signature
                    cand = cache[row] = self._candidate(cols, work.key, row, sigs[at])
                yield band_hash, cand


class NearDedupOverRuns(NearDedup):
    """`NearDedup` of the surviving records of each `RunWork` (see the module docstring).

    Args:
        cfg: the `dedup.near` config section.
        seed: run seed.
        keep: the `dedup.exact.keep` rule (near dedup ranks survivors by the same rule).
        tmp_dir: see `NearDedup`.
    """

    def __init__(self, cfg, seed: int = 0, keep: str = "longest", tmp_dir: str | None = None):
        super().__init__(cfg, seed, tmp_dir)
        self.keep = keep

    def expand(self, work):
        cfg = self.cfg
        args = (cfg.num_perm, self.bands, self.rows, self.keep, cfg.verify == "exact")
        hashed = work | "RunBandHashes" >> beam.ParDo(_RunBandHashesFn(*args)).with_outputs(
            _RunBandHashesFn.COUNT, main="hashes"
        )
        sketch = (
            hashed.hashes
            # bounded: a fixed-size bit array (RepeatFilter) + at most 2^20 pending hashes
            | "BandSketch" >> beam.CombineGlobally(HashSketchFn()).without_defaults()
        )
        side = beam.pvalue.AsSingleton(sketch, default_value=None)  # bounded: fixed-size
        if self._exact_filter(work.pipeline):
            # Only keys that really repeat travel with their candidate: references first.
            wanted = (
                work
                # bounded: the fixed-size sketch side input (see above)
                | "RunBandRefs" >> beam.ParDo(_RunRefsFn(*args), side)
                | "GroupRefs" >> GroupByKeyOnDisk(self.tmp_dir)
                | "RepeatedRefs" >> beam.FlatMap(_repeated_refs)
            )
            entries = (
                {"work": work | "WorkByKey" >> beam.Map(lambda w: (w.key, w)), "want": wanted}
                | "JoinWanted" >> CoGroupByKeyOnDisk(self.tmp_dir)
                | "RunBandEntries" >> beam.ParDo(_RunWantedEntriesFn(*args))
            )
        else:
            # bounded: the fixed-size sketch side input (see above)
            entries = work | "RunBandEntries" >> beam.ParDo(_RunEntriesFn(*args), side)
        verify = None
        if cfg.verify == "exact":
            verify = VerifyPairsInRuns(work, self.shingler, cfg.threshold, self.tmp_dir)
        return self.from_band_entries(entries, hashed[_RunBandHashesFn.COUNT], verify)

    def _exact_filter(self, pipeline) -> bool:
        mode = self.cfg.band_filter
        if mode == "auto":
            return not is_local_runner(getattr(pipeline, "runner", None))
        return mode == "exact"


def _run_sets(work: RunWork, rows: list[int], shingler) -> dict[int, np.ndarray]:
    """{row: shingle set} for `rows` of the run's surviving rows, from their text (one read,
    shingled in batches)."""
    rows = sorted(set(rows))
    # the rows' places in the whole run: one take of those texts, not a filtered copy of the
    # run's text column first (a take from the filtered column cost ~5x as much)
    table = read_run(work.path).select(["pos", "text"])
    places = np.asarray(rows, dtype=np.int64)
    if work.dropped:
        pos = table.column("pos").to_numpy()
        places = np.flatnonzero(~np.isin(pos, np.asarray(work.dropped, dtype=np.int64)))[places]
    texts = table.column("text").take(pa.array(places)).to_pylist()
    out: dict[int, np.ndarray] = {}
    for lo in range(0, len(rows), _SET_BATCH):
        batch = shingler.hash_batch([t or "" for t in texts[lo : lo + _SET_BATCH]])
        for k, row in enumerate(rows[lo : lo + _SET_BATCH]):
            out[row] = shingle_set(batch.hashes[batch.offsets[k] : batch.offsets[k + 1]])
    return out


class _FirstSidesFn(beam.DoFn):
    """(run key, {"work": [RunWork], "pairs": [(row a, a, b, run b, row b)]}) ->
    (a, b, Jaccard) where b is in the same run (main), else (run b, (a, set of a, ((row b,
    b), ...))) once per (a, run b), tagged "across"."""

    ACROSS = "across"

    def __init__(self, shingler, threshold: float) -> None:
        self.shingler, self.threshold = shingler, threshold
        self.rejected = beam.metrics.Metrics.counter(_NS, "edges_rejected_by_verification")

    def process(self, keyed):
        _, grouped = keyed
        pairs = sorted(set(grouped["pairs"]))  # a pair comes once per bucket it shares with b
        for work in grouped["work"]:
            if not pairs:
                continue
            local = [row_b for _, _, _, run_b, row_b in pairs if run_b == work.key]
            sets = _run_sets(work, [p[0] for p in pairs] + local, self.shingler)
            across: dict[tuple[str, int], list] = {}
            for row_a, a, b, run_b, row_b in pairs:
                if run_b != work.key:
                    across.setdefault((a, run_b), [row_a]).append((row_b, b))
                    continue
                sim = exact_jaccard(sets[row_a], sets[row_b])
                if sim >= self.threshold:
                    yield a, b, sim
                else:
                    self.rejected.inc()
            for (a, run_b), (row_a, *partners) in across.items():
                value = (a, sets[row_a].tobytes(), tuple(partners))
                yield beam.pvalue.TaggedOutput(self.ACROSS, (run_b, value))


class _SecondSidesFn(beam.DoFn):
    """(run key, {"work": [RunWork], "sets": [(a, set of a, ((row b, b), ...))]}) ->
    (a, b, Jaccard) for the pairs at >= threshold."""

    def __init__(self, shingler, threshold: float) -> None:
        self.shingler, self.threshold = shingler, threshold
        self.rejected = beam.metrics.Metrics.counter(_NS, "edges_rejected_by_verification")

    def process(self, keyed):
        _, grouped = keyed
        incoming = grouped["sets"]
        for work in grouped["work"]:
            rows = [row_b for _, _, partners in incoming for row_b, _ in partners]
            if not rows:
                continue
            sets = _run_sets(work, rows, self.shingler)
            for a, raw, partners in incoming:
                set_a = np.frombuffer(raw, dtype="<u4")
                for row_b, b in partners:
                    sim = exact_jaccard(set_a, sets[row_b])
                    if sim >= self.threshold:
                        yield a, b, sim
                    else:
                        self.rejected.inc()


def _by_first_run(pair):
    a, b, (run_a, row_a), (run_b, row_b) = pair
    return run_a, (row_a, a, b, run_b, row_b)


class VerifyPairsInRuns(beam.PTransform):
    """(a, b, (run a, row a), (run b, row b)) candidate pairs -> (a, b, exact Jaccard) for
    those at >= threshold, once per pair, computed in the spill runs that hold the two texts.

    The pair goes to a's run (a CoGroupByKey with the `RunWork`s on the run key), which
    shingles a (and b, when b is in the same run: decided there). Otherwise a's set (sorted
    distinct uint32, ~4 B per distinct shingle) goes on to b's run once per (a, b's run), with
    the rows of all of a's partners there, and b's run decides. So a set crosses one shuffle
    once per document and partner run, only for pairs the signature estimate could not rule out
    (`clusters.estimate_floor`); buckets, components and survivor choice move none, and only
    decisions (a, b, Jaccard) leave. Each element is one run's pairs: a text is shingled at most
    once per side. Shingling is the MinHash's own (`Shingler` of the `dedup.near` config).
    """

    def __init__(self, work, shingler, threshold: float, tmp_dir: str | None = None) -> None:
        super().__init__()
        self.work, self.shingler, self.threshold, self.tmp_dir = work, shingler, threshold, tmp_dir

    def expand(self, pairs):
        by_key = self.work | "VerifyWorkByKey" >> beam.Map(lambda w: (w.key, w))
        first = (
            {"work": by_key, "pairs": pairs | "ToFirstRun" >> beam.Map(_by_first_run)}
            | "JoinFirstRuns" >> CoGroupByKeyOnDisk(self.tmp_dir)
            | "FirstSides"
            >> beam.ParDo(_FirstSidesFn(self.shingler, self.threshold)).with_outputs(
                _FirstSidesFn.ACROSS, main="decided"
            )
        )
        second = (
            {"work": by_key, "sets": first[_FirstSidesFn.ACROSS]}
            | "JoinSecondRuns" >> CoGroupByKeyOnDisk(self.tmp_dir)
            | "SecondSides" >> beam.ParDo(_SecondSidesFn(self.shingler, self.threshold))
        )
        return (first.decided, second) | "Decided" >> beam.Flatten()
