"""Stage settings: one typed object per stage, built from the config and the run plan."""

from __future__ import annotations

from types import SimpleNamespace

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.config import CurateConfig
from transforms.dedup.wiring import DedupSettings
from transforms.infra.stage_output import StageOutput
from transforms.stages.apply_decisions import ApplySettings
from transforms.stages.read import Read, ReadSettings
from transforms.stages.readers import ReadTask
from transforms.stages.shards import ShardWriteSettings
from transforms.stages.tokenize import TokenizerInfo


def _plan(cfg: CurateConfig, tmp_path) -> SimpleNamespace:
    """The attributes of a `RunPlan` that settings read (no tokenizer is built)."""
    return SimpleNamespace(
        cfg=cfg,
        output=str(tmp_path / "out"),
        tmp=str(tmp_path / "out" / "_tmp"),
        tasks=[
            ReadTask("a", "/data/a.jsonl", 0, "jsonl"),
            ReadTask("h", "/data/h", 1, "hf_arrow"),
        ],
        tokenizer=TokenizerInfo("tok.json", "", 300, 7, 8),
        score_columns=["quality"],
        label_columns=["language"],
        dsir=None,
        write_path="shuffle",
    )


def test_apply_settings_follow_the_config(tmp_path):
    cfg = CurateConfig()
    cfg.dedup.boilerplate.enabled, cfg.tokenizer.add_eos, cfg.shards.min_tokens = True, False, 5
    settings = DedupSettings.from_config(cfg, _plan(cfg, tmp_path))
    rewriters = [m for m in settings.methods if m.rewrite_unit is not None]
    s = ApplySettings.from_config(cfg, _plan(cfg, tmp_path), rewriters)
    assert s.run_dir.endswith("_tmp/tokenized") and s.min_tokens == 5
    assert [m.name for m in s.rewriters] == ["boilerplate"] and s.pool_factory is None
    assert s.encoder._eos_id is None  # add_eos off
    assert s.files == {0: "/data/a.jsonl"}  # an HF dataset's index names no one file
    assert (s.score_columns, s.label_columns) == (("quality",), ("language",))
    cfg.dedup.boilerplate.enabled = False
    methods = DedupSettings.from_config(cfg, _plan(cfg, tmp_path)).methods
    assert not [m for m in methods if m.rewrite_unit is not None]


def test_shard_write_settings_follow_the_plan_and_check_the_path(tmp_path):
    cfg = CurateConfig()
    cfg.dedup.cross_release.write_filter = True
    s = ShardWriteSettings.from_config(cfg, _plan(cfg, tmp_path))
    assert (s.path, s.emit_keys, s.include_text) == ("shuffle", True, False)
    assert "corpus" in s.accumulators  # stats on by default
    with pytest.raises(ValueError, match="local or shuffle"):
        ShardWriteSettings(str(tmp_path), path="auto")


def test_dedup_settings_spill_features_only_for_methods_that_read_them(tmp_path):
    cfg = CurateConfig()
    cfg.dedup.near.enabled = cfg.dedup.boilerplate.enabled = False
    s = DedupSettings.from_config(cfg, _plan(cfg, tmp_path))
    assert s.featurizer() is None and not s.has_reference_filters
    assert s.spill_dir.endswith("_tmp/spill")
    cfg.dedup.near.enabled = True
    assert DedupSettings.from_config(cfg, _plan(cfg, tmp_path)).featurizer() is not None


def test_read_stage_returns_a_stage_output(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "1", "text": "hello"}\nnot json\n{"id": "2", "text": "x" }\n')
    task = ReadTask("a", str(path), 0, "jsonl", size=path.stat().st_size)
    cfg = CurateConfig()
    cfg.input.max_doc_bytes = 3
    settings = ReadSettings.from_config(cfg)
    assert settings.max_doc_bytes == 3
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | Read([task], ReadSettings(settings.normalizer, 3, progress=False))
        assert isinstance(out, StageOutput)
        assert_that(out.main | "Ids" >> beam.Map(lambda r: r.id), equal_to(["2"]), label="Kept")
        rejected = out.rejected | "Why" >> beam.Map(lambda r: (r.record.id, r.reason))
        assert_that(rejected, equal_to([("1", "too_large")]), label="Rejected")
        assert_that(out.dead | "N" >> beam.combiners.Count.Globally(), equal_to([1]), label="Dead")
