"""The Beam-triggered training path: `curate run` with a `train:` section ends with an adapter."""

import json
import shutil

import apache_beam as beam
import pytest
import yaml
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.cli import main as cli_main
from pipelines.config import load_config
from tests.spine.corpus import sources, write_corpus
from train.typed_config import ConfigError

TINY = [
    "model.from_config.hidden_size=32",
    "model.from_config.layers=2",
    "model.from_config.heads=2",
    "model.from_config.kv_heads=1",
    "model.from_config.intermediate_size=64",
    "data.max_seq_len=64",
    "data.micro_batch_size=2",
    "train.max_steps=3",
    "train.warmup_steps=1",
    "eval.every_steps=3",
    "eval.max_batches=1",
]


def _cfg(tmp_path, corpus, train):
    cfg = {
        "run": {
            "name": "trig",
            "output": str(tmp_path / "out"),
            "seed": 1,
            "workers": 1,
            "running_mode": "in_memory",
            "progress": False,
        },
        "input": {"sources": sources(corpus)},
        "tokenizer": {"vocab_size": 400, "train_sample_docs": 200},
        "sampling": {"eval_fraction": 0.2},
        "shards": {"rows_per_shard": 20},
        "train": train,
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_curate_run_trains_after_the_shards(tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    cfg = _cfg(
        tmp_path,
        corpus,
        {"enabled": True, "config": "configs/train/lora_demo.yaml", "overrides": TINY},
    )
    assert cli_main(["run", "--config", str(cfg)]) == 0
    out = tmp_path / "out"
    report = json.loads((out / "adapter" / "training_report.json").read_text())
    manifest_bytes = (out / "manifest.json").read_bytes()
    import hashlib

    assert (
        report["manifest"]["sha256"] == hashlib.sha256(manifest_bytes).hexdigest()
    )  # the final manifest
    assert report["steps"] == 3 and report["tokens_seen"] > 0
    assert (out / "adapter" / "adapter_model.safetensors").exists()


def test_bad_train_config_fails_before_any_work(tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    cfg = _cfg(
        tmp_path,
        corpus,
        {
            "enabled": True,
            "config": "configs/train/lora_demo.yaml",
            "overrides": ["train.max_steps=zero", "nope.x=1"],
        },
    )
    with pytest.raises(ConfigError, match="lora_demo.yaml"):
        load_config(str(cfg))
    assert not (tmp_path / "out").exists()


def test_the_trigger_sends_the_config_not_its_path_and_trains_on_object_storage(
    tmp_path, monkeypatch
):
    """A worker never sees the launcher's files: the resolved train config travels in the graph,
    and the manifest, shards and adapter live in a (fake) bucket."""
    from pipelines.config import TrainTriggerConfig
    from pipelines.trigger import TrainAfterShards
    from tests.spine.fake_remote import FakeGcsFileSystem
    from train.synthetic import write_synthetic_corpus

    bucket = tmp_path / "bucket"
    monkeypatch.setattr(FakeGcsFileSystem, "root", str(bucket))
    monkeypatch.setenv("CURATE_TRAIN_CACHE", str(tmp_path / "cache"))
    write_synthetic_corpus(bucket / "b" / "run", 60, 1, 10, 300, median_words=20)
    config = tmp_path / "launcher" / "train.yaml"
    config.parent.mkdir()
    shutil.copy("configs/train/lora_demo.yaml", config)
    trigger = TrainTriggerConfig(
        enabled=True, config=str(config), overrides=[*TINY, "train.max_steps=2"]
    )
    step = TrainAfterShards(trigger)
    shutil.rmtree(config.parent)  # gone before the pipeline runs: only its content may be used

    manifest = json.loads((bucket / "b" / "run" / "manifest.json").read_text())
    with TestPipeline(runner="FnApiRunner") as p:
        results = p | beam.Create([{**manifest, "_output": "fakegs://b/run"}]) | step
        reports = results | beam.Map(lambda r: (r["adapter"], r["training_report"]["steps"]))
        assert_that(reports, equal_to([("fakegs://b/run/adapter", 2)]))
    adapter = bucket / "b" / "run" / "adapter"
    report = json.loads((adapter / "training_report.json").read_text())
    assert (
        report["config"]["train"]["max_steps"] == 2
        and report["config"]["data"]["max_seq_len"] == 64
    )
    assert report["manifest"]["path"] == "fakegs://b/run/manifest.json"
    assert (adapter / "adapter_model.safetensors").is_file()
