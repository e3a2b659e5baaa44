"""Dedup features read back from spill runs: the same near dedup as in-memory candidates."""

import pickle

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.dedup.test_near import _candidates, _corpus, _run
from transforms.dedup.config import DedupConfig, NearDedupConfig
from transforms.dedup.features import DedupFeaturizer
from transforms.dedup.lsh import (
    BandSketchAccumulator,
    BandSketchAccumulatorCoder,
    SharedBandSketch,
)
from transforms.dedup.run_features import NearDedupOverRuns, RunLineHashes, RunsWithDrops
from transforms.infra.record import Record
from transforms.infra.spill import SpillRecords

OUTPUTS = ("removed", "clusters", "cluster_sizes", "audit")


def _texts():
    texts = _corpus()
    # long repeated lines, so boilerplate line hashes exist
    for i, k in enumerate(sorted(texts)):
        texts[k] += "\n" + "this footer line is repeated on every page of the corpus" + "\n"
        if i % 3 == 0:
            texts[k] += f"a page-specific line number {i} that is long enough to hash\n"
    return texts


def _records(texts):
    return [Record(k, texts[k], "src", {"_pos": i}) for i, k in enumerate(sorted(texts))]


def _dump(items, path):
    with open(path, "wb") as fh:
        pickle.dump(sorted(items, key=repr) if isinstance(items, list) else items, fh)


def _over_runs(texts, dropped_ids, cfg, tmp_path):
    """Spills the texts into several small runs, drops `dropped_ids`, runs NearDedupOverRuns."""
    dedup = DedupConfig(near=cfg)
    spill_fn = SpillRecords(str(tmp_path / "spill"), DedupFeaturizer(dedup, 0), max_bytes=6000)
    with TestPipeline(runner="FnApiRunner") as p:
        spilled = (
            p
            | beam.Create(_records(texts))
            | beam.ParDo(spill_fn).with_outputs(SpillRecords.META, SpillRecords.RUNS, "tally")
        )
        drops = spilled.meta | beam.FlatMap(
            lambda m: [(m.run, m.pos)] if m.id in dropped_ids else []
        )
        work = {"runs": spilled.runs, "drops": drops} | RunsWithDrops()
        out = work | NearDedupOverRuns(cfg, 0, "longest", str(tmp_path / "groups"))
        for name in OUTPUTS:
            _ = (
                out[name]
                | f"List{name}" >> beam.combiners.ToList()
                | f"Dump{name}" >> beam.Map(_dump, str(tmp_path / f"{name}.pkl"))
            )
        lines = work | RunLineHashes()
        assert_that(lines, equal_to(_expected_lines(texts, dropped_ids, dedup)), label="lines")
        n_runs = spilled.runs | beam.combiners.Count.Globally()
        assert_that(n_runs, lambda c: _more_than_one(c), label="runs")
    out = {}
    for name in OUTPUTS:
        with open(tmp_path / f"{name}.pkl", "rb") as fh:
            out[name] = pickle.load(fh)
    return out


def _more_than_one(counts):
    assert counts[0] > 1, counts


def _expected_lines(texts, dropped_ids, dedup):
    feats = DedupFeaturizer(dedup, 0).featurize([texts[k] for k in sorted(texts)])
    return [
        f.line_hashes
        for k, f in zip(sorted(texts), feats, strict=True)
        if k not in dropped_ids and f.line_hashes
    ]


@pytest.mark.parametrize(
    ("band_filter", "verify"), [("sketch", "exact"), ("exact", "exact"), ("sketch", "minhash")]
)
def test_near_dedup_over_runs_equals_near_dedup_of_the_survivors(tmp_path, band_filter, verify):
    """The runs' candidates (shingle sets from the run's text with verify: exact) give the
    in-memory result."""
    texts = _texts()
    dropped = {"fam0-1", "fam2-0", "single3", "chain-c"}
    cfg = NearDedupConfig(band_filter=band_filter, verify=verify)
    got = _over_runs(texts, dropped, cfg, tmp_path / "runs")
    kept = {k: v for k, v in texts.items() if k not in dropped}
    # the in-memory reference, ranked by the same "longest" rule: (n_chars,)
    cands = [c._replace(rank=(c.rank[1],)) for c in _candidates(kept, sets=verify == "exact")]
    want = _run(cands, cfg, tmp_path)
    assert sorted(got["removed"]) == sorted(want["removed"])
    assert sorted(got["clusters"]) == sorted(want["clusters"])
    assert got["cluster_sizes"] == want["cluster_sizes"]
    assert sorted(got["audit"], key=repr) == sorted(want["audit"], key=repr)
    assert got["removed"], "the corpus has near-duplicate families"
    assert not {r.id for r in got["removed"]} & dropped


def test_sketch_accumulator_matches_one_pass_across_spill_merge_and_coder():
    rng = np.random.default_rng(5)
    hashes = rng.integers(0, 2**64 - 1, size=(30_000, 14), dtype=np.uint64, endpoint=True)
    hashes[10, 2] = hashes[29_000, 2]
    whole = SharedBandSketch(20).add(hashes)
    accs = []
    for lo in range(0, len(hashes), 7_000):
        acc = BandSketchAccumulator(max_log2_cells=20, spill=50_000).add(hashes[lo : lo + 7_000])
        accs.append(BandSketchAccumulatorCoder.from_tuple(BandSketchAccumulatorCoder.to_tuple(acc)))
    merged = accs[0].merge(accs[1:])
    result = merged.result()
    ref = whole.copy().folded().repeat_filter()
    assert result.log2_cells == ref.log2_cells
    assert (result.twice == ref.twice).all()
    keep = result.may_repeat(hashes)
    assert keep[10, 2] and keep[29_000, 2]
    # a small input never allocates the full sketch and is sized to its hashes
    small = BandSketchAccumulator(max_log2_cells=28).add(hashes[:100]).result()
    assert small.log2_cells <= 16 and small.may_repeat(hashes[:100]).mean() < 0.2


@pytest.mark.parametrize("n_hashes", [500, 200_000])  # a sparse and a dense partial sketch
def test_sketch_coder_round_trips_sparse_and_dense_at_the_smaller_size(n_hashes):
    rng = np.random.default_rng(n_hashes)
    hashes = rng.integers(0, 2**64 - 1, size=n_hashes, dtype=np.uint64, endpoint=True)
    acc = BandSketchAccumulator(max_log2_cells=20, spill=100).add(hashes)
    state = BandSketchAccumulatorCoder.to_tuple(acc)
    back = BandSketchAccumulatorCoder.from_tuple(state)
    assert (back.sketch.seen == acc.sketch.seen).all()
    assert (back.sketch.twice == acc.sketch.twice).all()
    dense = 2 * len(acc.sketch.seen)
    sparse = 6 * int(np.count_nonzero(acc.sketch.seen))
    encoded = sum(len(b) for b in state[3][1:] if b is not None)
    assert encoded == min(dense, sparse)
    assert (state[3][1] is None) == (n_hashes == 200_000)


def test_band_filter_is_validated():
    assert any("band_filter" in p for p in NearDedupConfig(band_filter="bloom").validate())
