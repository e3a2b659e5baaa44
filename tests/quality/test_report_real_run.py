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
