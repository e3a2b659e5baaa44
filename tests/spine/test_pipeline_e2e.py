"""End to end on the all-formats fixture: accounting exact, shards readable, output deterministic."""

import hashlib
import json

import datasets
import pyarrow as pa
import pytest
import yaml

from pipelines.cli import main as cli_main
from pipelines.config import load_config
from pipelines.run import run
from tests.spine.corpus import sources, write_corpus
from transforms.infra.accounting import accounting_problems


def _config(tmp_path, corpus, out_name, workers=1, mode="in_memory", extra=None):
    cfg = {
        "run": {
            "name": "fixture",
            "output": str(tmp_path / out_name),
            "seed": 5,
            "workers": workers,
            "running_mode": mode,
            "progress": False,
        },
        "input": {"sources": sources(corpus), "max_doc_bytes": 10_000, "split_bytes": 700},
        "tokenizer": {"vocab_size": 400, "train_sample_docs": 200},
        "shards": {"rows_per_shard": 16, "include_text": True},
    }
    for key, value in (extra or {}).items():
        cfg[key] = {**cfg.get(key, {}), **value}
    path = tmp_path / f"{out_name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    corpus = tmp / "corpus"
    expected = write_corpus(corpus)
    manifest = run(load_config(str(_config(tmp, corpus, "out1"))))
    return tmp, corpus, expected, manifest


def test_accounting_is_exact(fixture_run):
    _, _, expected, m = fixture_run
    acc = m["accounting"]
    assert m["accounting_ok"] and accounting_problems(acc) == []
    assert acc["dead_letter"] == expected["dead_letter"]
    assert acc["rejected"] == expected["rejected"]
    assert acc["removed"] == expected["removed"]
    assert acc["written"] == sum(s["rows"] for s in m["shards"])
    assert set(acc["by_source"]) == {"jsonl", "parquet", "text", "hf"}


def test_outputs_explain_every_drop(fixture_run):
    tmp, _, expected, _ = fixture_run
    out = tmp / "out1"
    for place in ("dead_letter", "rejected", "removed"):
        rows = [
            json.loads(line)
            for f in sorted((out / place).glob("*.jsonl"))
            for line in f.read_text().splitlines()
        ]
        key = "stage" if place == "removed" else "reason"
        counts = {}
        for r in rows:
            counts[r[key]] = counts.get(r[key], 0) + 1
        assert counts == expected[place]
    removed = {
        r["stage"]: r
        for f in (out / "removed").glob("*.jsonl")
        for r in map(json.loads, f.read_text().splitlines())
    }
    assert removed["exact"]["kept_id"] in ("j0", "j-dup-content")
    assert {removed["near"]["id"], removed["near"]["kept_id"]} == {"j2", "j-near"}
    assert removed["near"]["similarity"] >= 0.8
    audit = [json.loads(line) for line in (out / "dedup_audit.jsonl").read_text().splitlines()]
    assert [{a["a"], a["b"]} for a in audit] == [{"j2", "j-near"}]
    assert 0.8 <= audit[0]["exact_jaccard"] < 1 and 0.9 < audit[0]["lcs_ratio"] < 1
    dup = [
        json.loads(line)
        for f in (out / "dead_letter").glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    (dup_id,) = [d for d in dup if d["reason"] == "duplicate_id"]
    # The loser's own file and line, and the kept record's file:line (not an opaque position).
    assert dup_id["file"].endswith("a.jsonl") and dup_id["line"] == 33
    assert "'j5'" in dup_id["detail"] and dup_id["detail"].endswith("a.jsonl:6")


def test_shards_readable_and_match_manifest(fixture_run):
    tmp, _, _, m = fixture_run
    out = tmp / "out1"
    ids = []
    for info in m["shards"]:
        path = out / info["path"]
        table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
        ds = datasets.Dataset.from_file(str(path))
        # the manifest's size and digest are the file's (training verifies both before reading)
        assert info["bytes"] == path.stat().st_size
        assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert table.num_rows == info["rows"] == len(ds)
        assert sum(table.column("n_tokens").to_pylist()) == info["tokens"]
        assert all(
            len(x) == n
            for x, n in zip(
                table.column("input_ids").to_pylist(),
                table.column("n_tokens").to_pylist(),
                strict=False,
            )
        )
        assert all(x[-1] == m["tokenizer"]["eos_id"] for x in table.column("input_ids").to_pylist())
        ids += table.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == m["accounting"]["written"]
    assert [i["rows"] for i in m["shards"]][:-1] == [16] * (len(m["shards"]) - 1)
    assert ids != sorted(ids)  # globally shuffled, not in id order


def test_same_output_with_more_workers_and_processes(fixture_run):
    tmp, corpus, _, m1 = fixture_run
    m2 = run(load_config(str(_config(tmp, corpus, "out2", workers=2, mode="multi_processing"))))
    assert [(s["path"], s["rows"], s["sha256"]) for s in m1["shards"]] == [
        (s["path"], s["rows"], s["sha256"]) for s in m2["shards"]
    ]
    assert m1["accounting"] == m2["accounting"]
    assert m1["tokenizer"]["sha256"] == m2["tokenizer"]["sha256"]
    # The drop files too, byte for byte: same file names, lines sorted within each file.
    drops = {}
    for out in ("out1", "out2"):
        root = tmp / out
        drops[out] = {
            str(p.relative_to(root)): p.read_bytes()
            for place in ("dead_letter", "rejected", "removed")
            for p in sorted((root / place).glob("*.jsonl"))
        }
    assert drops["out1"] == drops["out2"]
    assert {k.split("/")[0] for k in drops["out1"]} == {"dead_letter", "rejected", "removed"}
    for name, data in drops["out1"].items():
        lines = data.decode().splitlines()
        assert lines == sorted(lines), name


def test_cli_run_and_report(fixture_run, capsys):
    tmp, corpus, _, _ = fixture_run
    cfg = _config(tmp, corpus, "out3")
    assert cli_main(["run", "--config", str(cfg), "--set", "shards.rows_per_shard=1000"]) == 0
    printed = capsys.readouterr().out
    assert "dead_letter: truncated_gzip" in printed and "accounting: ok" in printed
    assert cli_main(["report", str(tmp / "out3")]) == 0
    assert "written" in capsys.readouterr().out


def test_bad_config_fails_before_work(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "run": {"output": str(tmp_path / "o")},
                "input": {"sources": [{"name": "x", "paths": [str(tmp_path / "none*.jsonl")]}]},
                "shards": {"rows_per_shard": 0},
            }
        )
    )
    assert cli_main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "no file matches" in err and "rows_per_shard must be > 0" in err
    assert not (tmp_path / "o").exists()


