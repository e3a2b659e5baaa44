"""A run whose output is remote (a fake `fakegs://` Beam filesystem) keeps the gate and report."""

from __future__ import annotations

import json

from pipelines.config import load_config
from pipelines.run import run
from tests.spine.fake_remote import FakeGcsFileSystem
from tests.spine.small_run import write_config, write_corpus
from train.manifest import load_manifest, verify_manifest


def test_the_whole_pipeline_on_a_remote_output_keeps_the_gate(tmp_path, monkeypatch):
    bucket = tmp_path / "bucket"
    monkeypatch.setattr(FakeGcsFileSystem, "root", str(bucket))
    corpus = write_corpus(tmp_path / "in" / "docs.jsonl", n_docs=40)
    cfg = write_config(
        tmp_path / "c.yaml",
        [str(corpus)],
        "fakegs://b/release",
        run={"running_mode": "in_memory"},
        validation={"data_docs": True},
        dedup={"near": {"enabled": True}},
    )
    manifest = run(load_config(str(cfg)))

    out = bucket / "b" / "release"
    assert manifest["accounting_ok"]
    assert manifest["validation"]["success"] is True, manifest["validation"]
    assert not manifest["validation"].get("skipped")
    assert manifest["report"] == "report/index.html"
    assert "fakegs://b/release" in (out / "report" / "index.html").read_text()
    assert (out / manifest["validation"]["data_docs"]).is_file()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["funnel"]["written"] == manifest["accounting"]["written"] > 0
    assert json.loads((out / "manifest.json").read_text())["validation"]["success"] is True
    assert not [p for p in (out / "_tmp").rglob("*") if p.is_file()]  # spill runs deleted

    # The trainer reads the remote manifest as it is, fetching the shards it checks.
    monkeypatch.setenv("CURATE_TRAIN_CACHE", str(tmp_path / "cache"))
    verify_manifest(load_manifest("fakegs://b/release/manifest.json"))


def test_a_remote_output_folder_is_claimed_like_a_local_one(tmp_path, monkeypatch):
    from pipelines.output_folder import OutputFolder
    from transforms.infra import fs

    monkeypatch.setattr(FakeGcsFileSystem, "root", str(tmp_path))
    out = "fakegs://b/r"
    fs.atomic_write_bytes(fs.join(out, "shards", "train-0.arrow"), b"old")
    fs.atomic_write_bytes(fs.join(out, "mine.txt"), b"mine")
    manifest = {"format_version": 1, "accounting": {}, "outputs": ["shards", "manifest.json"]}
    fs.atomic_write_bytes(fs.join(out, "manifest.json"), json.dumps(manifest).encode())
    assert fs.listdir(out) == ["manifest.json", "mine.txt", "shards"]

    folder = OutputFolder(out, ["shards", "manifest.json", "_tmp"])
    folder.check()
    moves = folder.claim()
    assert moves[fs.join(out, "shards")] == fs.join(out, "_previous", "shards")
    assert fs.listdir(out) == ["_previous", "_tmp", "mine.txt"]
    folder.failed()  # nothing new written: the old outputs come back
    assert fs.listdir(out) == ["manifest.json", "mine.txt", "shards"]
    with fs.open_read(fs.join(out, "shards", "train-0.arrow")) as fh:
        assert fh.read() == b"old"


def test_a_remote_output_is_locked_through_a_marker(tmp_path, monkeypatch):
    import pytest

    from pipelines.output_lock import LOCK, OutputBusy, OutputLock
    from transforms.infra import fs

    monkeypatch.setattr(FakeGcsFileSystem, "root", str(tmp_path))
    first = OutputLock("fakegs://b/r")
    first.acquire()
    assert fs.listdir("fakegs://b/r") == [LOCK]
    with pytest.raises(OutputBusy, match=f"pid {first.info['pid']} on host"):
        OutputLock("fakegs://b/r").acquire()
    first.release()
    assert fs.listdir("fakegs://b/r") == []
