"""LSH parameters, band hashing, union-find components and bucket edges."""

import numpy as np
from datasketch.lsh import _optimal_param

from transforms.dedup.components import UnionFind, bucket_edges, connected_components
from transforms.dedup.lsh import band_hashes, band_keys, candidate_probability, optimal_bands


def test_optimal_bands_is_datasketchs_choice_and_favours_recall_with_fn_weight():
    assert optimal_bands(0.8, 128) == _optimal_param(0.8, 128, 0.5, 0.5)
    b, r = optimal_bands(0.7, 128, 0.1, 0.9)
    assert b * r <= 128
    assert candidate_probability(0.8, b, r) > 0.99
    assert candidate_probability(0.3, b, r) < 0.02
    # recall-weighted banding catches more at the threshold than the balanced one
    assert candidate_probability(0.8, *optimal_bands(0.8, 128, 0.1, 0.9)) > candidate_probability(
        0.8, *optimal_bands(0.8, 128)
    )


def test_optimal_bands_equals_datasketch_over_a_grid():
    """The exact quadrature picks datasketch's (scipy quad) pair wherever we look."""
    for threshold in (0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95):
        for num_perm in (16, 64, 128, 256):
            for fp_w, fn_w in ((0.5, 0.5), (0.1, 0.9), (0.9, 0.1)):
                want = _optimal_param(threshold, num_perm, fp_w, fn_w)
                assert optimal_bands(threshold, num_perm, fp_w, fn_w) == want


def test_band_hashes_equal_iff_band_values_equal():
    rng = np.random.default_rng(0)
    sig = rng.integers(0, 2**32, size=(3, 20), dtype=np.uint64).astype(np.uint32)
    sig[1, :5] = sig[0, :5]  # band 0 shared by docs 0 and 1
    h = band_hashes(sig, 4, 5)
    assert h.shape == (3, 4)
    assert h[0, 0] == h[1, 0]
    assert h[0, 1] != h[1, 1] and h[0, 0] != h[2, 0]
    same_values = np.zeros((1, 20), dtype=np.uint32)
    hb = band_hashes(same_values, 4, 5)[0]
    assert len(set(hb.tolist())) == 4  # the band index is part of the hash
    keys = band_keys(sig[0], 4, 5)
    assert len(keys) == 4 and all(len(k) == 10 for k in keys)


def test_components_of_chains_stars_and_isolated_pairs():
    edges = [("c", "d"), ("a", "b"), ("b", "c"), ("x", "y"), ("hub", "s1"), ("hub", "s2")]
    labels = connected_components(edges)
    assert {labels[n] for n in "abcd"} == {"a"}
    assert labels["x"] == labels["y"] == "x"
    assert labels["s1"] == labels["s2"] == labels["hub"] == "hub"


def test_union_find_merge_equals_union_of_edge_sets_in_any_split():
    rng = np.random.default_rng(1)
    edges = [(f"n{a}", f"n{b}") for a, b in rng.integers(0, 300, size=(250, 2))]
    whole = connected_components(edges)
    for parts in (2, 5, 17):
        ufs = [UnionFind().union_edges(edges[i::parts]) for i in range(parts)]
        merged = ufs[0]
        for uf in ufs[1:][::-1]:
            merged.merge(uf)
        assert merged.labels() == whole


def test_bucket_edges_all_pairs_for_small_and_star_for_giant_buckets():
    edges, star = bucket_edges(["c", "a", "b", "a"], max_bucket=5)
    assert not star and edges == [("a", "b"), ("a", "c"), ("b", "c")]
    giant = [f"id{i:05d}" for i in range(10_000)]
    edges, star = bucket_edges(reversed(giant), max_bucket=64)
    assert star and len(edges) == 9_999 and all(u == "id00000" for u, _ in edges)
    assert bucket_edges(["solo"], 5) == ([], False)


def test_shared_band_sketch_never_drops_a_repeated_hash_and_merges_like_one_pass():
    from transforms.dedup.lsh import SharedBandSketch

    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**64 - 1, size=(4000, 20), dtype=np.uint64, endpoint=True)
    hashes[100, 3] = hashes[2000, 3]  # a shared bucket across two halves
    hashes[7, 0] = hashes[8, 0]  # and one inside a half
    whole = SharedBandSketch(log2_cells=16).add(hashes)
    a = SharedBandSketch(log2_cells=16).add(hashes[:1500])
    merged = a.merge(SharedBandSketch(log2_cells=16).add(hashes[1500:]))
    assert (merged.twice == whole.twice).all() and (merged.seen == whole.seen).all()
    keep = whole.may_repeat(hashes)
    assert keep[100, 3] and keep[2000, 3] and keep[7, 0] and keep[8, 0]
    assert keep.mean() < 0.8  # 80k hashes in 65k cells: ~1 - e^-1.2 kept, the rest dropped
    assert SharedBandSketch(log2_cells=20).add(hashes).may_repeat(hashes).mean() < 0.1
