"""The HTML report has every section, its images exist, data is escaped; summarize() reads well."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from quality.report import build_report, summarize
from quality.report_config import ReportConfig, ValidationConfig
from quality.validation import validate_output
from tests.stats.fake_output import build_fake_output

SECTIONS = [
    "funnel",
    "sources",
    "lengths",
    "scores",
    "tokens",
    "ngrams",
    "dedup",
    "quality",
    "sampling",
    "examples",
    "validation",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    manifest = build_fake_output(out, n_docs=120)
    manifest["validation"] = validate_output(str(out), manifest, ValidationConfig())
    manifest["report"] = "report/index.html"
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    path = build_report(str(out), manifest, stats, ReportConfig(examples_per_reason=2))
    return out, manifest, stats, Path(path).read_text(encoding="utf-8")


def test_every_section_is_there_and_filled(run):
    out, manifest, stats, html = run
    for section in SECTIONS:
        assert f'<section id="{section}">' in html, section
    assert "Some sections could not be built" not in html
    assert "No token statistics" not in html and "No n-gram" not in html
    for reason in ("too_short", "toxicity", "exact", "near", "malformed_json"):
        assert reason in html
    assert stats["corpus"]["ngrams"]["top"][0][0] in html  # the sketch found heavy n-grams
    assert "95% interval" in html and "ip_address" in html and "token budget" in html
    assert "selected docs" in html and "Not shown: ngram_distribution" in html
    assert "validation passed" in html
    assert "Scorer features (1 columns)" in html and "score_gopher_quality_word_count.png" in html


def test_images_exist_and_nothing_is_fetched(run):
    out, _, _, html = run
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 13  # incl. toxicity, bias, sampling mixture and weight charts
    for src in images:
        assert src.startswith("img/") and src.endswith(".png")
        path = out / "report" / src
        assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    docs = re.findall(r'<a href="(\.\./validation/[^"]+)">', html)
    assert len(docs) == 5  # the index and one static page per suite
    for link in docs:
        assert (out / "report" / link).resolve().exists()


def test_example_text_is_escaped_and_truncated(run):
    _, _, _, html = run
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert "&lt;unterminated" in html  # dead-letter raw line
    assert "[…]" in html


def test_top_tokens_are_decoded(run):
    _, _, stats, html = run
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(run[0] / "tokenizer" / "tokenizer.json"))
    token_id = stats["corpus"]["token_frequencies"]["top"][0][0]
    text = tok.decode([token_id]).replace(" ", "␣").replace("\n", "↵")
    assert f'<td class="tok">{text}</td>' in html


def test_report_survives_missing_and_odd_inputs(tmp_path):
    manifest = build_fake_output(tmp_path, n_docs=40, extras=False)
    for sub in ("rejected", "removed"):
        for f in (tmp_path / sub).iterdir():
            f.write_text('not json\n{"reason": 3}\n', encoding="utf-8")
    os.remove(tmp_path / "tokenizer" / "tokenizer.json")
    odd = {
        "quality_summary": {"toxicity": [1, {"deep": {"er": {"still": {"deeper": {"x": 1}}}}}]},
        "sampling": {"note": "<i>hi</i>"},
        "dedup": {"exact_cluster_sizes": {"two": 1}},
    }
    html = Path(build_report(str(tmp_path), manifest, odd, ReportConfig())).read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
    assert "&lt;i&gt;hi&lt;/i&gt;" in html and "No token statistics" in html
    assert "validation skipped" in html
    html = Path(build_report(str(tmp_path), {}, {}, ReportConfig())).read_text()
    assert '<section id="funnel">' in html


def test_summarize_prints_funnel_sources_verdict_and_paths(run, tmp_path):
    out, manifest, _, _ = run
    text = summarize(str(out))
    assert "read" in text and "written" in text and "rejected: too_short" in text
    for source in manifest["accounting"]["by_source"]:
        assert f"\n{source} " in text
    assert "validation: PASSED" in text
    assert str(out / "report" / "index.html") in text and "data docs:" in text
    failed = dict(
        manifest,
        validation={
            "success": False,
            "expectations": [
                {
                    "name": "ids_unique",
                    "success": False,
                    "observed": {"unexpected_count": 2, "where": ["shards/train-00001.arrow"]},
                }
            ],
        },
    )
    (tmp_path / "manifest.json").write_text(json.dumps(failed), encoding="utf-8")
    text = summarize(str(tmp_path))
    assert "validation: FAILED" in text and "ids_unique" in text and "train-00001" in text
    assert "no readable manifest.json" in summarize(str(tmp_path / "missing"))


def test_report_config_reports_every_problem():
    assert ReportConfig().validate() == []
    assert len(ReportConfig(top_tokens=0, example_chars=5, image_dpi=1000).validate()) == 3


def test_bias_hides_a_ratio_from_tiny_counts_and_says_why():
    from quality.report.stage_sections import bias_summary

    group = {"docs": 3, "scored_docs": 3, "toxic_docs": 1, "toxic_rate": 1 / 3, "disparity": 1007}
    view = bias_summary(
        {
            "toxicity_threshold": 0.8,
            "corpus": {
                "docs": 3020,
                "docs_with_identity": 3,
                "scored_docs": 3020,
                "toxic_docs": 1,
                "groups": {"gender:male": group},
            },
        }
    )
    (row,) = view["rows"]
    assert row["ratio"] is None and row["ratio_note"] == "not shown: 1 toxic of 3"
    assert "1 of the 3 mentioning gender:male" in view["sentence"]
    assert "orders of magnitude" in view["sentence"]


def test_sampling_is_labelled_values_not_a_dict_dump():
    from quality.report.stage_sections import sampling_facts

    facts = dict(
        sampling_facts({"budget_used": 1.0, "k": None, "lookahead": 0.25, "mode": "budget"})
    )
    assert facts == {
        "mode": "budget",
        "token budget used": "100.00%",
        "lookahead past the budget": "25% of the budget",
    }
