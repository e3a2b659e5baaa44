"""`SelectDocuments`: which candidates go to the shards, and with which split.

Input: a PCollection of `Candidate(id, source, n_tokens, scores)`, one per document that survived
filtering and dedup (metadata only; the texts stay on disk). Output: a dict

- `"selected"`: PCollection of `(id, "train" | "eval")`;
- `"report"`: a single-element PCollection holding the report dict (selection.py `_report`);
- `"baseline"`: PCollection of ids of a uniform random selection with the same budgets, only when
  `dsir.enabled` (for `DsirFeatureKL`, the paper's KL diagnostic, computed on the texts).

Modes: `all` keeps every valid candidate (no shuffle, no combine); `budget` and `top_k` select
exactly what `finalize` (selection.py, the pure reference) selects, without ever holding the
selected ids in one worker or element:

1. `Weigh`: each candidate gets its weight, priority key and drop reason (`WeighCandidates`),
   in batches of `BATCH` that every later pass reads again;
2. `TallyGroups`: per mixture group and source, counters and a log-weight histogram (bounded by
   the number of sources and histogram bins) -> the groups' budgets (`group_budgets`);
3. `Refine0..6`: per group, the exact entries of the key order where the prefix sum of tokens
   crosses the budget and the lookahead window (or the k-th entry for `top_k`), found by hash
   samples and bucket counts of the interval still open (threshold.py): each pass sends one
   bounded accumulator per group and bundle, and the state is a few entries per group;
4. `DecideByCut`: every candidate is tested on its own against its group's cut (parallel);
   `TailPartials`/`TailTaken`: the skip-and-continue tail after the cut, from the few small
   entries that can still fill the gap (bounded by the largest document's tokens, not the budget);
5. `Split` labels each selected id train or eval (`EvalSplitter`, per id), and `TallyKept` +
   `Report` build the report from counts and token sums per source (no ids).

The result depends only on the set of candidates, the config and the seed: not on worker count,
bundle split or input order.

Counters (namespace `sampling`): `candidates`, `selected`, `selected_eval`, and one per drop
reason: `bad_candidate`, `not_in_mixture`, `weight_zero`, `weight_invalid`, `sampled_out`;
`bad_score` counts present-but-invalid score values replaced by their default.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from transforms.sampling.budget import Entry
from transforms.sampling.candidate import Candidate, counter, parse_candidate, source_of
from transforms.sampling.config import SamplingConfig
from transforms.sampling.keep_all import KeepAll
from transforms.sampling.keys import derive_seed, log_priority_key
from transforms.sampling.selection import (
    OUTSIDE,
    KeptTally,
    SelectionPlan,
    SourceTally,
    Weighed,
    build_report,
    group_budgets,
    merge_tallies,
)
from transforms.sampling.split import EvalSplitter
from transforms.sampling.threshold import (
    BASE,
    ROUNDS,
    SAMPLE_SIZE,
    SEL,
    CountPass,
    SamplePass,
    TailPass,
    line_entries,
    sample_hash,
    start,
    taken_before_cut,
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


BATCH = 1024  # weighed candidates per element between the passes


class _WeighBatches(WeighCandidates):
    """Candidates -> lists of up to `BATCH` (group, Weighed as a plain tuple).

    Every threshold pass reads the weighed candidates again: in lists of primitive tuples, each
    pass pays Beam's per-element cost (coder, data plane) once per batch, not once per candidate.
    A batch holds at most `BATCH` candidates, whatever the corpus.
    """

    def start_bundle(self) -> None:
        self._batch: list = []

    def process(self, c: Any):
        for group, w in super().process(c):
            self._batch.append((group, tuple(w)))
        if len(self._batch) >= BATCH:
            batch, self._batch = self._batch, []
            yield batch

    def finish_bundle(self):
        if self._batch:
            yield WindowedValue(self._batch, MIN_TIMESTAMP, [GlobalWindow()])
        self._batch = []


class _PartialPass(beam.DoFn):
    """Batches of (group, Weighed) -> one partial accumulator per group and bundle for a `threshold` pass.

    Accumulating per bundle (emitted in finish_bundle) sends one small value per group and bundle
    to the combine instead of one per candidate. With `keyed`, a bundle emits one (None,
    {group: partial}) instead, even when it saw nothing: the refinement passes merge every group
    in one combine (`_Refine`), which must get at least one input (the empty batch that
    `SelectDocuments` adds to the weighed batches sees to that).
    """

    def __init__(self, plan: SelectionPlan, step, keyed: bool = False) -> None:
        self._plan, self._step, self._keyed = plan, step, keyed

    def start_bundle(self) -> None:
        self._accs: dict = {}

    def process(self, batch: list, state: dict):
        hashed = isinstance(self._step, SamplePass)
        for group, t in batch:
            gs = state.get(group)
            if gs is None or not self._step.wants(gs):
                continue
            w = Weighed(*t)
            entries = line_entries(self._plan, w)
            if entries:
                h = sample_hash(w.doc_id) if hashed else 0.0
                self._step.add(self._accs.setdefault(group, {}), gs, entries, h)

    def finish_bundle(self):
        if self._keyed:
            yield WindowedValue((None, self._accs), MIN_TIMESTAMP, [GlobalWindow()])
        else:
            for group, acc in self._accs.items():
                yield WindowedValue((group, acc), MIN_TIMESTAMP, [GlobalWindow()])
        self._accs = {}


class _MergePartials(beam.CombineFn):
    """Merges a pass's partial accumulators of one group (the pass's own `merge`)."""

    def __init__(self, step) -> None:
        self._step = step

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, partial: dict) -> dict:
        return self._step.merge([acc, partial])

    def merge_accumulators(self, accs) -> dict:
        return self._step.merge(accs)

    def extract_output(self, acc: dict) -> dict:
        return acc


class _MergeGroups(beam.CombineFn):
    """Merges a pass's {group: partial} dicts, each group by the pass's own `merge`."""

    def __init__(self, step) -> None:
        self._step = step

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, partials: dict) -> dict:
        for group, partial in partials.items():
            acc[group] = self._step.merge([acc.get(group, {}), partial])
        return acc

    def merge_accumulators(self, accs) -> dict:
        by_group: dict = {}
        for acc in accs:
            for group, partial in acc.items():
                by_group.setdefault(group, []).append(partial)
        return {group: self._step.merge(parts) for group, parts in by_group.items()}

    def extract_output(self, acc: dict) -> dict:
        return acc


def _advance(merged: tuple[None, dict], step, state: dict) -> dict:
    return {
        g: step.advance(gs, merged[1].get(g, {})) if step.wants(gs) else gs
        for g, gs in state.items()
    }


class _Refine(beam.PTransform):
    """One pass of the threshold search: {"weighed", "state"} -> the next state (singleton).

    Two fused stages on the embedded runner: the pass over the weighed batches, then the merge
    of every group's partials with the next state computed in the same step (the state is a side
    input there). The weighed batches hold one empty batch, so the merge always has an input.
    """

    def __init__(self, plan: SelectionPlan, step) -> None:
        super().__init__()
        self._plan, self._step = plan, step

    def expand(self, inputs):
        state = beam.pvalue.AsSingleton(inputs["state"])
        return (
            inputs["weighed"]
            # bounded: the side input is the search state: a few searches per mixture group,
            # each with at most SAMPLE_SIZE sample entries (threshold.py)
            | "PassPartials" >> beam.ParDo(_PartialPass(self._plan, self._step, keyed=True), state)
            # bounded: one merged accumulator per group: SAMPLE_SIZE sample entries or bucket
            # weights per search; the last pass's interval, expected n * (2 / SAMPLE_SIZE) ** ROUNDS
            | "MergePartials" >> beam.CombinePerKey(_MergeGroups(self._step))
            # bounded: the side input is the search state (see PassPartials)
            | "Advance" >> beam.Map(_advance, self._step, state)
        )


@beam.typehints.with_output_types(tuple[Any, ...])  # main: an Entry as a plain tuple
class _Decide(beam.DoFn):
    """Batches of (group, Weighed) -> selected entries (main), baseline ids (tagged) before the cut."""

    def __init__(self, plan: SelectionPlan) -> None:
        self._plan = plan

    def process(self, batch: list, state: dict):
        for group, t in batch:
            gs = state.get(group)
            if gs is None:
                continue
            for line, e in line_entries(self._plan, Weighed(*t)).items():
                if taken_before_cut(gs, line, e):
                    yield tuple(e) if line == SEL else beam.pvalue.TaggedOutput(BASE, e.doc_id)


@beam.typehints.with_output_types(Iterable[tuple[Any, ...]])  # main: an Entry as a plain tuple
def _tail_taken(item):
    _, acc = item
    for line, e in TailPass.taken(acc):
        yield tuple(e) if line == SEL else beam.pvalue.TaggedOutput(BASE, e.doc_id)


class _LabelSplit(beam.DoFn):
    """A selected entry -> (id, split) (main) and (entry, split) for the report (tagged)."""

    def __init__(self, fraction: float, seed: int) -> None:
        self._fraction, self._seed = fraction, seed

    def setup(self) -> None:
        self._splitter = EvalSplitter(self._fraction, self._seed)

    def process(self, entry: tuple):
        split = self._splitter(entry[1])
        yield entry[1], split
        yield beam.pvalue.TaggedOutput("kept", (entry, split))


class _TallyFn(beam.CombineFn):
    """Batches of (group, Weighed) -> {group: {source: SourceTally}}: counters and histograms."""

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, batch: list) -> dict:
        for group, t in batch:
            w = Weighed(*t)
            acc.setdefault(group, {}).setdefault(w.source, SourceTally()).add(w)
        return acc

    def merge_accumulators(self, accs) -> dict:
        out: dict = {}
        for acc in accs:
            for group, tallies in acc.items():
                mine = out.setdefault(group, {})
                for s, t in tallies.items():
                    mine.setdefault(s, SourceTally()).merge(t)
        return out

    def extract_output(self, acc: dict) -> dict:
        return acc


class _KeptFn(beam.CombineFn):
    """(entry, split) of each selected document -> `KeptTally` (counts and sums, no ids)."""

    def create_accumulator(self) -> KeptTally:
        return KeptTally()

    def add_input(self, acc: KeptTally, item) -> KeptTally:
        entry, split = item
        acc.add(Entry(*entry), split)
        return acc

    def merge_accumulators(self, accs) -> KeptTally:
        accs = iter(accs)
        first = next(accs)
        for other in accs:
            first.merge(other)
        return first

    def extract_output(self, acc: KeptTally) -> KeptTally:
        return acc


def _start(tallies: dict, plan: SelectionPlan) -> dict:
    return start(plan, group_budgets(plan, tallies)[0])


def _report(kept: KeptTally, plan: SelectionPlan, tallies: dict) -> dict:
    budgets, available = group_budgets(plan, tallies)
    report = build_report(plan, merge_tallies(tallies.values()), kept, budgets, available)
    counter("selected").inc(report["selected"]["docs"])
    counter("selected_eval").inc(report["selected"]["eval"]["docs"])
    counter("sampled_out").inc(
        sum(s["not_selected"]["sampled_out"] for s in report["sources"].values())
    )
    return report


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
        weighed = candidates | "Weigh" >> beam.ParDo(_WeighBatches(self._cfg, self._seed))
        # bounded: per mixture group and source, counters and a fixed-bin log-weight histogram
        tallies = weighed | "TallyGroups" >> beam.CombineGlobally(_TallyFn())
        state = tallies | "StartSearch" >> beam.Map(_start, plan)
        # One empty batch beside the weighed ones: every refinement pass merges at least one
        # bundle's output (see _Refine), even with no candidates.
        searched = (
            weighed,
            state | "EmptyBatch" >> beam.Map(lambda _: []).with_output_types(list),
        ) | "WeighedAndEmpty" >> beam.Flatten()
        steps = [SamplePass(SAMPLE_SIZE), CountPass()] * ROUNDS + [SamplePass(None)]
        for i, step in enumerate(steps):
            state = {"weighed": searched, "state": state} | f"Refine{i}" >> _Refine(plan, step)
        final = beam.pvalue.AsSingleton(state)
        # bounded: the final search state (a few thresholds per group) is the only side input
        cut = weighed | "DecideByCut" >> beam.ParDo(_Decide(plan), final).with_outputs(
            BASE, main=SEL
        )
        tail = (
            weighed
            # bounded: the final search state again (see DecideByCut)
            | "TailPartials" >> beam.ParDo(_PartialPass(plan, TailPass()), final)
            | "MergeTail" >> beam.CombinePerKey(_MergePartials(TailPass()))
            | "TailTaken" >> beam.FlatMap(_tail_taken).with_outputs(BASE, main=SEL)
        )
        labelled = (
            (cut[SEL], tail[SEL])
            | "SelectedEntries" >> beam.Flatten()
            | "Split"
            >> beam.ParDo(_LabelSplit(self._cfg.eval_fraction, self._seed)).with_outputs(
                "kept", main="selected"
            )
        )
        report = (
            labelled.kept
            # bounded: counts and token sums per source, a fixed-bin histogram (no ids)
            | "TallyKept" >> beam.CombineGlobally(_KeptFn())
            # bounded: the group tallies (per-source counters and histograms)
            | "Report" >> beam.Map(_report, plan, beam.pvalue.AsSingleton(tallies))
        )
        result = {"selected": labelled.selected, "report": report}
        if plan.baseline:  # built only then: an unread Flatten is still a fused stage to run
            result["baseline"] = (cut[BASE], tail[BASE]) | "BaselineIds" >> beam.Flatten()
        return result
