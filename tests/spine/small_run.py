"""A small JSONL corpus and config for driver tests, and the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORDS = "the river carried copper stones past the garden while a lantern signal blinked over the harbor and the engine of the falcon rocket hummed near the quarry of violet marble"


def write_corpus(path: Path, n_docs: int = 60, seed: int = 0, source_id: str = "d") -> Path:
    """`n_docs` distinct documents of a few sentences each, as one JSONL file."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n_docs):
            sentences = [
                " ".join(rng.choice(WORDS.split()) for _ in range(rng.randint(8, 14))).capitalize()
                + "."
                for _ in range(rng.randint(3, 6))
            ]
            text = f"Document {source_id} number {i}. " + " ".join(sentences)
            fh.write(json.dumps({"id": f"{source_id}{i}", "text": text}) + "\n")
    return path


def write_config(path: Path, inputs: list[str], output: str, **sections) -> Path:
    """A fast config: no quality scoring, no near dedup, in-process runner, one worker."""
    cfg = {
        "run": {"name": "small", "output": output, "seed": 3, "workers": 1},
        "input": {"sources": [{"name": "s", "paths": inputs}]},
        "tokenizer": {"vocab_size": 300, "train_sample_docs": 100},
        "quality": {"enabled": False},
        "dedup": {"near": {"enabled": False}},
        "shards": {"rows_per_shard": 16},
        "validation": {"data_docs": False},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_cli(args: list[str], cwd: Path, extra_path: str | None = None, timeout: int = 300):
    """`python -m pipelines.cli ARGS` with this checkout first on the path."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, str(ROOT)) if p)
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
