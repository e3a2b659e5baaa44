"""Ids, and so the shards, do not depend on where the input lives or where curate runs."""

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest

from pipelines.config import load_config
from pipelines.run import run
from tests.spine.corpus import sources, write_corpus
from transforms.infra.record import Record
from transforms.stages.readers import (
    glob_root,
    plan_read_tasks,
    read_task,
    relative_path,
    source_root,
)


def test_glob_root_is_the_directory_part_cut_at_the_first_glob(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cwd = str(tmp_path)
    assert glob_root("data/*.jsonl") == os.path.join(cwd, "data")
    assert glob_root("data/**/*.jsonl") == os.path.join(cwd, "data")
    assert glob_root("data/a*/b/x.txt") == os.path.join(cwd, "data")
    assert glob_root("data/x.txt") == os.path.join(cwd, "data")  # a literal file: its folder
    assert glob_root("*.txt") == cwd
    assert glob_root("../up/[ab].txt") == os.path.join(os.path.dirname(cwd), "up")
    assert glob_root("/*.txt") == "/"
    assert glob_root("gs://bucket/raw/*.jsonl.gz") == "gs://bucket/raw"
    assert glob_root("gs://bucket/*.jsonl.gz") == "gs://bucket"


def test_source_root_is_the_common_folder_of_its_globs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = os.path.join(str(tmp_path), "data")
    assert source_root(["data/a/*.txt", "data/b/**/*.txt"]) == data
    assert source_root(["gs://b/raw/x/*.gz", "gs://b/raw/y/*.gz"]) == "gs://b/raw"
    assert source_root(["gs://b1/*.gz", "gs://b2/*.gz"]) == ""  # no common folder
    assert relative_path(os.path.join(data, "a", "t.txt"), data) == "a/t.txt"
    assert relative_path("gs://b/raw/x/1.gz", "gs://b/raw") == "x/1.gz"
    assert relative_path("gs://b1/1.gz", "") == "gs://b1/1.gz"


def _src(d):
    return SimpleNamespace(**{"format": "auto", "id_field": "id", "text_field": "text", **d})


def _ids(root: Path) -> list[str]:
    tasks = plan_read_tasks([_src(s) for s in sources(root)], 1 << 20, 1 << 20)
    return [i.id for t in tasks for i in read_task(t) if isinstance(i, Record)]


def test_ids_are_the_same_for_a_copy_read_from_elsewhere(tmp_path, monkeypatch):
    write_corpus(tmp_path / "one" / "data")
    shutil.copytree(tmp_path / "one", tmp_path / "two" / "deeper")
    monkeypatch.chdir(tmp_path / "one")
    first = _ids(Path("data"))
    monkeypatch.chdir(tmp_path / "two")
    second = _ids(Path("deeper") / "data")
    assert first == second  # same ids, same order
    assert "text:t1.txt" in first  # a text file: source and path under the source root
    assert any(i.startswith("jsonl:a.jsonl:") for i in first)  # a record without an id


def _config(tmp_path: Path, data: str, out: Path) -> Path:
    import yaml

    cfg = {
        "run": {"output": str(out), "seed": 5, "workers": 1, "running_mode": "in_memory"},
        "input": {"sources": sources(Path(data)), "max_doc_bytes": 10_000, "split_bytes": 700},
        "tokenizer": {"vocab_size": 400, "train_sample_docs": 200},
        "shards": {"rows_per_shard": 8, "include_text": True},
        # Every document is written (so the ids that used to move, of text files and of records
        # without an id, are in the shards); the eval split is chosen by a hash of the id.
        "sampling": {"eval_fraction": 0.25},
        "stats": {"enabled": False},
        "validation": {"enabled": False},
        "report": {"enabled": False},
    }
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.timeout(600)
def test_same_input_at_two_locations_from_two_directories_gives_identical_shards(
    tmp_path, monkeypatch
):
    write_corpus(tmp_path / "a" / "data")
    shutil.copytree(tmp_path / "a" / "data", tmp_path / "b" / "x" / "y" / "data")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    m1 = run(load_config(str(_config(tmp_path, "data", tmp_path / "out1"))))
    monkeypatch.chdir(tmp_path / "elsewhere")
    m2 = run(load_config(str(_config(tmp_path, "../b/x/y/data", tmp_path / "out2"))))

    def digests(m):
        return [(s["path"], s["rows"], s["sha256"]) for s in m["shards"] + m["eval_shards"]]

    assert m1["shards"] and m1["eval_shards"]
    ids = {
        i
        for s in m1["shards"] + m1["eval_shards"]
        for i in pa.ipc.open_stream(pa.memory_map(str(tmp_path / "out1" / s["path"])))
        .read_all()
        .column("id")
        .to_pylist()
    }
    assert {"text:t1.txt", "text:t2.txt"} <= ids
    assert any(i.startswith("jsonl:a.jsonl:") for i in ids)
    assert digests(m1) == digests(m2)
