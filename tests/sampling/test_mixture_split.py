"""Per-source budget allocation, redistribution, share notes; the eval split."""

from transforms.sampling.mixture import allocate_budget, share_notes, split_by_shares
from transforms.sampling.split import EvalSplitter, assign_split


def test_split_by_shares_adds_up_exactly():
    parts = split_by_shares(1001, {"code": 0.5, "docs": 0.3, "man": 0.2})
    assert sum(parts.values()) == 1001
    assert parts == {"code": 501, "docs": 300, "man": 200}


def test_without_redistribution_a_short_source_keeps_its_part():
    shares = {"code": 0.5, "docs": 0.3, "man": 0.2}
    assert allocate_budget(
        1000, shares, {"code": 10_000, "docs": 100, "man": 10_000}, False
    ) == split_by_shares(1000, shares)


def test_redistribution_water_fills_the_shortfall_by_share():
    shares = {"code": 0.5, "docs": 0.3, "man": 0.2}
    alloc = allocate_budget(1000, shares, {"code": 10_000, "docs": 100, "man": 10_000}, True)
    assert alloc["docs"] == 100
    assert sum(alloc.values()) == 1000
    assert (alloc["code"], alloc["man"]) == (643, 257)  # 900 split 5:2, largest remainder
    # two short sources in turn
    alloc = allocate_budget(1000, shares, {"code": 10_000, "docs": 100, "man": 150}, True)
    assert alloc == {"code": 750, "docs": 100, "man": 150}
    # everything short: each gives what it has
    assert allocate_budget(1000, shares, {"code": 1, "docs": 2, "man": 3}, True) == {
        "code": 1,
        "docs": 2,
        "man": 3,
    }


def test_share_notes_say_why_a_share_is_missed():
    targets = {"a": 0.5, "b": 0.5}
    notes = share_notes(
        targets, {"a": 500, "b": 500}, {"a": 1000, "b": 120}, {"a": 500, "b": 120}, False
    )
    assert (
        notes["a"]["within_tolerance"] is False and "another source was short" in notes["a"]["note"]
    )
    assert "120 eligible tokens for a target of 500" in notes["b"]["note"]
    notes = share_notes(
        targets, {"a": 500, "b": 500}, {"a": 900, "b": 900}, {"a": 499, "b": 500}, False
    )
    assert all(n["within_tolerance"] and n["note"] is None for n in notes.values())


def test_eval_split_is_stable_and_has_the_requested_fraction():
    ids = [f"doc-{i}" for i in range(20_000)]
    first = [assign_split(i, 0.1, 42) for i in ids]
    again = [EvalSplitter(0.1, 42)(i) for i in reversed(ids)][::-1]
    assert first == again
    share = first.count("eval") / len(ids)
    assert abs(share - 0.1) < 4 * (0.1 * 0.9 / len(ids)) ** 0.5
    assert [assign_split(i, 0.1, 43) for i in ids] != first  # the seed matters
    assert all(s == "train" for s in (assign_split(i, 0.0, 42) for i in ids[:100]))


def test_growing_the_eval_fraction_only_moves_documents_to_eval():
    ids = [f"x{i}" for i in range(5000)]
    small = {i for i in ids if assign_split(i, 0.05, 1) == "eval"}
    large = {i for i in ids if assign_split(i, 0.2, 1) == "eval"}
    assert small < large
