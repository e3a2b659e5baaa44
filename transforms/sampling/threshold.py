"""Exact selection thresholds from bounded aggregates: the budget rule without holding the ids.

`take_within_budget` (budget.py) scans a group's candidates in priority order. Its result is
fixed by a few entries of that order, found here with bounded state per group (bounds below):

- **the cut** A: the first entry whose prefix sum of tokens exceeds the budget B. Everything
  before A is taken (its prefix sum is <= B, and the scan cannot stop earlier), A is skipped;
- **the window end** Z: the first entry whose prefix sum reaches the window W
  (`window_tokens(B, lookahead)`): the scan looks at nothing after Z;
- **the tail**: between A (excluded) and Z (included), the gap r0 = B - tokens(before A) is
  smaller than A's tokens, so only entries of at most r0 tokens can still be taken, one after another
  while they fit. For one size s the taken entries are a prefix of that size's entries (once s
  no longer fits, the gap only shrinks), and the j-th entry of size s is taken only if j * s <=
  r0. So the first floor(r0 / s) tail entries of each size s <= r0 decide the tail exactly:
  at most r0 * (1 + ln r0) entries, and r0 is smaller than the cut document. The tail is bounded
  by the size of the largest document, never by the budget or the corpus.

`top_k` by count needs only its cut: the k-th entry (weight 1 per entry, amount k - 1).

Finding an entry where a prefix sum crosses an amount, exactly, in passes over the data:

1. **sample pass**: per open search, the count and weight of the entries inside its interval
   (lo, hi] of the order, and the `SAMPLE_SIZE` entries of that interval with the smallest id hash
   (a uniform sample, mergeable: the smallest n of a union are among the smallest n of its parts).
   If the sample holds the whole interval, the crossing entry is read off it: done. If the
   interval's weight does not reach the amount, no entry crosses: done (take everything);
2. **count pass**: the sample's entries split the interval into `SAMPLE_SIZE + 1` buckets; the
   weight per bucket (bisect) gives the bucket where the prefix sum crosses: the new interval.

A bucket of a uniform sample of N holds about 2n/N of the interval's n entries, so `ROUNDS`
rounds leave about n * (2 / SAMPLE_SIZE) ** ROUNDS entries, and a last sample pass without a
size limit collects them (expected under 1 entry per 1e8 candidates of a group; the limit is
a property of the hash sample, not of the keys: ties and repeated keys split the same way, since
the order is the full `Entry` order). A search already done costs later passes only the read.

Entries are assumed distinct (ids are unique after the pipeline's duplicate-id stage): two
identical entries at the top_k cut would both be taken, where `finalize` takes one.

Every state here is a function of the set of entries (never of their order or split), so the
result equals `take_within_budget` on the sorted group (tested against `finalize`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from transforms.sampling.budget import Entry, window_tokens
from transforms.sampling.keys import derive_seed, uniform_from_id
from transforms.sampling.selection import SelectionPlan, Weighed

SEL = "sel"  # the selection's entries (priority keys)
BASE = "base"  # the uniform-key entries of the DSIR baseline
CUT = "cut"  # the first entry past the budget (budget), or the k-th entry (top_k)
WINDOW = "window"  # the last entry the budget scan looks at
SAMPLE_SIZE = 1024
ROUNDS = 3  # sample + count rounds before the last, unlimited, sample pass
_SAMPLE_SEED = derive_seed(0, "threshold-sample")  # any fixed seed: results do not depend on it


class Search(NamedTuple):
    """One crossing search: the first entry of `line` whose prefix weight exceeds `amount`."""

    line: str
    role: str
    amount: int
    lo: Entry | None = None  # exclusive lower end of the interval still open (None: the start)
    hi: Entry | None = None  # inclusive upper end (None: the end)
    before: int = 0  # weight of every entry <= lo
    splits: tuple[Entry, ...] | None = None  # the sample's entries, sorted, for the count pass
    done: bool = False
    found: Entry | None = None  # the crossing entry; None when the whole line stays below
    prefix: int = 0  # weight of the entries strictly before `found`

    def holds(self, e: Entry) -> bool:
        return (self.lo is None or e > self.lo) and (self.hi is None or e <= self.hi)


class GroupSearch(NamedTuple):
    """The searches of one group, and its budget (None: top_k by count)."""

    budget: int | None
    searches: tuple[Search, ...]

    def search(self, line: str, role: str) -> Search:
        return next(s for s in self.searches if s.line == line and s.role == role)


def line_entries(plan: SelectionPlan, w: Weighed) -> dict[str, Entry]:
    """The entries a weighed candidate contributes, by line (as `GroupState.add` builds them)."""
    out = {}
    if not w.reason and w.key != -math.inf:
        out[SEL] = Entry(-w.key, w.doc_id, w.n_tokens, w.log_weight, w.source)
    if (
        plan.baseline
        and w.reason in ("", "weight_zero", "weight_invalid")
        and w.baseline_key != -math.inf
    ):
        out[BASE] = Entry(-w.baseline_key, w.doc_id, w.n_tokens, 0.0, w.source)
    return out


def sample_hash(doc_id: str) -> float:
    return uniform_from_id(doc_id, _SAMPLE_SEED)


def _weight(gs: GroupSearch, e: Entry) -> int:
    return 1 if gs.budget is None else e.n_tokens


def start(plan: SelectionPlan, budgets: Mapping[str, int | None]) -> dict[str, GroupSearch]:
    """The open searches of every group, from the groups' budgets (`group_budgets`)."""
    lines = (SEL, BASE) if plan.baseline else (SEL,)
    out = {}
    for g, b in budgets.items():
        if b is None:
            searches = tuple(Search(line, CUT, plan.k - 1) for line in lines)
        else:
            w = window_tokens(b, plan.lookahead)
            searches = tuple(
                s for line in lines for s in (Search(line, CUT, b), Search(line, WINDOW, w - 1))
            )
        out[g] = GroupSearch(b, searches)
    return out


