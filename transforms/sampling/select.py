"""`SelectDocuments`: which candidates go to the shards, and with which split.

Input: a PCollection of `Candidate(id, source, n_tokens, scores)`, one per document that survived
filtering and dedup (metadata only; the texts stay on disk). Output: a dict

- `"selected"`: PCollection of `(id, "train" | "eval")`;
- `"report"`: a single-element PCollection holding the report dict (selection.py `_report`);
- `"baseline"`: PCollection of ids of a uniform random selection with the same budgets, only when
  `dsir.enabled` (for `DsirFeatureKL`, the paper's KL diagnostic, computed on the texts).

Modes: `all` keeps every valid candidate (no shuffle, no combine); `budget` and `top_k` run the
pure selection in selection.py: weigh + key each candidate (`WeighCandidates`), one
`CombinePerKey` per group (mixture source, or one group), then a single finalisation step. The
result depends only on the set of candidates, the config and the seed: not on worker count,
bundle split or input order. Memory of the combine is bounded by the budget's id list (plus
lookahead) per group, not by the corpus.

Counters (namespace `sampling`): `candidates`, `selected`, `selected_eval`, and one per drop
reason: `bad_candidate`, `not_in_mixture`, `weight_zero`, `weight_invalid`, `sampled_out`;
`bad_score` counts present-but-invalid score values replaced by their default.
"""

from __future__ import annotations

import math
from typing import Any

import apache_beam as beam

from transforms.sampling.budget import BudgetSelector, Entry
from transforms.sampling.candidate import Candidate, counter, parse_candidate, source_of
from transforms.sampling.config import SamplingConfig
from transforms.sampling.keep_all import KeepAll
from transforms.sampling.keys import derive_seed, log_priority_key
from transforms.sampling.selection import (
    OUTSIDE,
    GroupState,
    SelectionPlan,
    SourceTally,
    Weighed,
    finalize,
)
from transforms.sampling.weights import WeightExpression, resolve_scores

__all__ = ["Candidate", "SelectDocuments", "WeighCandidates"]


class WeighCandidates(beam.DoFn):
    """Candidate -> (group, Weighed): weight, priority key, drop reason."""

    def __init__(self, cfg: SamplingConfig, seed: int) -> None:
        self._text = cfg.weight
        self._defaults = cfg.defaults()
        self._dsir = cfg.dsir.enabled
        self._top_k = cfg.mode == "top_k"
        self._plan = SelectionPlan.from_config(cfg, seed)
        self._seed = seed

    def setup(self) -> None:
        self._expr = WeightExpression(self._text)
        self._names = self._expr.names | ({"dsir"} if self._dsir else set())
        self._key_seed = derive_seed(self._seed, "select")
        self._base_seed = derive_seed(self._seed, "baseline")
        self._counters = {
            r: counter(r)
            for r in (
                "candidates",
                "bad_candidate",
                "not_in_mixture",
                "weight_zero",
                "weight_invalid",
                "bad_score",
            )
        }

    def process(self, c: Any):
        self._counters["candidates"].inc()
        parsed = parse_candidate(c)
        if parsed is None:
            self._counters["bad_candidate"].inc()
            source = source_of(c)
            yield (
                self._plan.group_of(source),
                Weighed(source, "", 0, math.nan, -math.inf, -math.inf, "bad_candidate"),
            )
            return
        doc_id, source, n_tokens, scores = parsed
        values, bad = resolve_scores(scores, self._names, self._defaults)
        if bad:
            self._counters["bad_score"].inc(len(bad))
        lw = self._expr.log_weight(values)
        if self._dsir:  # the scorer already applied its temperature
            lw += values["dsir"]
        reason = "weight_invalid" if math.isnan(lw) else "weight_zero" if lw == -math.inf else ""
        if self._plan.group_of(source) == OUTSIDE:
            reason = "not_in_mixture"
        if reason:
            self._counters[reason].inc()
        key = lw if self._top_k else log_priority_key(doc_id, lw, self._key_seed)
        base = log_priority_key(doc_id, 0.0, self._base_seed) if self._plan.baseline else -math.inf
        yield (
            self._plan.group_of(source),
            Weighed(source, doc_id, n_tokens, lw, key, base, reason, len(bad)),
        )


