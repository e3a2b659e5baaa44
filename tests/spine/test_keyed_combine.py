"""One combine of tagged summaries gives what one combine per summary gives; the drop writer
writes every place's files from one set of steps."""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.infra.accounting import MergeTallies, Tally, accounting_from_tally
from transforms.infra.keyed_combine import CombineByTag, CombineEachKey
from transforms.infra.record import DeadLetter, Record, Rejection
from transforms.infra.sinks import WriteJsonLines
from transforms.stages.text_features import MergeAccumulators


class _Max:
    """A mergeable accumulator (`merge(other) -> self`), like the corpus sketches."""

    def __init__(self, value: int) -> None:
        self.value = value

    def merge(self, other: _Max) -> _Max:
        self.value = max(self.value, other.value)
        return self


def _tally(source: str, n: int) -> dict:
    t = Tally()
    t.add("read", "", source, 10 * n, n)
    return t.to_state()


def _fns() -> dict:
    return {
        "sum": beam.combiners.CountCombineFn(),
        "list": beam.combiners.ToListCombineFn(),
        "tally": MergeTallies(),
        "max": CombineEachKey(MergeAccumulators()),
    }


def test_combine_by_tag_equals_one_combine_per_tag_over_any_split():
    items = [("sum", 1)] * 5 + [("list", "a"), ("list", "b")]
    items += [("tally", _tally("s", 2)), ("tally", _tally("t", 3)), ("tally", _tally("s", 4))]
    items += [("max", ("x", _Max(3))), ("max", ("y", _Max(1))), ("max", ("x", _Max(7)))]
    fn = CombineByTag(_fns())
    # Accumulate in three parts and merge, as bundles and the combiner lifting would.
    parts = [fn.create_accumulator() for _ in range(3)]
    for i, item in enumerate(items):
        parts[i % 3] = fn.add_input(parts[i % 3], item)
    out = fn.extract_output(fn.merge_accumulators(parts))
    assert out["sum"] == 5
    assert sorted(out["list"]) == ["a", "b"]
    accounting = accounting_from_tally(Tally.from_state(out["tally"]))
    assert accounting["by_source"]["s"]["read"] == 6 and accounting["by_source"]["t"]["read"] == 3
    assert {k: v.value for k, v in out["max"].items()} == {"x": 7, "y": 1}


def test_combine_by_tag_gives_every_tag_its_empty_output():
    fn = CombineByTag(_fns())
    out = fn.extract_output(fn.add_input(fn.create_accumulator(), ("sum", 1)))
    assert out["sum"] == 1 and out["list"] == [] and out["max"] == {}
    assert out["tally"] == MergeTallies().extract_output(Tally())


def test_combine_by_tag_in_a_pipeline():
    with TestPipeline() as p:
        out = (
            p
            | beam.Create([("sum", 1), ("sum", 1), ("list", 3)])
            | beam.CombineGlobally(
                CombineByTag(
                    {
                        "sum": beam.combiners.CountCombineFn(),
                        "list": beam.combiners.ToListCombineFn(),
                    }
                )
            )
        )
        assert_that(out, equal_to([{"sum": 2, "list": [3]}]))


def test_accumulated_in_bundles_equals_one_combine_of_every_value():
    """Per-bundle accumulators merged by MergeAccumulatorsOf: the inner CombineFn's own answer."""
    from transforms.infra.keyed_combine import AccumulateInBundle, MergeAccumulatorsOf

    with TestPipeline() as p:
        values = p | beam.Create(list(range(1, 101)), reshuffle=True)
        folded = (
            values
            | beam.ParDo(AccumulateInBundle(beam.combiners.MeanCombineFn(), "mean"))
            | beam.CombineGlobally(
                CombineByTag({"mean": MergeAccumulatorsOf(beam.combiners.MeanCombineFn())})
            )
        )
        assert_that(folded, equal_to([{"mean": 50.5}]))
    fn = CombineByTag({"mean": MergeAccumulatorsOf(beam.combiners.MeanCombineFn())})
    assert (
        fn.extract_output(fn.create_accumulator())["mean"]
        != fn.extract_output(fn.create_accumulator())["mean"]
    )  # no values: the inner fn's own empty answer (NaN)


def test_one_writer_writes_every_place_and_an_empty_file_for_a_place_without_drops(tmp_path):
    rec = Record("d1", "some text", "web", {})
    drops = {
        "dead_letter": [DeadLetter("bad_json", "web", "f.jsonl", 3, b"{", "")],
        "rejected": [
            Rejection(rec, "too_short", "3 words"),
            Rejection(rec._replace(id="d2"), "too_short", "2 words"),
        ],
        "removed": [],
    }
    with TestPipeline() as p:
        tallies = {
            place: p | f"Create_{place}" >> beam.Create(rs) for place, rs in drops.items()
        } | (WriteJsonLines(str(tmp_path)))
        tally = tallies | beam.Flatten() | beam.CombineGlobally(MergeTallies())
        assert_that(
            tally | beam.Map(lambda s: accounting_from_tally(Tally.from_state(s))["rejected"]),
            equal_to([{"too_short": 2}]),
        )
    files = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in tmp_path.rglob("*.jsonl")}
    assert sorted(files) == [
        "dead_letter/dead_letter-00000-of-00001.jsonl",
        "rejected/rejected-00000-of-00001.jsonl",
        "removed/removed-00000-of-00001.jsonl",
    ]
    assert files["removed/removed-00000-of-00001.jsonl"] == ""
    rejected = files["rejected/rejected-00000-of-00001.jsonl"].splitlines()
    assert rejected == sorted(rejected) and [json.loads(r)["id"] for r in rejected] == ["d1", "d2"]
    assert json.loads(files["dead_letter/dead_letter-00000-of-00001.jsonl"])["reason"] == "bad_json"
