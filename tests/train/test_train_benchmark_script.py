"""benchmarks/train_gpu.py stays runnable: its --tiny mode runs every variant on CPU."""

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
    results = json.loads((tmp_path / "train_gpu.json").read_text())["results"]
    variants = {r["variant"] for r in results}
    assert {"frozen", "curate", "curate-unfused", "hf-padded", "hf-packed"} <= variants
    assert all(
        "error" not in r and r["useful_tokens_per_s"] > 0 and 0 < r["mfu"] < 1 for r in results
    ), results
    assert "vs frozen" in proc.stdout
