"""Issue-10 promises on the real pipeline: what the release filter holds, visible decontamination
flags, removals that keep their text, and near dedup that honours `dedup.exact.keep`."""

from __future__ import annotations

import json

import apache_beam as beam
import pyarrow as pa
import pytest
import yaml
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.config import load_config
from pipelines.run import run
from transforms.dedup.config import BoilerplateConfig, DedupConfig, ExactDedupConfig
from transforms.dedup.features import DedupFeaturizer
from transforms.dedup.stage import DedupDecisions
from transforms.infra.record import Record
from transforms.infra.spill import Spill

WORDS = [
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
    "omicron",
    "sigma",
    "tau",
]


def _doc(i: int, n: int = 40) -> str:
    return " ".join(
        WORDS[(i * 7 + j * (i % 5 + 1)) % len(WORDS)] + str((i * 31 + j) % 97) for j in range(n)
    )


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _config(tmp_path, name, paths, extra=None):
    cfg = {
        "run": {
            "name": name,
            "output": str(tmp_path / name),
            "seed": 3,
            "progress": False,
            "running_mode": "in_memory",
            "workers": 1,
        },
        "input": {"sources": [{"name": "web", "paths": paths}]},
        "tokenizer": {"vocab_size": 300, "train_sample_docs": 100},
        "quality": {"enabled": False},
        "shards": {"rows_per_shard": 50, "include_text": True},
    }
    for key, value in (extra or {}).items():
        cfg[key] = {**cfg.get(key, {}), **value}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return load_config(str(path))


def _shard_ids(out, manifest) -> set[str]:
    ids = set()
    for s in manifest["shards"] + manifest["eval_shards"]:
        table = pa.ipc.open_stream(pa.memory_map(str(out / s["path"]))).read_all()
        ids.update(table.column("id").to_pylist())
    return ids


def _removed(out) -> list[dict]:
    rows = []
    for f in sorted((out / "removed").glob("*.jsonl")):
        rows += [json.loads(line) for line in f.read_text().splitlines() if line]
    return rows


def test_release_filter_holds_only_published_documents(tmp_path):
    data = tmp_path / "data.jsonl"
    _write_jsonl(data, [{"id": f"d{i:03d}", "text": _doc(i)} for i in range(60)])
    budget = {
        "sampling": {"mode": "budget", "token_budget": 1500},
        "dedup": {"near": {"enabled": False}},
    }
    m1 = run(_config(tmp_path, "r1", [str(data)], budget))
    published = _shard_ids(tmp_path / "r1", m1)
    assert 0 < len(published) < 60 and m1["accounting"]["sampled_out"] == 60 - len(published)
    bloom = tmp_path / "r1" / m1["bloom_filter"]
    release2 = {
        "dedup": {"near": {"enabled": False}, "cross_release": {"previous_filter": str(bloom)}}
    }
    m2 = run(_config(tmp_path, "r2", [str(data)], release2))
    removed = _removed(tmp_path / "r2")
    # Published in release 1: removed as already seen, with its text; sampled out: selectable again.
    assert {r["id"] for r in removed if r["stage"] == "cross_release"} == published
    assert all(r["text"] for r in removed)
    assert _shard_ids(tmp_path / "r2", m2) == {f"d{i:03d}" for i in range(60)} - published


def test_decontamination_flags_are_visible(tmp_path):
    data = tmp_path / "data.jsonl"
    rows = [{"id": f"d{i:03d}", "text": _doc(i)} for i in range(20)]
    _write_jsonl(data, rows)
    evalset = tmp_path / "eval.jsonl"
    _write_jsonl(
        evalset, [{"id": "e", "text": rows[4]["text"]}, {"id": "f", "text": rows[9]["text"]}]
    )
    extra = {
        "dedup": {"decontamination": {"eval_sets": [{"name": "heldout", "paths": [str(evalset)]}]}}
    }
    m = run(_config(tmp_path, "flag", [str(data)], extra))
    out = tmp_path / "flag"
    assert "decontam" in m["schema"]["label_columns"]
    flagged = {}
    for s in m["shards"]:
        table = pa.ipc.open_stream(pa.memory_map(str(out / s["path"]))).read_all()
        flagged.update(
            zip(table.column("id").to_pylist(), table.column("decontam").to_pylist(), strict=True)
        )
    assert {k for k, v in flagged.items() if v} == {"d004", "d009"}
    assert flagged["d004"] == "heldout" and flagged["d000"] == ""
    stats = json.loads((out / "stats.json").read_text())
    section = stats["dedup"]["decontamination"]
    assert section["flagged"] == {"heldout": 2}
    assert {e["id"] for e in section["examples"]["heldout"]} == {"d004", "d009"}
    html = (out / "report" / "index.html").read_text()
    assert "Eval-set contamination" in html and "d004" in html


def _spilled(p, texts: dict[str, str], cfg: DedupConfig, spill_dir: str) -> dict:
    """The texts through the real stage-1 spill (features written next to the text)."""
    records = [
        Record(doc_id, t, "s", {"_pos": i, "quality": 0.5})
        for i, (doc_id, t) in enumerate(texts.items())
    ]
    spill = p | beam.Create(records) | Spill(spill_dir, DedupFeaturizer(cfg, 0))
    return {"metas": spill.main, "runs": spill.runs}


@pytest.mark.parametrize("keep,kept", [("longest", "b-long"), ("first_id", "a-short")])
def test_near_dedup_honours_keep(keep, kept, tmp_path):
    base = _doc(1, 200)
    texts = {"a-short": base, "b-long": base + " omega99 omega98"}
    cfg = DedupConfig(
        exact=ExactDedupConfig(keep=keep), boilerplate=BoilerplateConfig(enabled=False)
    )
    loser = ({"a-short", "b-long"} - {kept}).pop()
    with TestPipeline(runner="FnApiRunner") as p:
        out = _spilled(p, texts, cfg, str(tmp_path)) | DedupDecisions(cfg, 0)
        removed = (
            out.main
            | beam.Filter(lambda kv: kv[1][0] == "removed")
            | beam.Map(lambda kv: (kv[1][1], kv[1][2].stage, kv[1][2].kept_id))
        )
        assert_that(removed, equal_to([(loser, "near", kept)]))
