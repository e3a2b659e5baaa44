"""benchmarks/train_gpu.py stays runnable: its --tiny mode runs every CPU variant, evenly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_gpu.py"


def test_gpu_benchmark_script_runs_tiny_on_cpu(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = json.loads((tmp_path / "train_gpu.json").read_text())
    results, meta = written["results"], written["meta"]
    variants = {r["variant"] for r in results}
    assert {"frozen", "curate", "curate-unfused", "hf-padded", "hf-packed"} <= variants
    assert all(
        "error" not in r and r["useful_tokens_per_s"] > 0 and 0 < r["mfu"] < 1 for r in results
    ), results
    assert "vs frozen" in proc.stdout
    # Even comparison: one optimizer step per measured step for every adapter variant (hf-padded
    # accumulates over its padded micro-batches), and every row names its attention backend.
    for row in results:
        assert row["optimizer_steps_per_step"] == (0 if row["variant"] == "frozen" else 1), row
        assert row["attention"], row
    padded = next(r for r in results if r["variant"] == "hf-padded")
    assert padded["micro_batches_per_step"] > 1  # several padded micro-batches, still one step
    assert "position_ids" in next(r for r in results if r["variant"] == "hf-packed")["attention"]
    assert meta["complete"] and "hf-packed-flex" in meta["skipped"]  # CUDA-only, said why
    assert meta["attention_reason"]