class GroupStateCoder(beam.coders.Coder):
    """Encodes a GroupState as primitive lists (FastPrimitivesCoder); the plan stays in the coder.

    Without it Beam pickles and bz2-compresses every accumulator between the lifted combine's
    stages (and sizes them with `objsize`): measured as most of the selection's cost.
    """

    def __init__(self, plan: SelectionPlan) -> None:
        self._plan = plan
        self._inner = beam.coders.FastPrimitivesCoder()

    @staticmethod
    def _selector(sel: BudgetSelector | None):
        if sel is None:
            return None
        sel.compact()  # ship only what can still matter
        entries = sel.entries
        return (
            sel.cap_tokens,
            sel.cap_docs,
            [e.neg_key for e in entries],
            [e.doc_id for e in entries],
            [e.n_tokens for e in entries],
            [e.log_weight for e in entries],
            [e.source for e in entries],
        )

    @staticmethod
    def _unselector(state) -> BudgetSelector | None:
        if state is None:
            return None
        cap_tokens, cap_docs, keys, ids, tokens, logw, sources = state
        return BudgetSelector._from_state(
            (
                cap_tokens,
                cap_docs,
                [Entry(*e) for e in zip(keys, ids, tokens, logw, sources, strict=True)],
            )
        )

    def encode(self, acc: GroupState) -> bytes:
        tally = {
            s: (
                t.docs,
                t.tokens,
                t.eligible_docs,
                t.eligible_tokens,
                t.bad_scores,
                t.dropped,
                t.hist,
            )
            for s, t in acc.tally.items()
        }
        return self._inner.encode(
            (self._selector(acc.selector), self._selector(acc.baseline), tally)
        )

    def decode(self, encoded: bytes) -> GroupState:
        sel, base, tally = self._inner.decode(encoded)
        acc = GroupState(self._plan)
        acc.selector, acc.baseline = self._unselector(sel), self._unselector(base)
        for source, (
            docs,
            tokens,
            eligible_docs,
            eligible_tokens,
            bad,
            dropped,
            hist,
        ) in tally.items():
            acc.tally[source] = SourceTally(
                docs, tokens, eligible_docs, eligible_tokens, bad, dict(dropped), dict(hist)
            )
        return acc

    def is_deterministic(self) -> bool:
        return False


class _GroupCombineFn(beam.CombineFn):
    def __init__(self, plan: SelectionPlan) -> None:
        self._plan = plan

    def get_accumulator_coder(self):
        return GroupStateCoder(self._plan)

    def create_accumulator(self) -> GroupState:
        return GroupState(self._plan)

    def add_input(self, acc: GroupState, w: Weighed) -> GroupState:
        return acc.add(w)

    def merge_accumulators(self, accs) -> GroupState:
        accs = list(accs)
        return accs[0].merge(accs[1:])

    def compact(self, acc: GroupState) -> GroupState:
        return acc

    def extract_output(self, acc: GroupState) -> GroupState:
        return acc


class _Finalize(beam.DoFn):
    """The merged group states -> selected pairs (main), report and baseline ids (tagged)."""

    def __init__(self, plan: SelectionPlan) -> None:
        self._plan = plan

    def process(self, states: dict):
        selected, baseline, report = finalize(self._plan, states)
        counter("selected").inc(len(selected))
        counter("selected_eval").inc(report["selected"]["eval"]["docs"])
        counter("sampled_out").inc(
            sum(s["not_selected"]["sampled_out"] for s in report["sources"].values())
        )
        yield beam.pvalue.TaggedOutput("report", report)
        for doc_id in baseline:
            yield beam.pvalue.TaggedOutput("baseline", doc_id)
        yield from selected


class SelectDocuments(beam.PTransform):
    """Selects documents under the sampling config (see module docstring).

    Args:
        cfg: the sampling config section (validated).
        seed: the run seed; the sampling seed is `seed + cfg.seed_offset`.
    """

    def __init__(self, cfg: SamplingConfig, seed: int) -> None:
        super().__init__()
        problems = cfg.validate()
        if problems:
            raise ValueError("invalid sampling config: " + "; ".join(problems))
        self._cfg = cfg
        self._seed = int(seed) + cfg.seed_offset

    def expand(self, candidates):
        if self._cfg.mode == "all":
            return candidates | "KeepAll" >> KeepAll(self._cfg.eval_fraction, self._seed)
        plan = SelectionPlan.from_config(self._cfg, self._seed)
        out = (
            candidates
            | "Weigh" >> beam.ParDo(WeighCandidates(self._cfg, self._seed))
            | "SelectPerGroup" >> beam.CombinePerKey(_GroupCombineFn(plan))
            # One state per mixture group, but each holds the ids its token budget selects:
            # bounded: by the token budget, not the corpus (a known limit, docs/scaling.md)
            | "Gather" >> beam.combiners.ToDict()
            | "Finalize"
            >> beam.ParDo(_Finalize(plan)).with_outputs("report", "baseline", main="selected")
        )
        result = {"selected": out.selected, "report": out.report}
        if plan.baseline:
            result["baseline"] = out.baseline
        return result
