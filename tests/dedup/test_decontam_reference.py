"""Decontamination, the cross-release filter and their Beam step."""

import gzip
import json

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.dedup.bloom import BloomFilter
from transforms.dedup.config import (
    CrossReleaseConfig,
    DecontaminationConfig,
    DedupConfig,
    EvalSetConfig,
)
from transforms.dedup.decontam import Decontaminator
from transforms.dedup.reference import ApplyReferenceFilters, BloomUnion
from transforms.infra.hashing import content_key
from transforms.infra.record import Record

QUESTION = (
    "Which of the following planets has the longest day of all the planets in our solar system "
    "measured in earth hours"
)
SHORT = "What is the boiling point of water at sea level"  # 10 words


def _eval_files(tmp_path):
    jl = tmp_path / "qa.jsonl.gz"
    with gzip.open(jl, "wt") as fh:
        fh.write(json.dumps({"question": QUESTION, "answer": "Venus", "id": 1}) + "\n")
        fh.write("{broken json\n")
        fh.write(json.dumps({"question": SHORT, "answer": "100"}) + "\n")
    txt = tmp_path / "lines.txt"
    txt.write_text(
        "a completely different reference sentence that talks about rivers lakes and seas\n"
    )
    return [
        EvalSetConfig(name="qa", paths=[str(jl)], fields=["question"]),
        EvalSetConfig(name="lines", paths=[str(txt)]),
    ]


def test_hits_find_copied_questions_despite_case_and_punctuation(tmp_path):
    cfg = DecontaminationConfig(eval_sets=_eval_files(tmp_path))
    dc = Decontaminator.from_eval_sets(cfg)
    leaked = "Intro text. " + QUESTION.upper().replace(" of ", ", of ") + "? Answer: Venus."
    hits = dc.hits(leaked)
    assert hits["qa"] == len(QUESTION.split()) - 13 + 1 and hits["lines"] == 0
    assert dc.hits("unrelated words " * 20) == {"qa": 0, "lines": 0}
    assert dc.hits(f"quiz: {SHORT.lower()}!")["qa"] == 1  # a short example matched whole
    assert dc.hits("What is the boiling point")["qa"] == 0


def test_config_validation_reports_missing_eval_files(tmp_path):
    spec = EvalSetConfig(name="x", paths=[str(tmp_path / "missing.jsonl")])
    assert any("no file matches" in p for p in spec.validate())
    assert DecontaminationConfig(ngram=0).validate()


def _records():
    return [
        Record("old", "hello this text was in the previous release already", "s", {}),
        Record("leak", f"Some blog post. {QUESTION}.", "s", {}),
        Record("clean", "a fresh document with nothing to hide at all", "s", {}),
    ]


def test_apply_reference_filters_drop_and_flag(tmp_path):
    prev = BloomFilter.for_capacity(100, 0.001)
    prev.add_many([content_key(_records()[0].text)])
    prev_path = tmp_path / "prev.bloom"
    prev.save(prev_path)
    eval_sets = _eval_files(tmp_path)
    for action in ("drop", "flag"):
        cfg = DedupConfig(
            cross_release=CrossReleaseConfig(previous_filter=str(prev_path)),
            # No corpus-wide count of common n-grams: stage 1 decides alone (as GPT-3 did).
            decontamination=DecontaminationConfig(
                eval_sets=eval_sets, action=action, common_docs=0, common_fraction=0.0
            ),
        )
        with TestPipeline(runner="FnApiRunner") as p:
            out = p | beam.Create(_records()) | ApplyReferenceFilters(cfg)
            removed = out.removed | beam.Map(
                lambda rt: (rt[0].id, rt[0].stage, rt[0].cluster, rt[0].kept_id)
            )
            kept = out.main | beam.Map(lambda r: (r.id, r.meta.get("decontam")))
            if action == "drop":
                assert_that(
                    removed,
                    equal_to(
                        [("old", "cross_release", "", ""), ("leak", "decontamination", "qa", "")]
                    ),
                )
                assert_that(kept, equal_to([("clean", None)]), label="kept")
            else:
                assert_that(removed, equal_to([("old", "cross_release", "", "")]))
                assert_that(
                    kept,
                    equal_to([("leak", {"qa": len(QUESTION.split()) - 12}), ("clean", None)]),
                    label="kept",
                )


def test_bloom_union_builds_a_cumulative_release_filter(tmp_path):
    prev = BloomFilter.for_capacity(1000, 0.01, seed=5)
    prev.add_many([content_key("published before")])
    prev.save(tmp_path / "prev.bloom")
    cfg = CrossReleaseConfig(previous_filter=str(tmp_path / "prev.bloom"))
    texts = [f"document number {i}" for i in range(300)]
    with TestPipeline(runner="FnApiRunner") as p:
        bloom = (
            p | beam.Create(texts) | beam.Map(content_key) | beam.CombineGlobally(BloomUnion(cfg))
        )
        check = bloom | beam.Map(
            lambda b: (
                bool(b.contains_many([content_key(t) for t in texts]).all()),
                content_key("published before") in b,
                (b.m, b.k, b.seed) == (prev.m, prev.k, prev.seed),
            )
        )
        assert_that(check, equal_to([(True, True, True)]))
