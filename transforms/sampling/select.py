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
import numbers
from collections.abc import Mapping
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.coders import FastPrimitivesCoder
from apache_beam.metrics import Metrics

from transforms.sampling.config import SamplingConfig
from transforms.sampling.keys import derive_seed, log_priority_key
from transforms.sampling.selection import OUTSIDE, GroupState, SelectionPlan, Weighed, finalize
from transforms.sampling.split import EvalSplitter
from transforms.sampling.weights import WeightExpression, resolve_scores

NAMESPACE = "sampling"


class Candidate(NamedTuple):
    """Per-document metadata the selection needs."""

    id: str
    source: str
    n_tokens: int
    scores: dict[str, float]


class CandidateCoder(beam.coders.Coder):
    """Encodes a Candidate as a primitive tuple (Beam would otherwise pickle the NamedTuple)."""

    def __init__(self) -> None:
        self._inner = FastPrimitivesCoder()

    def encode(self, value: Candidate) -> bytes:
        return self._inner.encode(tuple(value))

    def decode(self, encoded: bytes) -> Candidate:
        return Candidate(*self._inner.decode(encoded))

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self):
        return Candidate


beam.coders.registry.register_coder(Candidate, CandidateCoder)


def _parse(c: Any) -> tuple[str, str, int, Mapping | None] | None:
    """(id, source, n_tokens, scores) of a well-formed candidate, else None (bad records never crash)."""
    if not isinstance(c, tuple) or len(c) != 4:
        return None
    doc_id, source, n_tokens, scores = c
    if not (isinstance(doc_id, str) and doc_id and isinstance(source, str)):
        return None
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, numbers.Integral) or n_tokens <= 0:
        return None
    if scores is not None and not isinstance(scores, Mapping):
        return None
    return doc_id, source, int(n_tokens), scores


def _source_of(c: Any) -> str:
    return c[1] if isinstance(c, tuple) and len(c) > 1 and isinstance(c[1], str) else "<invalid>"


def _counter(name: str):
    return Metrics.counter(NAMESPACE, name)


class WeighCandidates(beam.DoFn):
    """Candidate -> (group, Weighed): weight, priority key, drop reason."""

    def __init__(self, cfg: SamplingConfig, seed: int) -> None:
        self._text = cfg.weight
        self._defaults = cfg.defaults()
        self._temperature = cfg.dsir.temperature if cfg.dsir.enabled else None
        self._top_k = cfg.mode == "top_k"
        self._plan = SelectionPlan.from_config(cfg, seed)
        self._seed = seed

    def setup(self) -> None:
        self._expr = WeightExpression(self._text)
        self._names = self._expr.names | ({"dsir"} if self._temperature is not None else set())
        self._key_seed = derive_seed(self._seed, "select")
        self._base_seed = derive_seed(self._seed, "baseline")
        self._counters = {
            r: _counter(r)
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
        parsed = _parse(c)
        if parsed is None:
            self._counters["bad_candidate"].inc()
            source = _source_of(c)
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
        if self._temperature:
            lw += self._temperature * values["dsir"]
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


class _GroupCombineFn(beam.CombineFn):
    def __init__(self, plan: SelectionPlan) -> None:
        self._plan = plan

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
        _counter("selected").inc(len(selected))
        _counter("selected_eval").inc(report["selected"]["eval"]["docs"])
        _counter("sampled_out").inc(
            sum(s["not_selected"]["sampled_out"] for s in report["sources"].values())
        )
        yield beam.pvalue.TaggedOutput("report", report)
        for doc_id in baseline:
            yield beam.pvalue.TaggedOutput("baseline", doc_id)
        yield from selected


class _KeepAll(beam.DoFn):
    """mode all: every valid candidate with its split; a tally row per candidate for the report."""

    def __init__(self, fraction: float, seed: int) -> None:
        self._fraction, self._seed = fraction, seed

    def setup(self) -> None:
        self._split = EvalSplitter(self._fraction, self._seed)
        self._bad = _counter("bad_candidate")
        self._selected = _counter("selected")

    def process(self, c: Any):
        parsed = _parse(c)
        if parsed is None:
            self._bad.inc()
            yield beam.pvalue.TaggedOutput("tally", (_source_of(c), "bad_candidate", 0))
            return
        doc_id, source, n_tokens, _ = parsed
        split = self._split(doc_id)
        self._selected.inc()
        yield beam.pvalue.TaggedOutput("tally", (source, split, n_tokens))
        yield doc_id, split


def _add_row(acc: dict, row: tuple[str, str, int]) -> dict:
    source, what, n = row
    d, t = acc.get((source, what), (0, 0))
    acc[(source, what)] = (d + 1, t + n)
    return acc


def _merge_tallies(tallies) -> dict:
    out: dict = {}
    for tally in tallies:
        for k, (d, t) in tally.items():
            od, ot = out.get(k, (0, 0))
            out[k] = (od + d, ot + t)
    return out


def _all_mode_report(tally: dict, seed: int) -> dict:
    sources: dict = {}
    split = {"train": [0, 0], "eval": [0, 0]}
    for (source, what), (d, t) in sorted(tally.items()):
        s = sources.setdefault(
            source,
            {"docs": 0, "tokens": 0, "selected_docs": 0, "selected_tokens": 0, "not_selected": {}},
        )
        s["docs"] += d
        if what == "bad_candidate":
            s["not_selected"]["bad_candidate"] = d
            continue
        s["tokens"] += t
        s["selected_docs"] += d
        s["selected_tokens"] += t
        split[what][0] += d
        split[what][1] += t
    docs = sum(s["docs"] for s in sources.values())
    return {
        "mode": "all",
        "seed": seed,
        "candidates": {"docs": docs, "tokens": sum(s["tokens"] for s in sources.values())},
        "selected": {
            "docs": split["train"][0] + split["eval"][0],
            "tokens": split["train"][1] + split["eval"][1],
            **{k: {"docs": v[0], "tokens": v[1]} for k, v in split.items()},
        },
        "sources": sources,
    }


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
            return self._expand_all(candidates)
        plan = SelectionPlan.from_config(self._cfg, self._seed)
        out = (
            candidates
            | "Weigh" >> beam.ParDo(WeighCandidates(self._cfg, self._seed))
            | "SelectPerGroup" >> beam.CombinePerKey(_GroupCombineFn(plan))
            | "Gather" >> beam.combiners.ToDict()
            | "Finalize"
            >> beam.ParDo(_Finalize(plan)).with_outputs("report", "baseline", main="selected")
        )
        result = {"selected": out.selected, "report": out.report}
        if plan.baseline:
            result["baseline"] = out.baseline
        return result

    def _expand_all(self, candidates):
        out = candidates | "KeepAll" >> beam.ParDo(
            _KeepAll(self._cfg.eval_fraction, self._seed)
        ).with_outputs("tally", main="selected")
        report = (
            out.tally
            | "Tally" >> beam.CombineGlobally(_TallyFn())
            | "Report" >> beam.Map(_all_mode_report, self._seed)
        )
        return {"selected": out.selected, "report": report}


class _TallyFn(beam.CombineFn):
    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, row) -> dict:
        return _add_row(acc, row)

    def merge_accumulators(self, accs) -> dict:
        return _merge_tallies(accs)

    def extract_output(self, acc: dict) -> dict:
        return acc
