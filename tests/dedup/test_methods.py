"""The `DedupMethod` contract: the enabled methods, their spill columns, and a method of one's
own through the real spill and dedup stage, after near dedup (it sees near's survivors only)."""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.dedup.config import BoilerplateConfig, DedupConfig, DedupPluginConfig
from transforms.dedup.features import DedupFeaturizer
from transforms.dedup.method import DedupMethod, MethodDecisions
from transforms.dedup.methods import dedup_methods
from transforms.dedup.stage import DedupDecisions
from transforms.infra.record import Record, Removal
from transforms.infra.spill import SPILL_SCHEMA, Spill, spill_schema

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
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
]


def _doc(seed: int, n: int = 120) -> str:
    return " ".join(WORDS[(seed * 7 + i * i) % len(WORDS)] + str(i % 13) for i in range(n))


def test_enabled_methods_in_decision_order_and_their_columns():
    cfg = DedupConfig()
    assert [m.name for m in dedup_methods(cfg, 0)] == ["exact", "boilerplate", "near"]
    assert [c for c, _ in DedupFeaturizer(cfg, 0).columns] == ["line_hashes", "minhash"]
    cfg.near.enabled = cfg.boilerplate.enabled = False
    assert [m.name for m in dedup_methods(cfg, 0)] == ["exact"]
    assert DedupFeaturizer(cfg, 0).columns == []
    assert spill_schema([]) == SPILL_SCHEMA
    with pytest.raises(ValueError, match="declared twice"):
        spill_schema([("minhash", pa.binary()), ("minhash", pa.binary())])


def _keep_first(keyed):
    _, metas = keyed
    metas = sorted(metas, key=lambda m: m.id)
    for m in metas[1:]:
        yield Removal(m.id, m.source, "one_per_source", "one_per_source:" + m.source, metas[0].id)


class _OnePerSourceStep(beam.PTransform):
    def expand(self, metas):
        removed = (
            metas
            | "BySource" >> beam.Map(lambda m: (m.source, m))
            | "Group" >> beam.GroupByKey()
            | "KeepFirst" >> beam.FlatMap(_keep_first)
        )
        return MethodDecisions(removed=removed)


class OnePerSource(DedupMethod):
    """A metadata method that knows removals by id only: keeps the smallest id per source."""

    name = "one_per_source"
    reads = "metas"

    def decide(self) -> beam.PTransform:
        return _OnePerSourceStep()


def test_a_method_after_near_dedup_sees_only_its_survivors(tmp_path):
    base = _doc(1)
    texts = {"a": base, "b": base + " omega1 omega2", "c": _doc(9)}
    cfg = DedupConfig(boilerplate=BoilerplateConfig(enabled=False))
    methods = [*dedup_methods(cfg, 0), OnePerSource()]
    records = [
        Record(k, t, "s", {"_pos": i, "quality": 0.5}) for i, (k, t) in enumerate(texts.items())
    ]
    with TestPipeline(runner="FnApiRunner") as p:
        spill = p | beam.Create(records) | Spill(str(tmp_path), DedupFeaturizer(cfg, 0, methods))
        out = {"metas": spill.main, "runs": spill.runs} | DedupDecisions(cfg, 0, methods)
        removed = (
            out.main
            | beam.Filter(lambda kv: kv[1][0] == "removed")
            | beam.Map(lambda kv: (kv[1][1], kv[1][2].stage, kv[1][2].kept_id))
        )
        # near keeps the longer b; the method then sees b and c only (not a: nothing lost)
        assert_that(removed, equal_to([("a", "near", "b"), ("c", "one_per_source", "b")]))


def test_dedup_plugin_entries_are_checked():
    problems = DedupPluginConfig("no_such_module:Thing").validate()
    assert len(problems) == 1 and "cannot be imported" in problems[0]
    twice = DedupConfig(
        plugins=[
            DedupPluginConfig("tests.dedup.test_methods:OnePerSource"),
            DedupPluginConfig("tests.dedup.test_methods:OnePerSource"),
        ]
    )
    assert twice.validate() == ["plugins: two plugins are named 'one_per_source'"]
    assert DedupPluginConfig("tests.dedup.test_methods:OnePerSource").validate() == []
    method = dedup_methods(twice, 0)[-1]
    assert isinstance(method, OnePerSource) and method.label == "OnePerSource"
