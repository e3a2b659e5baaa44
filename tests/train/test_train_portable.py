"""`curate train`'s output folder is a portable HF/peft folder, and a plain run prints no warnings.

One tiny run as a user types it (a subprocess, so every import-time and run-time warning reaches
its stderr); then the folder is copied elsewhere, the original deleted, and the copy loads with
plain peft and transformers: base model by its relative reference, tokenizer with eos and pad.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import yaml


def test_a_tiny_train_is_quiet_and_its_output_folder_travels(corpus, tiny_config, tmp_path):
    tiny_config["adapter"]["target_modules"] = ["q_proj", "v_proj", "lm_head"]  # lm_head: peft's
    config = tmp_path / "tiny.yaml"  # embedding-layer guess used to warn
    config.write_text(yaml.safe_dump(tiny_config))
    out = tmp_path / "trained" / "adapter"
    cmd = [sys.executable, "-m", "pipelines.cli", "train", "--manifest", str(corpus)]
    cmd += ["--config", str(config), "--output", str(out), "--set", "train.max_steps=2"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "default"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Warning" not in proc.stderr, proc.stderr

    manifest_tok = json.loads(corpus.read_text())["tokenizer"]
    report = json.loads((out / "training_report.json").read_text())
    assert report["model"]["base_model_path"] == str(out / "base_model")
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == (
        "base_model"
    )

    moved = tmp_path / "elsewhere" / "adapter"
    shutil.copytree(out, moved)
    shutil.rmtree(tmp_path / "trained")

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((moved / "adapter_config.json").read_text())
    base = AutoModelForCausalLM.from_pretrained(
        str(moved / config["base_model_name_or_path"]), local_files_only=True
    )
    model = PeftModel.from_pretrained(base, str(moved))
    assert any("lora_" in name for name, _ in model.named_parameters())
    for folder in (moved, moved / "base_model"):
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        assert tok.eos_token_id == manifest_tok["eos_id"] is not None
        pad = (
            manifest_tok["pad_id"] if manifest_tok["pad_id"] is not None else manifest_tok["eos_id"]
        )
        assert tok.pad_token_id == pad
        assert tok("hello world")["input_ids"]
