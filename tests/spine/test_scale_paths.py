"""The scale-safe paths: shard planning by key buckets, routed decisions, both shard writers."""

from __future__ import annotations

import json
import random

import apache_beam as beam
import pytest
import yaml
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.config import load_config
from pipelines.run import run
from tests.spine.corpus import sources, write_corpus
from transforms.infra.record import Removal
from transforms.stages import shard_plan
from transforms.stages.apply_decisions import Decisions
from transforms.stages.shard_plan import PlanShards
from transforms.stages.shards import choose_write_path, plan_shards


@pytest.mark.parametrize("bucket_bits", [2, 6])
def test_bucketed_plan_equals_the_sorted_reference(monkeypatch, bucket_bits):
    """Many documents per bucket and buckets split across shards: same shards as a full sort."""
    monkeypatch.setattr(shard_plan, "_SHIFT", 63 - bucket_bits)
    rng = random.Random(3)
    fates = [
        (f"d{i}", "s", rng.choice(["train", "train", "eval", None]), f"run{i % 5}")
        for i in range(700)
    ]
    selected = [(d, split) for d, _, split, _ in fates if split is not None]
    expected = [((t.split, t.index), sorted(t.ids)) for t in plan_shards(selected, 11, 37)]
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(fates) | PlanShards(seed=11, rows_per_shard=37)
        shards = (
            out.main
            | beam.MapTuple(lambda slot, m: (slot, m[1]))
            | beam.GroupByKey()
            | beam.MapTuple(lambda slot, ids: (slot, sorted(ids)))
        )
        assert_that(shards, equal_to(expected))
    # Exact sizes: every shard but the last of a split holds rows_per_shard ids.
    sizes = {}
    for (split, index), ids in expected:
        sizes.setdefault(split, []).append((index, len(ids)))
    for rows in sizes.values():
        rows.sort()
        assert all(n == 37 for _, n in rows[:-1]) and 0 < rows[-1][1] <= 37


def test_decisions_from_items_are_order_independent():
    r_exact = Removal("b", "s", "exact", "exact:1", "a", 1.0)
    r_near = Removal("b", "s", "near", "near:a", "a", 0.9)
    items = [
        ("dup", 7, 3),
        ("removed", "b", r_near),
        ("removed", "b", r_exact),
        ("cluster", "a", "near:a"),
        ("cluster", "a", "exact:1"),
        ("audit", "a", None),
    ]
    for order in (items, list(reversed(items))):
        d = Decisions.from_items(order)
        assert d.dup_losers == {7: 3}
        assert d.removed == {"b": r_exact}
        assert d.clusters == {"a": "exact:1"}
        assert d.audit_ids == frozenset({"a"})
    with pytest.raises(ValueError):
        Decisions.from_items([("bogus", 1, 2)])


def test_write_path_is_chosen_by_runner():
    assert choose_write_path("auto", None) == "local"
    assert choose_write_path("auto", "FnApiRunner") == "local"
    assert choose_write_path("auto", "DataflowRunner") == "shuffle"
    assert (
        choose_write_path("auto", "apache_beam.runners.portability.flink_runner.FlinkRunner")
        == "shuffle"
    )
    assert choose_write_path("local", "DataflowRunner") == "local"


def _cfg(tmp_path, corpus, name, write_path, workers=1, mode="in_memory"):
    cfg = {
        "run": {
            "name": name,
            "output": str(tmp_path / name),
            "seed": 9,
            "workers": workers,
            "running_mode": mode,
            "progress": False,
        },
        "input": {"sources": sources(corpus), "max_doc_bytes": 10_000, "split_bytes": 700},
        "tokenizer": {"vocab_size": 400, "train_sample_docs": 200},
        "shards": {"rows_per_shard": 7, "include_text": True, "write_path": write_path},
        "sampling": {"eval_fraction": 0.2},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return load_config(str(path))


@pytest.mark.slow
def test_both_shard_writers_give_identical_bytes(tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    local = run(_cfg(tmp_path, corpus, "local", "local"))
    shuffle = run(_cfg(tmp_path, corpus, "shuffle", "shuffle"))
    assert local["accounting_ok"] and shuffle["accounting_ok"]
    assert len(local["shards"]) > 3 and local["eval_shards"]
    for key in ("shards", "eval_shards"):
        assert [(s["path"], s["rows"], s["sha256"]) for s in local[key]] == [
            (s["path"], s["rows"], s["sha256"]) for s in shuffle[key]
        ]
    stats = json.loads((tmp_path / "shuffle" / "stats.json").read_text())
    assert stats["tokens"]["written"] == sum(
        s["tokens"] for s in shuffle["shards"] + shuffle["eval_shards"]
    )
