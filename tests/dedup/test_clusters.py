"""Survivor choice inside a component: no content lost through transitivity."""

import numpy as np

from transforms.dedup.clusters import Member, resolve_component


def _sigs_with_overlap(width=100):
    """A~B (0.85), B~C (0.85), A~C (0.70): a chain whose ends are not duplicates."""
    a = np.arange(width, dtype=np.uint32)
    b = a.copy()
    b[:15] += 1000
    c = b.copy()
    c[85:] += 2000
    return a, b, c


def test_chain_keeps_the_end_that_only_chains():
    a, b, c = _sigs_with_overlap()
    # B is the best document: it absorbs A and C, both similar to it.
    out = {
        d.id: d
        for d in resolve_component(
            [Member("A", (1,), a), Member("B", (9,), b), Member("C", (1,), c)], 0.8
        )
    }
    assert out["B"].kept and not out["A"].kept and not out["C"].kept
    # A is the best: B is removed (similar to A), C is only similar to the removed B -> kept.
    out = {
        d.id: d
        for d in resolve_component(
            [Member("A", (9,), a), Member("B", (5,), b), Member("C", (1,), c)], 0.8
        )
    }
    assert out["A"].kept and out["B"].kept_id == "A" and out["C"].kept
    assert abs(out["B"].similarity - 0.85) < 1e-9


def test_every_removed_member_points_to_a_kept_one_above_threshold():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**32, size=128, dtype=np.uint64).astype(np.uint32)
    members = []
    for i in range(60):  # a random walk: each step changes a few positions
        base = base.copy()
        base[rng.integers(0, 128, size=6)] = rng.integers(0, 2**32, size=6, dtype=np.uint64).astype(
            np.uint32
        )
        members.append(Member(f"d{i:02d}", (int(rng.integers(0, 5)),), base))
    decisions = resolve_component(members, 0.8)
    kept = {d.id for d in decisions if d.kept}
    sigs = {m.id: m.signature for m in members}
    assert len(decisions) == 60 and 1 < len(kept) < 60
    for d in decisions:
        if not d.kept:
            assert d.kept_id in kept
            assert np.mean(sigs[d.id] == sigs[d.kept_id]) >= 0.8


def test_ties_in_rank_keep_the_smallest_id_and_order_does_not_matter():
    sig = np.arange(16, dtype=np.uint32)
    members = [Member(i, (1, 2), sig) for i in ("b", "c", "a")]
    first = resolve_component(members, 0.8)
    again = resolve_component(members[::-1], 0.8)
    assert first == again
    assert [d.id for d in first if d.kept] == ["a"]
