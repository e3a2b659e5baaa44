"""Training from and to object storage: the fake `fakegs://` Beam filesystem over a local folder.

A remote manifest is read through Beam's FileSystems, its shards and tokenizer are fetched into
the local cache (kept only when their sha256 matches), and a remote output is staged locally and
uploaded at the end.
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.spine.fake_remote import FakeGcsFileSystem
from train.manifest import ManifestError, file_sha256, load_manifest, verify_manifest

RUN = "fakegs://b/run"


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    """The fake bucket's root folder, with the train cache in a folder of its own."""
    root = tmp_path / "bucket"
    monkeypatch.setattr(FakeGcsFileSystem, "root", str(root))
    monkeypatch.setenv("CURATE_TRAIN_CACHE", str(tmp_path / "cache"))
    return root


@pytest.fixture
def remote_corpus(corpus, bucket):
    """The tiny corpus uploaded to fakegs://b/run; returns its folder in the bucket."""
    shutil.copytree(corpus.parent, bucket / "b" / "run")
    return bucket / "b" / "run"


def test_a_remote_manifest_is_checked_and_fetched_into_the_cache(remote_corpus, tmp_path):
    manifest = load_manifest(f"{RUN}/manifest.json")
    verify_manifest(manifest)
    assert manifest.location == f"{RUN}/manifest.json"
    assert [s.location for s in manifest.shards] == [
        f"{RUN}/shards/train-00000.arrow",
        f"{RUN}/shards/train-00001.arrow",
    ]
    assert manifest.tokenizer.location == f"{RUN}/tokenizer/tokenizer.json"
    for entry in manifest.shards + manifest.eval_shards:
        assert entry.path.is_relative_to(tmp_path / "cache")
        rel = entry.location.removeprefix(RUN + "/")
        assert entry.path.read_bytes() == (remote_corpus / rel).read_bytes()


def test_a_tampered_remote_shard_is_named_and_not_cached(remote_corpus):
    shard = remote_corpus / "shards" / "train-00001.arrow"
    data = bytearray(shard.read_bytes())
    data[-40] ^= 0xFF  # same size, different bytes
    shard.write_bytes(bytes(data))
    manifest = load_manifest(f"{RUN}/manifest.json")
    with pytest.raises(ManifestError) as err:
        verify_manifest(manifest)
    assert len(err.value.problems) == 1
    assert f"shard {RUN}/shards/train-00001.arrow: sha256" in err.value.problems[0]
    assert not manifest.shards[1].path.exists()  # bytes the manifest does not vouch for
    assert manifest.shards[0].path.is_file()


def test_remote_tokenizer_and_missing_files_are_named(remote_corpus):
    raw = json.loads((remote_corpus / "manifest.json").read_text())
    raw["tokenizer"]["vocab_size"] += 5
    raw["tokenizer"]["eos_id"] = 40  # an ordinary BPE token, not <eos>
    (remote_corpus / "manifest.json").write_text(json.dumps(raw))
    (remote_corpus / "shards" / "eval-00000.arrow").unlink()
    with pytest.raises(ManifestError) as err:
        verify_manifest(load_manifest(f"{RUN}/manifest.json"))
    problems = "\n".join(err.value.problems)
    assert f"shard {RUN}/shards/eval-00000.arrow: file is missing" in problems
    assert f"tokenizer {RUN}/tokenizer/tokenizer.json: vocab_size" in problems
    assert "manifest eos_id 40" in problems and "not one of its special tokens" in problems


def test_a_remote_tokenizer_of_other_bytes_is_refused(remote_corpus):
    tok = remote_corpus / "tokenizer" / "tokenizer.json"
    tok.write_text(tok.read_text() + "\n")  # the same tokenizer, but not the bytes hashed
    manifest = load_manifest(f"{RUN}/manifest.json")
    with pytest.raises(ManifestError) as err:
        verify_manifest(manifest)
    assert err.value.problems == [
        f"tokenizer {RUN}/tokenizer/tokenizer.json: sha256 {file_sha256(tok)} "
        f"!= manifest tokenizer.sha256 {manifest.tokenizer.sha256}"
    ]
    assert not manifest.tokenizer.path.exists()


def test_a_missing_remote_manifest_is_named(bucket):
    with pytest.raises(ManifestError, match=f"{RUN}/nope.json: no such manifest file"):
        load_manifest(f"{RUN}/nope.json")


def test_curate_train_reads_and_writes_object_storage(remote_corpus, bucket, tiny_config, tmp_path):
    from pipelines.cli import main as curate

    tiny_config["train"]["max_steps"] = 2
    (bucket / "b" / "cfg").mkdir(parents=True)
    (bucket / "b" / "cfg" / "tiny.yaml").write_text(yaml.safe_dump(tiny_config))
    out = "fakegs://b/adapters/one"
    argv = ["train", "--manifest", f"{RUN}/manifest.json", "--config", "fakegs://b/cfg/tiny.yaml"]
    assert curate([*argv, "--output", out, "--set", "eval.at_start=false"]) == 0

    folder = bucket / "b" / "adapters" / "one"
    report = json.loads((folder / "training_report.json").read_text())
    assert report["steps"] == 2
    assert report["output_dir"] == out and report["manifest"]["path"] == f"{RUN}/manifest.json"
    assert (folder / "checkpoints" / "step-00000002" / "trainer_state.json").is_file()
    assert not list((tmp_path / "cache" / "outputs").iterdir())  # the staging folder is gone

    # What was uploaded loads: the safetensors adapter, with plain peft, onto the saved base model.
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    tensors = load_file(str(folder / "adapter_model.safetensors"))
    assert tensors and all(".lora_" in k for k in tensors)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "base_model"  # relative: the folder is portable
    assert report["model"]["base_model_path"] == f"{out}/base_model"
    base = AutoModelForCausalLM.from_pretrained(str(folder / "base_model"), local_files_only=True)
    PeftModel.from_pretrained(base, str(folder))
