"""Fixtures: a synthetic junk-dominated corpus and a tiny ablation config over it."""

from __future__ import annotations

import os

import pytest

from tests.ablate.corpus import write_clean_eval, write_raw

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_MODEL = {
    "model": {"from_config": {"hidden_size": 32, "layers": 1, "heads": 2, "kv_heads": 2,
                              "intermediate_size": 64, "initializer_range": 0.02}},
    "data": {"max_seq_len": 64, "micro_batch_size": 8},
    "train": {"lr": 1.0e-2, "warmup_steps": 2},
    "eval": {"max_batches": 2, "at_start": False},
    "output": {"log_every": 1000},
}  # fmt: skip


def base_config(raw_path: str) -> dict:
    """A small curate config: exact + near dedup, a Gopher quality filter, no report/validation."""
    return {
        "run": {"name": "abl", "seed": 1, "workers": 1, "running_mode": "in_memory",
                "progress": False},
        "input": {"sources": [{"name": "web", "paths": [raw_path]}]},
        "quality": {
            "scorers": [{"name": "gopher_quality_v1", "action": "filter"}],
            "toxicity": {"enabled": False}, "bias": {"enabled": False}, "pii": {"enabled": False},
        },
        "dedup": {"near": {"threshold": 0.7}, "boilerplate": {"enabled": False},
                  "cross_release": {"write_filter": False}},
        "stats": {"enabled": False}, "report": {"enabled": False},
        "validation": {"enabled": False},
        "shards": {"rows_per_shard": 1000},
    }  # fmt: skip


def ablation_config(folder, raw_path, eval_path, arms=None, tokens=24576) -> dict:
    return {
        "output": str(folder / "abl"),
        "base": base_config(str(raw_path)),
        "holdout": {"fraction": 0.1, "max_docs": 30,
                    "eval_sets": [{"name": "clean", "paths": [str(eval_path)]}],
                    "primary": "clean"},
        "tokenizer": {"vocab_size": 400, "train_sample_docs": 400},
        "arms": arms or ["raw", "full"],
        "train": {"config": TINY_MODEL, "tokens": tokens, "seeds": [0, 1, 2]},
    }  # fmt: skip


@pytest.fixture(scope="session")
def torch_one_thread():
    """One torch thread for these tiny models (module fixtures too): OpenMP's spinning barriers
    at 2 threads made tiny-model training several times slower on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def one_thread(torch_one_thread):
    yield


@pytest.fixture(scope="session")
def junk_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("junk")
    return write_raw(folder), write_clean_eval(folder)