def all_done(state: Mapping[str, GroupSearch]) -> bool:
    return all(s.done for gs in state.values() for s in gs.searches)


class SamplePass:
    """Count, weight and a hash sample of the entries inside each open search's interval.

    Accumulator: {search index: [count, weight, [(hash, entry), ...]]}, the list cut to the
    `limit` smallest (None: the last pass, no limit).
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit

    @staticmethod
    def wants(gs: GroupSearch) -> bool:
        return any(not s.done and s.splits is None for s in gs.searches)

    def add(self, acc: dict, gs: GroupSearch, entries: Mapping[str, Entry], h: float) -> None:
        for i, s in enumerate(gs.searches):
            if s.done or s.splits is not None:
                continue
            e = entries.get(s.line)
            if e is None or not s.holds(e):
                continue
            slot = acc.get(i)
            if slot is None:
                slot = acc[i] = [0, 0, []]
            slot[0] += 1
            slot[1] += _weight(gs, e)
            slot[2].append((h, e))
            if self.limit is not None and len(slot[2]) >= 2 * self.limit + 64:
                slot[2] = self._trim(slot[2])

    def _trim(self, sample: list) -> list:
        sample.sort()
        return sample[: self.limit] if self.limit is not None else sample

    def merge(self, accs: Iterable[dict]) -> dict:
        out: dict = {}
        for acc in accs:
            for i, (n, wt, sample) in acc.items():
                slot = out.setdefault(i, [0, 0, []])
                slot[0] += n
                slot[1] += wt
                slot[2].extend(sample)
        for slot in out.values():
            slot[2] = self._trim(slot[2])
        return out

    def advance(self, gs: GroupSearch, acc: Mapping) -> GroupSearch:
        out = []
        for i, s in enumerate(gs.searches):
            if s.done or s.splits is not None:
                out.append(s)
                continue
            n, wt, sample = acc.get(i, (0, 0, []))
            if n == 0 or s.before + wt <= s.amount:  # nothing in the interval crosses: no cut
                out.append(s._replace(done=True, found=None, prefix=s.before + wt))
            elif len(sample) == n:  # the sample is the whole interval: read the crossing off it
                cum = s.before
                for _, e in sorted(sample, key=lambda x: x[1]):
                    if cum + _weight(gs, e) > s.amount:
                        out.append(s._replace(done=True, found=e, prefix=cum))
                        break
                    cum += _weight(gs, e)
                else:  # unreachable: the interval's weight was seen to cross
                    raise RuntimeError(f"sample pass lost the crossing of {s.line}/{s.role}")
            else:
                out.append(s._replace(splits=tuple(sorted(e for _, e in sample))))
        return gs._replace(searches=tuple(out))


class CountPass:
    """Weight per bucket between consecutive sample entries. Accumulator: {index: {bucket: w}}."""

    @staticmethod
    def wants(gs: GroupSearch) -> bool:
        return any(not s.done and s.splits is not None for s in gs.searches)

    def add(self, acc: dict, gs: GroupSearch, entries: Mapping[str, Entry], h: float) -> None:
        for i, s in enumerate(gs.searches):
            if s.done or s.splits is None:
                continue
            e = entries.get(s.line)
            if e is None or not s.holds(e):
                continue
            buckets = acc.setdefault(i, {})
            j = bisect_left(s.splits, e)  # bucket j = (splits[j - 1], splits[j]]
            buckets[j] = buckets.get(j, 0) + _weight(gs, e)

    def merge(self, accs: Iterable[dict]) -> dict:
        out: dict = {}
        for acc in accs:
            for i, buckets in acc.items():
                mine = out.setdefault(i, {})
                for j, wt in buckets.items():
                    mine[j] = mine.get(j, 0) + wt
        return out

    def advance(self, gs: GroupSearch, acc: Mapping) -> GroupSearch:
        out = []
        for i, s in enumerate(gs.searches):
            if s.done or s.splits is None:
                out.append(s)
                continue
            buckets, cum, splits = acc.get(i, {}), s.before, s.splits
            for j in range(len(splits) + 1):
                wt = buckets.get(j, 0)
                if cum + wt > s.amount:
                    lo = splits[j - 1] if j > 0 else s.lo
                    hi = splits[j] if j < len(splits) else s.hi
                    out.append(s._replace(lo=lo, hi=hi, before=cum, splits=None))
                    break
                cum += wt
            else:  # unreachable while the sample pass saw the interval cross
                raise RuntimeError(f"count pass lost the crossing of {s.line}/{s.role}")
        return gs._replace(searches=tuple(out))


def tail_gap(gs: GroupSearch, line: str) -> tuple[Search, Search, int] | None:
    """(cut, window end, gap left before the cut) of a budget line with a tail, else None."""
    if gs.budget is None:
        return None
    cut, end = gs.search(line, CUT), gs.search(line, WINDOW)
    gap = gs.budget - cut.prefix
    if cut.found is None or gap <= 0:
        return None
    return cut, end, gap


class TailPass:
    """The tail entries that can still fill the gap: per size s <= gap, the first gap // s.

    Accumulator: {line: (gap, {size: [entries]})}, each list cut to its first gap // size.
    """

    @staticmethod
    def wants(gs: GroupSearch) -> bool:
        return any(tail_gap(gs, s.line) for s in gs.searches if s.role == CUT)

    def add(self, acc: dict, gs: GroupSearch, entries: Mapping[str, Entry], h: float) -> None:
        for line, e in entries.items():
            tail = tail_gap(gs, line)
            if tail is None:
                continue
            cut, end, gap = tail
            if e.n_tokens > gap or e <= cut.found or (end.found is not None and e > end.found):
                continue
            kept = acc.setdefault(line, (gap, {}))[1].setdefault(e.n_tokens, [])
            kept.append(e)
            if len(kept) >= 2 * (gap // e.n_tokens) + 64:
                kept.sort()
                del kept[gap // e.n_tokens :]

    def merge(self, accs: Iterable[dict]) -> dict:
        out: dict = {}
        for acc in accs:
            for line, (gap, sizes) in acc.items():
                mine = out.setdefault(line, (gap, {}))[1]
                for size, kept in sizes.items():
                    mine.setdefault(size, []).extend(kept)
        for gap, sizes in out.values():
            for size, kept in sizes.items():
                kept.sort()
                del kept[gap // size :]
        return out

    @staticmethod
    def taken(acc: Mapping) -> list[tuple[str, Entry]]:
        """The skip-and-continue scan over the kept tail: (line, entry) of each one taken."""
        out = []
        for line, (gap, sizes) in sorted(acc.items()):
            for e in sorted(e for kept in sizes.values() for e in kept):
                if e.n_tokens <= gap:
                    out.append((line, e))
                    gap -= e.n_tokens
                    if gap == 0:
                        break
        return out


def taken_before_cut(gs: GroupSearch, line: str, e: Entry) -> bool:
    """Whether an entry is taken by the prefix rule (the tail is decided by `TailPass`)."""
    cut = gs.search(line, CUT)
    if cut.found is None:
        return True
    return e <= cut.found if gs.budget is None else e < cut.found
