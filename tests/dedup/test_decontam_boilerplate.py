"""Decontamination targets shared content, not shared boilerplate (issue 22).

The demo ablation's 13-gram decontamination removed a third of the training documents because
they shared a licence header or a man-page template with the held-out documents. Here many
documents share a licence header with the eval set and only two share real content (a
paragraph of a held-out document): only those two may go, while GPT-3's rule (one shared
n-gram) removes them all. Templates that only a few documents share (a sibling's "For more
information" sentence, a line several held-out documents repeat) are no evidence either.
"""

from __future__ import annotations

import json

import apache_beam as beam
import numpy as np
import yaml
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.config import load_config
from pipelines.run import run
from quality.report.summary import decontamination_share, end_of_run_notes
from transforms.dedup.config import DecontaminationConfig, DedupConfig, EvalSetConfig
from transforms.dedup.decontam import Decontaminator
from transforms.dedup.decontam_beam import CommonEvalNgrams
from transforms.dedup.reference import ReferenceFilters
from transforms.infra.record import Record

LICENCE = (
    "Copyright the Example Authors. Licensed under the Apache License, Version 2.0 (the "
    "License); you may not use this file except in compliance with the License. You may obtain "
    "a copy of the License at http://www.apache.org/licenses/LICENSE-2.0. Unless required by "
    "applicable law or agreed to in writing, software distributed under the License is "
    "distributed on an AS IS BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND."
)
GREEK = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
]


def _body(seed: int, n: int = 60) -> str:
    """Words that no other seed's body shares a 13-gram with."""
    rng = np.random.default_rng(seed)
    return " ".join(f"{GREEK[rng.integers(len(GREEK))]}{seed}x{j}" for j in range(n))


N_HEADER_ONLY, LEAKED = 30, (3, 7)  # training docs with only the header; docs copying an eval body
EVAL_WORDS, COPIED = 160, 80  # an eval document's own words; the paragraph a leaked doc copies


def _corpus() -> tuple[list[dict], list[dict]]:
    evals = [{"id": f"e{k}", "text": f"{LICENCE}\n{_body(1000 + k, EVAL_WORDS)}"} for k in range(3)]
    train = []
    for i in range(N_HEADER_ONLY + 2):
        body = _body(i)
        if i in LEAKED:  # half of an eval document's own content, inside the training document
            body += " " + _body(1000 + LEAKED.index(i), COPIED)  # its body's first 80 words
        train.append({"id": f"d{i:03d}", "text": f"{LICENCE}\n{body}"})
    return train, evals