def test_dsir_drift_and_budget_wiring(fixture_run):
    tmp, corpus, _, _ = fixture_run
    extra = {
        "sampling": {
            "mode": "budget",
            "token_budget": 3000,
            "eval_fraction": 0.2,
            "dsir": {
                "enabled": True,
                "target_paths": [str(corpus / "texts" / "t*.txt")],
                "buckets": 512,
            },
            "drift": {"enabled": True, "buckets": 512},
        },
    }
    m = run(load_config(str(_config(tmp, corpus, "out4", extra=extra))))
    assert m["accounting_ok"] and m["accounting"]["sampled_out"] > 0
    tokens = sum(s["tokens"] for s in m["shards"] + m["eval_shards"])
    assert 0.9 * 3000 <= tokens <= 3000
    assert m["eval_shards"], "eval split written as its own shards"
    stats = json.loads((tmp / "out4" / "stats.json").read_text())
    assert "kl" in stats["sampling"]["dsir"] and stats["sampling"]["dsir"]["temperature"] > 0
    assert set(stats["drift"]["sources"]) and stats["sampling"]["ngram_distribution"]
    table = pa.ipc.open_stream(pa.memory_map(str(tmp / "out4" / m["shards"][0]["path"]))).read_all()
    assert "dsir" in table.column_names


def test_next_release_drops_what_this_one_saw(fixture_run):
    tmp, corpus, _, m1 = fixture_run
    bloom = tmp / "out1" / m1["bloom_filter"]
    assert bloom.exists()
    extra = {"dedup": {"cross_release": {"previous_filter": str(bloom)}}}
    m2 = run(load_config(str(_config(tmp, corpus, "out5", extra=extra))))
    a1, a2 = m1["accounting"], m2["accounting"]
    assert m2["accounting_ok"]
    # Everything release 1 published is now "already seen", and so are its exact copies.
    assert a2["removed"]["cross_release"] == a1["written"] + a1["removed"]["exact"]
    # Never published in release 1: its duplicate-id loser and its near copy (removed as near
    # dedup then; with the original gone now, both are new).
    assert a1["dead_letter"]["duplicate_id"] == a1["removed"]["near"] == 1
    assert a2["written"] == 2
    table = pa.ipc.open_stream(
        pa.memory_map(str(tmp / "out5" / m2["shards"][0]["path"]))
    ).read_all()
    assert "j5" in table.column("id").to_pylist()
