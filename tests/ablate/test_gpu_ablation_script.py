"""benchmarks/gpu_ablation.sh on its CPU path at tiny size: the script the GPU run uses, checked."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = {
    "ABL_DEVICE": "cpu", "ABL_TEXT_MB": "0.4", "ABL_ARMS": "raw,full", "ABL_SEEDS": "2",
    "ABL_TOKENS": "4096", "ABL_HIDDEN": "32", "ABL_LAYERS": "1", "ABL_HEADS": "2",
    "ABL_KV_HEADS": "2", "ABL_MLP": "64", "ABL_VOCAB": "400", "ABL_SEQ": "64", "ABL_BATCH": "8",
    "ABL_EVAL_DOCS": "30", "ABL_EVAL_BUCKETS": "6", "ABL_EVAL_DOC_TOKENS": "128",
    "ABL_WORKERS": "1", "ABL_LIMIT_S": "400", "ABL_ROWS_PER_SHARD": "500",
}  # fmt: skip


def _run(tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "out"
    env = {**os.environ, **TINY, "ABL_WORK": str(tmp_path / "work"), "PYTHON": sys.executable,
           "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **extra}  # fmt: skip
    proc = subprocess.run(["bash", "benchmarks/gpu_ablation.sh", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    return proc, out


@pytest.mark.slow
def test_cpu_path_at_tiny_size_writes_a_page_that_makes_sense(tmp_path):
    proc, out = _run(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    a = json.loads((out / "ablation.json").read_text())
    assert set(a["arms"]) == {"raw", "full"} and a["seeds"] == [0, 1]
    assert a["device"] == "cpu" and a["primary_eval_set"] == "heldout:mix"
    # real text from this machine's files, three sources, so the mix is a real mix
    assert set(a["target_mix"]) == {"code", "docs", "man"} or len(a["target_mix"]) >= 2
    assert math.isclose(sum(a["target_mix"].values()), 1.0)
    assert math.isfinite(a["mde"]["mde"]) and a["mde"]["mde"] > 0
    assert a["arms"]["full"]["verdict"].startswith(("better", "worse", "no detectable"))
    raw = a["arms"]["raw"]["validation"]
    # the raw arm keeps duplicates: when validation ran, its failure is the expected one
    assert raw["status"] in ("expected failure", "passed", "not run"), raw
    assert not raw["unexpected"], raw
    html = (out / "index.html").read_text()
    assert f"{a['mde']['mde']:.4f} nats" in html and "heldout:mix" in html
    assert (out / "loss_by_arm.png").stat().st_size > 0
    timings = json.loads((out / "timings.json").read_text())
    assert timings["total"] >= timings["ablate"] >= timings["corpus"]
    probe = json.loads((out / "probe.json").read_text())
    assert probe["missing"] == [] and probe["cuda"] is False


def test_without_a_gpu_the_cuda_path_fails_clearly_before_any_work(tmp_path):
    proc, out = _run(tmp_path, ABL_DEVICE="cuda")
    if json.loads((out / "probe.json").read_text())["cuda"]:
        return  # a GPU is present: nothing to check here
    assert proc.returncode == 3
    assert "a CUDA GPU" in proc.stdout + proc.stderr and "nothing was run" in proc.stdout
    assert not (tmp_path / "work").exists() and not (out / "ablation.json").exists()
