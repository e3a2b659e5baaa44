"""Fixtures for the training tests: tiny contract-conformant corpora and a 2-layer model config.

Every corpus is built on the fly exactly as the curation pipeline writes one (manifest.json,
Arrow IPC stream shards, a byte-level BPE tokenizer trained here), so these tests exercise the
manifest + shard contract rather than a shortcut.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from train.synthetic import write_synthetic_corpus  # noqa: E402

TINY_CONFIG = {
    "model": {
        "from_config": {
            "hidden_size": 64,
            "layers": 2,
            "heads": 4,
            "kv_heads": 2,
            "intermediate_size": 128,
        }
    },
    "adapter": {"type": "lora", "r": 4, "alpha": 8},
    "data": {"max_seq_len": 64, "micro_batch_size": 2},
    "train": {"max_steps": 4, "lr": 1.0e-2, "warmup_steps": 1},
    "eval": {"max_batches": 2},
    "output": {"log_every": 1, "tensorboard": False},
}


@pytest.fixture(autouse=True)
def single_intra_op_thread(monkeypatch):
    """One torch thread per process (subprocesses too) for these tiny models.

    Correctness does not depend on it; speed does: on a shared 2-core machine, OpenMP's spinning
    barriers at 2 threads made this suite ~3x slower than one thread. Scoped to these tests so the
    other packages' tests keep their own settings.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def corpus_cache(tmp_path_factory) -> dict:
    return {}


@pytest.fixture
def make_corpus(corpus_cache, tmp_path_factory, tmp_path):
    """`make_corpus(**kwargs)` -> path of a fresh copy of a synthetic corpus's manifest.json.

    Corpora are built once per session per argument set and copied, so a test may corrupt its copy.
    """

    def make(
        n_docs: int = 120,
        n_shards: int = 2,
        n_eval_docs: int = 20,
        vocab_size: int = 320,
        validation_success: bool = True,
        median_words: int = 30,
    ) -> Path:
        key = (n_docs, n_shards, n_eval_docs, vocab_size, validation_success, median_words)
        if key not in corpus_cache:
            built = tmp_path_factory.mktemp("corpus")
            corpus_cache[key] = write_synthetic_corpus(
                built,
                n_docs,
                n_shards,
                n_eval_docs,
                vocab_size,
                seed=0,
                median_words=median_words,
                validation_success=validation_success,
            )
        target = tmp_path / f"corpus-{len(list(tmp_path.glob('corpus-*')))}"
        shutil.copytree(corpus_cache[key].parent, target)
        return target / "manifest.json"

    return make


@pytest.fixture
def corpus(make_corpus) -> Path:
    """The default tiny corpus (120 train docs in 2 shards, 20 eval docs, vocab ~320)."""
    return make_corpus()


@pytest.fixture
def tiny_config() -> dict:
    """A fresh copy of the 2-layer, hidden-64 training config."""
    return copy.deepcopy(TINY_CONFIG)
