"""The whole selection as pure code: the reference finalisation and the bounded report parts.

1. each candidate is weighed (weights.py) and keyed (keys.py) into a `Weighed` tuple;
2. per group (a mixture source, or "*" without a mixture) per-source tallies (documents, tokens,
   drops by reason, a histogram of log-weights) give the groups' budgets (`group_budgets`);
3. `finalize` is the reference selection: per group a `GroupState` holds a `BudgetSelector` of
   the candidates that can still be selected (and a second one with uniform keys, the random
   selection of the same size for DSIR's KL diagnostic), then `take_within_budget` decides.
   It holds about the budget's id list per group, so the pipeline does not use it:
   `SelectDocuments` (select.py) computes the same result with bounded state (threshold.py) and
   builds the same report from bounded aggregates (`KeptTally`, `build_report`).

Every step is a function of the set of candidates only, never of their order or of how they were
split into bundles, so the result is identical on any number of workers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from transforms.sampling.budget import BudgetSelector, Entry, take_within_budget, window_tokens
from transforms.sampling.mixture import (
    SHARE_TOLERANCE,
    allocate_budget,
    share_notes,
    split_by_shares,
)
from transforms.sampling.split import EVAL, EvalSplitter

ALL = "*"  # the one group when there is no mixture
OUTSIDE = "\x00outside_mixture"  # tallies of sources that have no share (never selected)
DROP_REASONS = ("bad_candidate", "not_in_mixture", "weight_zero", "weight_invalid", "sampled_out")
QUANTILES = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


class Weighed(NamedTuple):
    """A candidate after weighing: what the group accumulator needs, nothing else."""

    source: str
    doc_id: str
    n_tokens: int
    log_weight: float
    key: float  # selection priority (-inf: never selected)
    baseline_key: float  # uniform priority for the random comparison selection
    reason: str  # "" when eligible, else a DROP_REASONS code
    bad_scores: int = 0  # scores present but not finite numbers (replaced by defaults)


def log_weight_bin(lw: float) -> int:
    """Symmetric-log bin of a log-weight: ~10% relative resolution at any magnitude."""
    if lw == math.inf or lw == -math.inf:
        return 10**6 if lw > 0 else -(10**6)
    return round(math.copysign(math.log1p(abs(lw)) * 10, lw))


def bin_value(b: int) -> float:
    return math.copysign(math.expm1(abs(b) / 10), b)


def histogram_quantiles(hist: Mapping[int, int]) -> dict[str, float] | None:
    """Quantiles (bin centres) of a log-weight histogram; None when empty."""
    total = sum(hist.values())
    if total <= 0:
        return None
    out, seen, bins = {}, 0, sorted(hist.items())
    qs = iter(QUANTILES)
    q = next(qs)
    for b, n in bins:
        seen += n
        while q is not None and seen >= q * total:
            out[f"q{round(q * 100):02d}"] = bin_value(b)
            q = next(qs, None)
    return out


@dataclass
class SourceTally:
    """Counts for one source; merged by addition."""

    docs: int = 0
    tokens: int = 0
    eligible_docs: int = 0
    eligible_tokens: int = 0
    bad_scores: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # pre-selection drops by reason
    hist: dict[int, int] = field(default_factory=dict)  # log-weight bins of eligible documents

    def add(self, w: Weighed) -> None:
        self.docs += 1
        self.tokens += max(int(w.n_tokens), 0) if w.reason != "bad_candidate" else 0
        self.bad_scores += w.bad_scores
        if w.reason:
            self.dropped[w.reason] = self.dropped.get(w.reason, 0) + 1
            return
        self.eligible_docs += 1
        self.eligible_tokens += w.n_tokens
        b = log_weight_bin(w.log_weight)
        self.hist[b] = self.hist.get(b, 0) + 1

    def merge(self, other: SourceTally) -> None:
        for name in ("docs", "tokens", "eligible_docs", "eligible_tokens", "bad_scores"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in ((self.dropped, other.dropped), (self.hist, other.hist)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v


@dataclass(frozen=True)
class SelectionPlan:
    """Everything `finalize` needs, derived once from the config."""

    mode: str  # budget | top_k
    token_budget: int | None
    k: int | None
    shares: dict[str, float]
    redistribute: bool
    lookahead: float
    eval_fraction: float
    seed: int
    baseline: bool  # keep a uniform random selection of the same budgets too
    tolerance: float = SHARE_TOLERANCE  # an achieved share this close to its target is a hit

    @classmethod
    def from_config(cls, cfg, seed: int) -> SelectionPlan:
        return cls(
            mode=cfg.mode,
            token_budget=cfg.token_budget,
            k=cfg.k,
            shares=dict(cfg.mixture),
            redistribute=cfg.redistribute,
            lookahead=cfg.lookahead,
            eval_fraction=cfg.eval_fraction,
            seed=seed,
            baseline=cfg.dsir.enabled,
            tolerance=cfg.mixture_tolerance,
        )

    def group_of(self, source: str) -> str:
        """The accumulator group of a source (`OUTSIDE` for a source without a share)."""
        if not self.shares:
            return ALL
        return source if self.shares.get(source, 0) > 0 else OUTSIDE

    def new_selector(self, group: str) -> BudgetSelector:
        if self.token_budget is None:
            return BudgetSelector(cap_docs=self.k)
        if self.shares and not self.redistribute:
            most = split_by_shares(self.token_budget, self.shares).get(group, 0)
        else:
            most = self.token_budget
        return BudgetSelector(cap_tokens=window_tokens(most, self.lookahead))


class GroupState:
    """The combine accumulator of one group (the group is known from the first candidate)."""

    def __init__(self, plan: SelectionPlan) -> None:
        self.plan = plan
        self.selector: BudgetSelector | None = None
        self.baseline: BudgetSelector | None = None
        self.tally: dict[str, SourceTally] = {}

    def _open(self, group: str) -> None:
        self.selector = self.plan.new_selector(group)
        self.baseline = self.plan.new_selector(group) if self.plan.baseline else None

    def add(self, w: Weighed) -> GroupState:
        if self.selector is None:
            self._open(self.plan.group_of(w.source))
        self.tally.setdefault(w.source, SourceTally()).add(w)
        if not w.reason:
            self.selector.add(Entry(-w.key, w.doc_id, w.n_tokens, w.log_weight, w.source))
        if self.baseline is not None and w.reason in ("", "weight_zero", "weight_invalid"):
            self.baseline.add(Entry(-w.baseline_key, w.doc_id, w.n_tokens, 0.0, w.source))
        return self

    def merge(self, others: Iterable[GroupState]) -> GroupState:
        others = [o for o in others if o.selector is not None]
        if self.selector is None and others:  # an empty accumulator takes the group's caps
            first = others[0]
            self.selector = first.selector.empty_like()
            self.baseline = None if first.baseline is None else first.baseline.empty_like()
        if self.selector is not None:
            self.selector.merge(o.selector for o in others)
        if self.baseline is not None:
            self.baseline.merge(o.baseline for o in others)
        for o in others:
            for s, t in o.tally.items():
                self.tally.setdefault(s, SourceTally()).merge(t)
        return self


def _take(plan: SelectionPlan, selector: BudgetSelector, budget: int | None) -> list[Entry]:
    ordered = selector.ordered()
    if budget is None:  # top_k by count
        return ordered[: plan.k]
    return take_within_budget(ordered, budget, plan.lookahead)


def group_budgets(
    plan: SelectionPlan, tallies: Mapping[str, Mapping[str, SourceTally]]
) -> tuple[dict[str, int | None], dict[str, int]]:
    """(token budget per group, eligible tokens per group) from the groups' tallies.

    Args:
        plan: the selection plan.
        tallies: per group that received candidates, its per-source tallies (`OUTSIDE` included).
    """
    groups = sorted(g for g in tallies if g != OUTSIDE)
    available = {g: sum(t.eligible_tokens for t in tallies[g].values()) for g in groups}
    if plan.token_budget is None:
        budgets: dict[str, int | None] = dict.fromkeys(groups, None)
    elif plan.shares:
        alloc = allocate_budget(plan.token_budget, plan.shares, available, plan.redistribute)
        budgets = {g: alloc.get(g, 0) for g in groups}
    else:
        budgets = {ALL: plan.token_budget}
    return budgets, available


def merge_tallies(tallies: Iterable[Mapping[str, SourceTally]]) -> dict[str, SourceTally]:
    """Per-source tallies of several groups (or partial states) merged into one dict."""
    out: dict[str, SourceTally] = {}
    for part in tallies:
        for s, t in part.items():
            out.setdefault(s, SourceTally()).merge(t)
    return out


@dataclass
class KeptTally:
    """What the report needs of the selected documents: counts and token sums, no ids."""

    docs: dict[str, int] = field(default_factory=dict)  # per source
    tokens: dict[str, int] = field(default_factory=dict)  # per source
    hist: dict[int, int] = field(default_factory=dict)  # log-weight bins
    eval_docs: int = 0
    eval_tokens: int = 0

    def add(self, e: Entry, split: str) -> None:
        self.docs[e.source] = self.docs.get(e.source, 0) + 1
        self.tokens[e.source] = self.tokens.get(e.source, 0) + e.n_tokens
        b = log_weight_bin(e.log_weight)
        self.hist[b] = self.hist.get(b, 0) + 1
        if split == EVAL:
            self.eval_docs += 1
            self.eval_tokens += e.n_tokens

    def merge(self, other: KeptTally) -> KeptTally:
        for mine, theirs in (
            (self.docs, other.docs),
            (self.tokens, other.tokens),
            (self.hist, other.hist),
        ):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        self.eval_docs += other.eval_docs
        self.eval_tokens += other.eval_tokens
        return self


def finalize(
    plan: SelectionPlan, states: Mapping[str, GroupState]
) -> tuple[list[tuple[str, str]], list[str], dict]:
    """(selected (id, split) pairs sorted by id, baseline ids sorted, report).

    The reference the distributed selection (`SelectDocuments`, threshold.py) is tested against;
    it holds every selectable entry of a group, so the pipeline does not call it.
    """
    tally = merge_tallies(st.tally for st in states.values())
    states = {g: st for g, st in states.items() if st.selector is not None and g != OUTSIDE}
    budgets, available = group_budgets(plan, {g: st.tally for g, st in states.items()})
    taken = [e for g in sorted(states) for e in _take(plan, states[g].selector, budgets.get(g))]
    baseline = [
        e.doc_id
        for g in sorted(states)
        if states[g].baseline is not None
        for e in _take(plan, states[g].baseline, budgets.get(g))
    ]
    splitter = EvalSplitter(plan.eval_fraction, plan.seed)
    selected = sorted((e.doc_id, splitter(e.doc_id)) for e in taken)
    split_of = dict(selected)
    kept = KeptTally()
    for e in taken:
        kept.add(e, split_of[e.doc_id])
    report = build_report(plan, tally, kept, budgets, available)
    return selected, sorted(baseline), report


def build_report(
    plan: SelectionPlan,
    tally: Mapping[str, SourceTally],
    kept: KeptTally,
    budgets: Mapping[str, int | None],
    available: Mapping[str, int],
) -> dict:
    """The selection report from bounded aggregates only (per-source tallies, `KeptTally`)."""
    kept_docs, kept_tokens, kept_hist = kept.docs, kept.tokens, kept.hist
    all_hist: dict[int, int] = {}
    for t in tally.values():
        for b, n in t.hist.items():
            all_hist[b] = all_hist.get(b, 0) + n
    dropped_hist = {
        b: n - kept_hist.get(b, 0) for b, n in all_hist.items() if n > kept_hist.get(b, 0)
    }
    n_selected = sum(kept_docs.values())
    eval_docs, eval_tokens = kept.eval_docs, kept.eval_tokens
    total_sel = sum(kept_tokens.values())
    sources = {}
    for s in sorted(set(tally) | set(plan.shares)):
        t = tally.get(s, SourceTally())
        dropped = dict(sorted(t.dropped.items()))
        dropped["sampled_out"] = t.eligible_docs - kept_docs.get(s, 0)
        sources[s] = {
            "docs": t.docs,
            "tokens": t.tokens,
            "eligible_docs": t.eligible_docs,
            "eligible_tokens": t.eligible_tokens,
            "bad_scores": t.bad_scores,
            "selected_docs": kept_docs.get(s, 0),
            "selected_tokens": kept_tokens.get(s, 0),
            "share": kept_tokens.get(s, 0) / total_sel if total_sel else 0.0,
            "not_selected": dropped,
        }
    mixture = None
    if plan.shares and plan.token_budget is not None:
        targets = split_by_shares(plan.token_budget, plan.shares)
        notes = share_notes(
            plan.shares, targets, available, kept_tokens, plan.redistribute, plan.tolerance
        )
        for s, note in notes.items():
            sources[s].update(note, target_tokens=targets[s], budget_tokens=budgets.get(s, 0))
        mixture = {
            "redistribute": plan.redistribute,
            "all_within_tolerance": all(n["within_tolerance"] for n in notes.values()),
        }
    return {
        "mode": plan.mode,
        "token_budget": plan.token_budget,
        "k": plan.k,
        "lookahead": plan.lookahead,
        "seed": plan.seed,
        "candidates": {
            "docs": sum(t.docs for t in tally.values()),
            "tokens": sum(t.tokens for t in tally.values()),
        },
        "selected": {
            "docs": n_selected,
            "tokens": total_sel,
            "train": {"docs": n_selected - eval_docs, "tokens": total_sel - eval_tokens},
            "eval": {"docs": eval_docs, "tokens": eval_tokens},
        },
        "budget_used": total_sel / plan.token_budget if plan.token_budget else None,
        "mixture": mixture,
        "sources": sources,
        "log_weight_quantiles": {
            "kept": histogram_quantiles(kept_hist),
            "dropped": histogram_quantiles(dropped_hist),
        },
    }