def _write(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


OLD_RULE = {
    "min_hits": 1, "min_overlap": 0.0, "min_passage_words": 0, "common_docs": 0,
    "common_fraction": 0.0, "eval_common": 0,
}  # fmt: skip
# The rule before templates were recognised by passage length and by the eval side (issue 22).
HITS_RULE = {"min_passage_words": 0, "example_share": 1.0, "eval_common": 0, "common_docs": 5}


# ----------------------------------------------------------------------------------- the rule
def _dc(**kw) -> Decontaminator:
    """min_hits and min_overlap alone (any passage) unless `kw` says otherwise."""
    example = " ".join(f"w{j}" for j in range(112))  # 100 distinct 13-grams
    short = "what is the boiling point of water at sea level"  # 10 words: matched whole
    kw = {"min_hits": 3, "min_overlap": 0.1, **kw}
    return Decontaminator.from_texts({"ev": [example, short]}, 13, 8, **kw)


def _from_config(examples: list[str], **kw) -> Decontaminator:
    """A decontaminator with the config's rule (its defaults, or `kw`)."""
    cfg = DecontaminationConfig(**kw)
    return Decontaminator.from_texts(
        {"ev": examples}, cfg.ngram, cfg.min_example_words, cfg.min_hits, cfg.min_overlap,
        cfg.min_passage_words, cfg.example_share, cfg.eval_common,
    )  # fmt: skip


def _doc_sharing(k: int, filler: int) -> str:
    """A document holding k consecutive 13-grams of the long example, plus filler words."""
    return " ".join([f"w{j}" for j in range(k + 12)] + [f"f{j}" for j in range(filler)])


def test_min_hits_counts_distinct_shared_ngrams():
    dc = _dc(min_overlap=0.0)
    for k, expected in ((1, False), (2, False), (3, True)):
        assert bool(dc.judge(dc.matches(_doc_sharing(k, 0)))) is expected, k


def test_min_overlap_needs_a_share_of_the_document_or_of_one_example():
    dc = _dc(min_hits=3, min_overlap=0.1)
    # 5 shared 13-grams in a 1,000-word document: 0.5% of it and 5% of the example -> kept.
    assert dc.judge(dc.matches(_doc_sharing(5, 1000))) == {}
    # 12 of the example's 100 13-grams: 12% of the example, however long the document.
    verdict = dc.judge(dc.matches(_doc_sharing(12, 5000)))["ev"]
    assert verdict.hits == 12 and abs(verdict.overlap - 0.12) < 1e-9 and not verdict.whole
    assert verdict.passage == 12 + 12  # 12 consecutive 13-grams: 24 words


def test_a_whole_short_example_is_contamination_whatever_min_hits():
    dc = _dc(min_hits=5)
    m = dc.matches("Quiz: What is the boiling point of water at sea level? " * 3)
    assert dc.judge(m)["ev"].whole


def test_common_ngrams_are_no_evidence():
    dc = _dc(min_overlap=0.0)
    m = dc.matches(_doc_sharing(6, 0))
    assert dc.judge(m)
    common = np.sort(m.found["ev"][:4])  # 4 of the 6 shared n-grams are common: 2 left < 3
    assert dc.judge(m, common) == {}


def _words(tag: str, n: int) -> str:
    return " ".join(f"{tag}{j}" for j in range(n))


# A docs site's closing line: sibling pages repeat it, with the same service filled in.
TEMPLATE = (
    "This command produces no output. For more information, see Tagging your resources "
    "https://docs.example.com/sitewise/latest/userguide/tag-resources.html in the Example "
    "SiteWise User Guide."
)  # 28 words


def test_a_templated_sentence_shared_with_a_sibling_is_no_evidence():
    """A held-out page and one training page (its sibling) share the closing sentence and
    nothing else: under the earlier rule (any passage) 16 shared 13-grams covering 35% of the
    page removed it; a sentence is not a passage."""
    held_out = f"{_words('untag', 30)} {TEMPLATE}"
    sibling = f"{_words('tag', 30)} {TEMPLATE}"
    before = _from_config([held_out], **HITS_RULE).judge(_from_config([held_out]).matches(sibling))
    assert before["ev"].hits == 16  # the earlier rule took it
    dc = _from_config([held_out])
    verdict = dc.verdict("ev", dc.matches(sibling))
    assert verdict.passage == 28 and not dc.contaminated(verdict)


def test_a_paragraph_repeated_by_several_held_out_documents_is_no_evidence():
    """A paragraph-long template (70 words) in two held-out documents and one training document:
    only the eval side can tell it is a template (the corpus is too small to count it)."""
    template = _words("req", 70)
    held_out = [f"{_words('a', 40)} {template}", f"{_words('b', 40)} {template}"]
    doc = f"{_words('c', 40)} {template}"
    assert _from_config(held_out, eval_common=0).judge(_from_config(held_out).matches(doc))
    assert _from_config(held_out).judge(_from_config(held_out).matches(doc)) == {}
    # The same eval example twice is not a template of itself.
    copied = _from_config([held_out[0], held_out[0]])
    assert copied.judge(copied.matches(doc))["ev"].passage == 70


def test_a_copied_paragraph_is_evidence_and_a_sentence_of_it_is_not():
    held_out = _words("h", 300)
    dc = _from_config([held_out])
    for copied, expected in ((80, True), (40, False)):
        doc = f"{_words('x', 100)} {' '.join(held_out.split()[50 : 50 + copied])} {_words('y', 50)}"
        verdict = dc.verdict("ev", dc.matches(doc))
        assert verdict.passage == copied and dc.contaminated(verdict) is expected, copied


def test_most_of_a_short_example_is_evidence_without_a_passage():
    """A 50-word question copied with its 41st word changed: no longer whole, no passage of 64
    words, but 28 of its 38 13-grams are there."""
    question = _words("q", 50)
    edited = question.replace("q40", "changed")
    dc = _from_config([question])
    verdict = dc.verdict("ev", dc.matches(f"intro words here {edited} answer"))
    assert not verdict.whole and verdict.passage == 40 and verdict.share == 28 / 38
    assert dc.contaminated(verdict)


def test_config_rejects_bad_thresholds():
    problems = DecontaminationConfig(
        min_overlap=1.5, common_docs=-1, common_fraction=2, warn_fraction=-0.1,
        min_passage_words=-1, example_share=0.0, eval_common=1,
    ).validate()  # fmt: skip
    assert len(problems) == 7
    cfg = DecontaminationConfig(common_docs=5, common_fraction=1e-4)
    assert cfg.common_cap(1000) == 5 and cfg.common_cap(10_000_000) == 1000
    assert DecontaminationConfig(common_docs=0, common_fraction=0.0).counts_common is False


# ------------------------------------------------------------------------------- Beam steps
def test_common_eval_ngrams_counts_documents_per_hash():
    cfg = DecontaminationConfig(common_docs=2, common_fraction=0.0)
    arrays = [np.array([1, 2, 3], dtype=np.int64)] * 3 + [np.array([3, 4], dtype=np.int64)] * 2
    with TestPipeline(runner="FnApiRunner") as p:
        common = {
            "ngrams": p | "N" >> beam.Create(arrays),
            "n_docs": p | "D" >> beam.Create([100]),
        } | CommonEvalNgrams(cfg)
        # 1, 2: in 3 docs; 3: in 5; 4: in 2 (not above the cap of 2)
        assert_that(common | beam.Map(lambda a: a.tolist()), equal_to([[1, 2, 3]]))


def _records(train):
    return [Record(d["id"], d["text"], "web", {"_pos": i}) for i, d in enumerate(train)]


def test_reference_filters_remove_only_documents_sharing_real_content(tmp_path):
    train, evals = _corpus()
    ev = [EvalSetConfig("heldout", [_write(tmp_path / "eval.jsonl", evals)], ["text"])]
    leaked = {f"d{i:03d}" for i in LEAKED}
    for rule, expected in (({}, leaked), (OLD_RULE, {d["id"] for d in train})):
        cfg = DedupConfig(
            decontamination=DecontaminationConfig(eval_sets=ev, action="drop", **rule)
        )
        with TestPipeline(runner="FnApiRunner") as p:
            out = p | beam.Create(_records(train)) | ReferenceFilters(cfg)
            if rule:  # the old rule decides in stage 1: the records leave main
                ids = out.removed | beam.Map(lambda rt: rt[0].id)
            else:  # decided after the corpus-wide count, for the dedup stage to apply
                ids = out.decontam | beam.Map(lambda kv: kv[1].id)
            assert_that(ids, equal_to(sorted(expected)))


def test_reference_filters_ignore_templates_that_only_a_few_documents_share(tmp_path):
    """Through the corpus-count path: a sibling sharing a templated sentence, and three training
    documents repeating a paragraph of a held-out one (the corpus's own boilerplate, above the
    `common_docs` floor of 2) stay; the document copying a paragraph goes. The earlier rule
    (any passage, a floor of 5) removed all five."""
    held_out = f"{LICENCE}\n{_body(2000, EVAL_WORDS)} {_body(2001, 70)} {TEMPLATE}"
    evals = [{"id": "e0", "text": held_out}]
    train = [{"id": "sibling", "text": f"{LICENCE}\n{_body(1)} {TEMPLATE}"}]
    train += [{"id": f"rep{i}", "text": f"{_body(10 + i)} {_body(2001, 70)}"} for i in range(3)]
    train += [{"id": "leak", "text": f"{_body(20)} {_body(2000, COPIED)}"}]
    train += [{"id": f"d{i:03d}", "text": f"{LICENCE}\n{_body(i)}"} for i in range(30, 40)]
    ev = [EvalSetConfig("heldout", [_write(tmp_path / "eval.jsonl", evals)], ["text"])]
    before = {"leak", "sibling", "rep0", "rep1", "rep2"}
    for rule, expected in (({}, {"leak"}), (HITS_RULE, before)):
        cfg = DedupConfig(
            decontamination=DecontaminationConfig(eval_sets=ev, action="drop", **rule)
        )
        with TestPipeline(runner="FnApiRunner") as p:
            out = p | beam.Create(_records(train)) | ReferenceFilters(cfg)
            ids = out.decontam | beam.Map(lambda kv: kv[1].id)
            assert_that(ids, equal_to(sorted(expected)))


# ------------------------------------------------------------------------- the real pipeline
def _config(tmp_path, name, data, evalset, decontam):
    cfg = {
        "run": {
            "name": name,
            "output": str(tmp_path / name),
            "seed": 3,
            "progress": False,
            "running_mode": "in_memory",
            "workers": 1,
        },
        "input": {"sources": [{"name": "web", "paths": [data]}]},
        "tokenizer": {"vocab_size": 300, "train_sample_docs": 100},
        "quality": {"enabled": False},
        "shards": {"rows_per_shard": 50, "include_text": True},
        "dedup": {
            "decontamination": {
                "eval_sets": [{"name": "heldout", "paths": [evalset], "fields": ["text"]}],
                "action": "drop",
                **decontam,
            }
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return load_config(str(path))


def test_a_run_removes_only_the_contaminated_documents_and_reports_the_share(tmp_path):
    train, evals = _corpus()
    data, evalset = _write(tmp_path / "data.jsonl", train), _write(tmp_path / "eval.jsonl", evals)
    m = run(_config(tmp_path, "run", data, evalset, {}))
    assert m["accounting_ok"]
    assert m["accounting"]["removed"].get("decontamination") == len(LEAKED)
    removed = [
        json.loads(line)
        for f in sorted((tmp_path / "run" / "removed").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    decontaminated = [r for r in removed if r["stage"] == "decontamination"]
    assert {r["id"] for r in decontaminated} == {f"d{i:03d}" for i in LEAKED}
    assert all(r["text"] and r["cluster"] == "heldout" for r in decontaminated)
    share = m["decontamination"]
    assert share["removed"] == len(LEAKED) and share["read"] == len(train)
    assert share["by_source"]["web"]["share"] == round(len(LEAKED) / len(train), 6)
    assert share["warn"] == ["all", "web"]  # 2 of 32 is 6%, above the default 5%
    assert "warning: decontamination removed 6.2%" in end_of_run_notes(m, {})
    html = (tmp_path / "run" / "report" / "index.html").read_text()
    assert "Removed by decontamination" in html and "above the 5% warning level" in html


def test_the_warning_follows_warn_fraction():
    acc = {"read": 100, "removed": {"decontamination": 4}, "by_source": {
        "a": {"read": 50, "removed": {"decontamination": 4}},
        "b": {"read": 50, "removed": {}},
    }}  # fmt: skip
    config = {"dedup": {"decontamination": {"eval_sets": [{"name": "x"}], "action": "drop"}}}
    share = decontamination_share(acc, config)
    assert share["share"] == 0.04 and share["warn"] == ["a"]  # a: 8% > 5%; overall 4% is not
    assert "'a' 8.0%" in end_of_run_notes({"decontamination": share}, {})
    config["dedup"]["decontamination"]["warn_fraction"] = 0.1
    assert decontamination_share(acc, config)["warn"] == []
    assert end_of_run_notes({"decontamination": decontamination_share(acc, config)}, {}) == ""
    assert decontamination_share(acc, {"dedup": {"decontamination": {"eval_sets": []}}}) is None
