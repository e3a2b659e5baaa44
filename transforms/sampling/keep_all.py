"""mode `all`: every valid candidate is kept, with its split; a small report of what was kept."""

from __future__ import annotations

from typing import Any

import apache_beam as beam

from transforms.sampling.candidate import counter, parse_candidate, source_of
from transforms.sampling.split import EvalSplitter


class _KeepAll(beam.DoFn):
    """mode all: every valid candidate with its split; a tally row per candidate for the report."""

    def __init__(self, fraction: float, seed: int) -> None:
        self._fraction, self._seed = fraction, seed

    def setup(self) -> None:
        self._split = EvalSplitter(self._fraction, self._seed)
        self._bad = counter("bad_candidate")
        self._selected = counter("selected")

    def process(self, c: Any):
        parsed = parse_candidate(c)
        if parsed is None:
            self._bad.inc()
            yield beam.pvalue.TaggedOutput("tally", (source_of(c), "bad_candidate", 0))
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


class _TallyFn(beam.CombineFn):
    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, row) -> dict:
        return _add_row(acc, row)

    def merge_accumulators(self, accs) -> dict:
        return _merge_tallies(accs)

    def extract_output(self, acc: dict) -> dict:
        return acc


class KeepAll(beam.PTransform):
    """Candidates -> {"selected": (id, split), "report": one dict}, keeping every valid one."""

    def __init__(self, eval_fraction: float, seed: int) -> None:
        super().__init__()
        EvalSplitter(eval_fraction, seed)  # validates the fraction now, not on a worker
        self._fraction, self._seed = eval_fraction, seed

    def expand(self, candidates):
        out = candidates | "Split" >> beam.ParDo(_KeepAll(self._fraction, self._seed)).with_outputs(
            "tally", main="selected"
        )
        report = (
            out.tally
            | "Tally" >> beam.CombineGlobally(_TallyFn())
            | "Report" >> beam.Map(_all_mode_report, self._seed)
        )
        return {"selected": out.selected, "report": report}
