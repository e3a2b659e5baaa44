"""The Beam-triggered training path: `curate run` with a `train:` section ends with an adapter."""

import json

import pytest
import yaml

from pipelines.cli import main as cli_main
from pipelines.config import load_config
from pipelines.typed_config import ConfigError
from tests.spine.corpus import sources, write_corpus

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
