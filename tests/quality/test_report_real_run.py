"""The report and the gate on a real small run (not a hand-built output): sections present,
numbers equal to stats.json and the manifest."""

from __future__ import annotations

import html
import json
import re

import pytest
import yaml

from pipelines.config import load_config
from pipelines.run import run
from quality.report.render import fmt
from tests.spine.corpus import sources, write_corpus


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report_run")
    corpus = tmp / "corpus"
    write_corpus(corpus)
    cfg = {
        "run": {
            "name": "real",
            "output": str(tmp / "out"),
            "seed": 2,
            "progress": False,
            "running_mode": "in_memory",
            "workers": 1,
        },
        "input": {"sources": sources(corpus), "max_doc_bytes": 10_000},
        "tokenizer": {"vocab_size": 400, "train_sample_docs": 200},
        "shards": {"rows_per_shard": 16},
        "sampling": {"eval_fraction": 0.2},
    }
    path = tmp / "real.yaml"
    path.write_text(yaml.safe_dump(cfg))
    manifest = run(load_config(str(path)))
    out = tmp / "out"
    stats = json.loads((out / "stats.json").read_text())
    page = (out / manifest["report"]).read_text()
    return manifest, stats, page


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_report_sections_are_present(real_run):
    manifest, stats, page = real_run
    for section in (
        "funnel",
        "sources",
        "lengths",
        "scores",
        "tokens",
        "dedup",
        "sampling",
        "validation",
    ):
        assert f'<section id="{section}"' in page, section
    assert "Some sections could not be built" not in page
    assert manifest["validation"]["success"] is True


def test_report_numbers_equal_stats_and_manifest(real_run):
    manifest, stats, page = real_run
    acc = stats["funnel"]
    assert acc == manifest["accounting"]
    cards = dict(re.findall(r'<div class="k">([^<]+)</div><div class="n[^"]*">([^<]+)</div>', page))
    assert cards["documents read"] == fmt(acc["read"])
    assert cards["documents written"] == fmt(acc["written"])
    train_tokens = sum(s["tokens"] for s in manifest["shards"])
    assert cards["train tokens"] == fmt(train_tokens)
    assert (
        cards["shards (train / eval)"]
        == f"{len(manifest['shards'])} / {len(manifest['eval_shards'])}"
    )
    text = _text(page)
    # Per-source rows: read, dead-letter, written exactly as in the accounting.
    for source, block in acc["by_source"].items():
        dead = sum(block["dead_letter"].values())
        row = re.search(
            rf"\b{source}\s+{re.escape(fmt(block['read']))}\s+{re.escape(fmt(dead))}\b", text
        )
        assert row, f"source row for {source}"
    # The corpus statistics saw exactly the written documents and tokens.
    assert stats["corpus"]["docs"] == acc["written"]
    assert stats["tokens"]["written"] == sum(
        s["tokens"] for s in manifest["shards"] + manifest["eval_shards"]
    )


def _html_files(out):
    return sorted(p for p in out.rglob("*.html"))


def test_funnel_bytes_add_up_to_bytes_read(real_run):
    from transforms.infra.accounting import byte_gap

    manifest, _stats, page = real_run
    acc = manifest["accounting"]
    for scope in (acc, *acc["by_source"].values()):
        assert byte_gap(scope) == 0, scope["bytes"]
        if scope["sampled_out"]:
            assert scope["bytes"]["sampled_out"] > 0
    assert "MB not accounted for" not in page
    read_mb = f"{acc['bytes']['read'] / 1e6:,.2f}"
    assert f"add up to {read_mb} of the {read_mb} MB read" in _text(page)


def test_generated_html_is_offline_and_names_no_machine_path(real_run):
    manifest, _stats, _page = real_run
    out = _output_of(manifest)
    files = _html_files(out)
    assert any("data_docs" in str(p) for p in files) and (out / "report/index.html") in files
    machine = str(out.parent)  # the tests' temp root: holds the corpus and the output
    for path in files:
        html_text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://", html_text), f"network URL in {path}"
        assert "newsletter" not in html_text, f"GX newsletter footer in {path}"
        assert machine not in html_text, f"absolute path in {path}"
    css = out / "validation/data_docs/static/styles/curate_offline.css"
    assert css.exists()
    index = (out / "validation/data_docs/index.html").read_text(encoding="utf-8")
    for page in manifest["validation"]["data_docs_pages"].values():
        assert page.removeprefix("validation/data_docs/") in index


def test_no_classifier_section_without_a_classifier(real_run):
    _manifest, stats, page = real_run
    assert not (stats.get("quality_summary") or {}).get("classifier", {}).get("scored")
    assert "Classifier score" not in page
    assert "<th>classifier</th>" not in page
    assert "classifier</a>" not in page


def test_score_histograms_carry_thresholds_and_outcomes(real_run):
    _manifest, stats, page = real_run
    qs = stats["quality_summary"]
    outcomes = qs["score_outcomes"]
    assert sum(outcomes["quality"]["kept"]) == qs["kept"]
    assert sum(outcomes["quality"]["rejected"]) == qs["docs"] - qs["kept"]
    marks = dict(re.findall(r'alt="histogram of (\w+)" data-threshold="([^"]+)"', page))
    assert marks, "no score histograms"
    if "toxicity" in marks:
        assert float(marks["toxicity"]) == qs["toxicity_threshold"]
    assert all(v == "none" or float(v) >= 0 for v in marks.values())
    assert "No threshold: this score does not reject documents by itself." in page


def _output_of(manifest):
    from pathlib import Path

    return Path(manifest["config"]["run"]["output"])
