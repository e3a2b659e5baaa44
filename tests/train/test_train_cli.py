"""`python -m train` end to end on a tiny synthetic corpus: outputs, report, merge, loss falls."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch
import yaml

REPORT_KEYS = {
    "format_version",
    "manifest",
    "config",
    "config_identity_sha256",
    "code_version",
    "model",
    "device",
    "world_size",
    "steps",
    "total_steps",
    "steps_skipped",
    "tokens_seen",
    "label_tokens_seen",
    "train_docs",
    "eval_docs",
    "loss_curve",
    "eval_curve",
    "initial_eval_perplexity",
    "eval_perplexity",
    "final_train_loss",
    "throughput",
    "train_seconds",
    "bad_steps",
    "resumed_from",
    "outputs",
    "output_dir",
    "finished_at",
}


def test_cli_trains_reports_and_merges(corpus, tiny_config, tmp_path):
    tiny_config["adapter"]["target_modules"] = [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
        "lm_head",
    ]
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config))
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "train",
        "--manifest",
        str(corpus),
        "--config",
        str(config),
        "--output",
        str(out),
    ]
    cmd += [
        "--set",
        "train.max_steps=12",
        "--set",
        "train.lr=2e-2",
        "--set",
        "output.merge=true",
        "--set",
        "checkpoint.every_steps=5",
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=240, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "step 12/12" in proc.stderr  # progress lines
    assert json.loads(proc.stdout)["steps"] == 12

    report = json.loads((out / "training_report.json").read_text())
    assert set(report) == REPORT_KEYS
    assert report["manifest"]["sha256"] and report["manifest"]["eval_source"] == "eval_shards"
    assert report["eval_perplexity"] < report["initial_eval_perplexity"]
    assert report["loss_curve"][-1]["loss"] < report["loss_curve"][0]["loss"]
    assert report["model"]["loss"] == "chunked" and report["model"]["attention"] == "sdpa"
    assert report["model"]["fused_lora_layers"] == 2 * 7 + 1
    assert report["throughput"]["tokens_per_s"] > 0 and 0 < report["throughput"]["mfu"] < 1
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "step-00000010",
        "step-00000012",
    ]  # keep_last 2

    # The adapter loads with plain peft onto the saved base model, and the merged model agrees with it.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(out / "base_model"), local_files_only=True)
    adapted = PeftModel.from_pretrained(base, str(out)).eval()
    merged = AutoModelForCausalLM.from_pretrained(str(out / "merged"), local_files_only=True).eval()
    ids = torch.randint(2, report["model"]["vocab_size"], (2, 24))
    with torch.no_grad():
        torch.testing.assert_close(
            merged(input_ids=ids).logits, adapted(input_ids=ids).logits, rtol=1e-4, atol=1e-4
        )
        with adapted.disable_adapter():
            plain = adapted(input_ids=ids).logits
    assert (merged(input_ids=ids).logits - plain).abs().max() > 1e-3  # the adapter did something
