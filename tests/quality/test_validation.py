"""The GX gate passes a good run output and fails each kind of corruption, naming the check."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil

import pyarrow as pa
import pytest

from quality.report_config import ValidationConfig
from quality.validation import validate_output
from tests.stats.fake_output import build_fake_output, write_stream

FAST = ValidationConfig(data_docs=False)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    out = tmp_path_factory.mktemp("good")
    return out, build_fake_output(out, n_docs=80, include_text=False)


def corrupt_copy(good, tmp_path):
    src, manifest = good
    dst = tmp_path / "out"
    shutil.copytree(src, dst)
    return dst, copy.deepcopy(manifest)


def rewrite_shard(out, manifest, index: int, edit) -> None:
    """Applies `edit(table) -> table` to shard `index` and keeps the manifest's checksums true."""
    entry = manifest["shards"][index]
    path = out / entry["path"]
    with pa.OSFile(str(path)) as fh:  # not memory-mapped: the file is rewritten below
        table = edit(pa.ipc.open_stream(fh).read_all())
    write_stream(path, table)
    entry.update(
        rows=table.num_rows,
        bytes=path.stat().st_size,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        tokens=int(pa.compute.sum(table.column("n_tokens")).as_py()),
    )


def test_good_output_passes_and_builds_data_docs(good):
    out, manifest = good
    verdict = validate_output(str(out), manifest, ValidationConfig())
    assert verdict["success"], verdict["failed"]
    names = {e["name"] for e in verdict["expectations"]}
    assert {
        "ids_unique",
        "ids_not_null",
        "token_ids_below_vocab",
        "n_tokens_min_bound",
        "no_duplicate_texts",
        "accounting_reconciles",
        "toxicity_mean_ceiling",
        "score_quality_max",
        "shard_sha256_match",
    } <= names
    assert verdict["data_docs"] == "validation/data_docs/index.html"
    assert os.path.exists(out / verdict["data_docs"])
    assert verdict["sample_rows"] == sum(s["rows"] for s in manifest["shards"])
    json.dumps(verdict)  # stored in the manifest as is


def test_duplicate_ids_and_texts_fail(good, tmp_path):
    out, manifest = corrupt_copy(good, tmp_path)

    def duplicate_first_row(table):
        return pa.concat_tables([table, table.slice(0, 1)])

    rewrite_shard(out, manifest, 1, duplicate_first_row)
    manifest["accounting"]["written"] += 1  # keep the accounting checks out of the way
    manifest["accounting"]["read"] += 1
    verdict = validate_output(str(out), manifest, FAST)
    assert not verdict["success"]
    assert set(verdict["failed"]) == {"ids_unique", "no_duplicate_texts"}
    failed = next(e for e in verdict["expectations"] if e["name"] == "ids_unique")
    assert failed["observed"]["where"] == [manifest["shards"][1]["path"]] * 2


def test_token_id_out_of_vocab_and_score_out_of_range_fail(good, tmp_path):
    out, manifest = corrupt_copy(good, tmp_path)
    vocab = manifest["tokenizer"]["vocab_size"]

    def break_row(table):
        ids = table.column("input_ids").to_pylist()
        ids[0] = ids[0][:-1] + [vocab]
        quality = table.column("quality").to_pylist()
        quality[1] = 1.5
        table = table.set_column(2, "input_ids", pa.array(ids, pa.list_(pa.int32())))
        return table.set_column(4, "quality", pa.array(quality, pa.float32()))

    rewrite_shard(out, manifest, 0, break_row)
    verdict = validate_output(str(out), manifest, FAST)
    assert set(verdict["failed"]) == {"token_ids_below_vocab", "score_quality_max"}


def test_broken_accounting_checksum_and_missing_shard_fail(good, tmp_path):
    out, manifest = corrupt_copy(good, tmp_path)
    source = sorted(manifest["accounting"]["by_source"])[0]
    manifest["accounting"]["by_source"][source]["read"] += 3
    manifest["shards"][0]["sha256"] = "0" * 64
    manifest["shards"].append({"path": "shards/train-00009.arrow", "rows": 5, "tokens": 9})
    verdict = validate_output(str(out), manifest, FAST)
    assert not verdict["success"]
    assert {"accounting_reconciles", "shard_sha256_match", "shards_readable"} <= set(
        verdict["failed"]
    )
    acc = next(e for e in verdict["expectations"] if e["name"] == "accounting_reconciles")
    assert acc["observed"]["where"] == [f"source {source}"]


def test_toxicity_ceiling_and_token_bounds_follow_the_config(good):
    out, manifest = good
    strict = ValidationConfig(data_docs=False, toxicity_mean_max=0.0, max_tokens=3)
    verdict = validate_output(str(out), manifest, strict)
    assert set(verdict["failed"]) == {"toxicity_mean_ceiling", "n_tokens_max_bound"}


def test_garbage_input_gives_a_failed_verdict_not_an_exception(tmp_path):
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "train-00000.arrow").write_bytes(b"not arrow at all")
    manifest = {"shards": [{"path": "shards/train-00000.arrow", "rows": 1}], "accounting": {}}
    verdict = validate_output(str(tmp_path), manifest, FAST)
    assert verdict["success"] is False
    assert "shards_readable" in verdict["failed"] and "accounting_reconciles" in verdict["failed"]


def test_gate_opens_no_network_connection(good, tmp_path, monkeypatch):
    import socket

    calls = []

    def refuse(self, address, *args, **kwargs):
        calls.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    out, manifest = corrupt_copy(good, tmp_path)
    verdict = validate_output(str(out), manifest, ValidationConfig())
    assert verdict["success"] and calls == []


def test_validation_config_reports_every_problem():
    assert ValidationConfig().validate() == []
    problems = ValidationConfig(
        sample_rows_per_shard=0, min_tokens=5, max_tokens=2, score_min=1, score_max=0
    ).validate()
    assert len(problems) == 3


def test_data_docs_have_a_static_page_per_suite(good):
    out, manifest = good
    verdict = validate_output(str(out), manifest, ValidationConfig())
    assert set(verdict["data_docs_pages"]) == {"shards", "sample", "corpus", "accounting"}
    for page in verdict["data_docs_pages"].values():
        html = (out / page).read_text(encoding="utf-8")
        assert "Expectation Validation Result" in html


def test_raw_feature_columns_are_not_bounded_like_scores(good, tmp_path):
    out, manifest = corrupt_copy(good, tmp_path)

    def add_features(table):
        n = table.num_rows
        table = table.append_column(
            "gopher_quality_word_count", pa.array([250.0] * n, pa.float32())
        )
        return table.append_column("bias_weight", pa.array([3.0] * n, pa.float32()))

    for i in range(len(manifest["shards"])):
        rewrite_shard(out, manifest, i, add_features)
    verdict = validate_output(str(out), manifest, FAST)
    assert verdict["success"], verdict["failed"]
    assert not any("word_count" in e["name"] for e in verdict["expectations"])
