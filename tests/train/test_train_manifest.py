"""The manifest contract: checksums, tokenizer identity and the validation verdict are enforced."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from train.manifest import ManifestError, load_manifest, verify_manifest
from train.recipe import run_training


def test_a_good_manifest_verifies(corpus):
    manifest = load_manifest(corpus)
    verify_manifest(manifest)
    assert len(manifest.shards) == 2 and len(manifest.eval_shards) == 1
    assert manifest.tokenizer.eos_id == 0 and manifest.validation_success


def test_a_corrupted_shard_is_named(corpus):
    shard = corpus.parent / "shards" / "train-00001.arrow"
    data = bytearray(shard.read_bytes())
    data[-40] ^= 0xFF  # same size, different bytes
    shard.write_bytes(bytes(data))
    with pytest.raises(ManifestError) as err:
        verify_manifest(load_manifest(corpus))
    assert len(err.value.problems) == 1
    assert "train-00001.arrow: sha256" in err.value.problems[0]


def test_a_missing_shard_is_named(corpus):
    (corpus.parent / "shards" / "eval-00000.arrow").unlink()
    with pytest.raises(ManifestError, match="eval-00000.arrow: file is missing"):
        verify_manifest(load_manifest(corpus))


def test_tokenizer_mismatches_are_all_named(corpus):
    raw = json.loads(corpus.read_text())
    raw["tokenizer"]["vocab_size"] += 5
    raw["tokenizer"]["eos_id"] = 40  # an ordinary BPE token, not <eos>
    corpus.write_text(json.dumps(raw))
    with pytest.raises(ManifestError) as err:
        verify_manifest(load_manifest(corpus))
    problems = "\n".join(err.value.problems)
    assert f"!= manifest tokenizer.vocab_size {raw['tokenizer']['vocab_size']}" in problems
    assert "manifest eos_id 40" in problems and "not one of its special tokens" in problems


def test_a_different_tokenizer_file_is_refused(corpus):
    tok = corpus.parent / "tokenizer" / "tokenizer.json"
    data = json.loads(tok.read_text())
    data["model"]["vocab"] = {
        k: (v + 1 if v > 10 else v) for k, v in data["model"]["vocab"].items()
    }
    tok.write_text(json.dumps(data))
    with pytest.raises(
        ManifestError, match="tokenizer.json: sha256 .* != manifest tokenizer.sha256"
    ):
        verify_manifest(load_manifest(corpus))


def test_failed_validation_is_refused_unless_forced(make_corpus, tiny_config, tmp_path, caplog):
    manifest = make_corpus(validation_success=False)
    with pytest.raises(ManifestError, match="failed validation.*--force"):
        run_training(manifest, tiny_config, output=tmp_path / "refused")
    assert not (tmp_path / "refused" / "adapter_model.safetensors").exists()
    report = run_training(
        manifest,
        tiny_config,
        ["train.max_steps=1", "eval.at_start=false"],
        force=True,
        output=tmp_path / "forced",
    )
    assert report["steps"] == 1 and report["manifest"]["validation_success"] is False
    assert (tmp_path / "forced" / "adapter_model.safetensors").is_file()
    # a caller that forces for its own reason (curate ablate) names it instead of the CLI flag
    caplog.clear()
    with caplog.at_level("WARNING", logger="train"):
        run_training(manifest, tiny_config, ["train.max_steps=1", "eval.at_start=false"],
                     force="every arm trains", output=tmp_path / "why")  # fmt: skip
    warned = [r.getMessage() for r in caplog.records if "failed validation" in r.getMessage()]
    assert warned and "every arm trains" in warned[0] and "--force" not in warned[0]


def test_cli_exits_2_with_the_reason(make_corpus, tmp_path):
    manifest = make_corpus(validation_success=False)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "--manifest",
            str(manifest),
            "--config",
            "configs/train/lora_demo.yaml",
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "failed validation" in proc.stderr and "--force" in proc.stderr


@pytest.mark.parametrize(
    "validation, why",
    [
        ({"success": None, "skipped": True}, "not validated"),
        ({}, "no validation verdict"),
        ({"success": False, "failed": ["ids_unique"]}, "failed validation"),
    ],
)
def test_only_a_validated_corpus_trains_unless_forced(corpus, validation, why):
    raw = json.loads(corpus.read_text())
    raw["validation"] = validation
    corpus.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=f"{why}.*--force") as err:
        verify_manifest(load_manifest(corpus))
    assert len(err.value.problems) == 1
    verify_manifest(load_manifest(corpus), force=True)  # checksums still pass
