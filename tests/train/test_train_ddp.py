"""Data parallelism: `torchrun --nproc_per_node 2 -m train` on gloo equals one process.

Two ranks with grad_accum 1 see the same global batch as one process with grad_accum 2: the ranks
must read disjoint rows whose union is the single process's rows, and since each rank's loss is
normalised by the global token count, DDP's averaged gradient, hence the trained adapter, must
match the single-process run up to float summation order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file

from train.recipe import run_training


def _doc_log(path):
    """step -> the (doc id, start, length) segments this rank trained on."""
    return {
        row["step"]: {tuple(seg) for seg in row["segments"]}
        for row in map(json.loads, path.read_text().splitlines())
    }


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(corpus, tiny_config, tmp_path):
    tiny_config["train"].update(max_steps=3, grad_accum=1)
    tiny_config["output"].update(log_doc_ids=True)
    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump(tiny_config))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "train",
    ]
    proc = subprocess.run(
        cmd
        + ["--manifest", str(corpus), "--config", str(config), "--output", str(tmp_path / "ddp")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    single = run_training(corpus, tiny_config, ["train.grad_accum=2"], output=tmp_path / "single")
    ddp_report = json.loads((tmp_path / "ddp" / "training_report.json").read_text())
    assert ddp_report["world_size"] == 2 and single["world_size"] == 1
    assert ddp_report["tokens_seen"] == single["tokens_seen"]

    ranks = [_doc_log(tmp_path / "ddp" / f"doc_ids.rank{r}.jsonl") for r in range(2)]
    one = _doc_log(tmp_path / "single" / "doc_ids.rank0.jsonl")
    for step in (1, 2, 3):
        assert not ranks[0][step] & ranks[1][step], f"ranks overlap at step {step}"
        assert ranks[0][step] | ranks[1][step] == one[step]

    for a, b in zip(ddp_report["loss_curve"], single["loss_curve"], strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-5
    got, want = (
        load_file(str(tmp_path / "ddp" / "adapter_model.safetensors")),
        load_file(str(tmp_path / "single" / "adapter_model.safetensors")),
    )
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-6)
    assert any(torch.count_nonzero(t) for k, t in want.items() if "lora_B" in k)
