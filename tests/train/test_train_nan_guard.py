"""Non-finite steps are skipped and named; too many in a row abort with a diagnostic.

The bad batch is real, not simulated: a local model directory whose embedding row of one token is
NaN, so exactly the steps whose documents contain that token produce a NaN loss.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from train.manifest import load_manifest
from train.recipe import TrainingDiverged, run_training
from train.shards import ShardDocuments


def _poisoned_model_dir(manifest_path, token_id, directory):
    from transformers import LlamaConfig, LlamaForCausalLM

    manifest = load_manifest(manifest_path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=manifest.tokenizer.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        eos_token_id=0,
        pad_token_id=1,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.get_input_embeddings().weight[token_id] = float("nan")
    model.save_pretrained(str(directory))
    shutil.copyfile(
        manifest.tokenizer.path, directory / "tokenizer.json"
    )  # the model's own tokenizer: the corpus's
    return directory


def _config(tiny_config, model_dir):
    tiny_config["model"] = {"path": str(model_dir)}
    tiny_config["train"].update(max_steps=None, epochs=1, max_bad_steps=3)  # every document once
    tiny_config["data"].update(max_seq_len=128, micro_batch_size=8)  # ~15 steps
    tiny_config["eval"]["at_start"] = False
    return tiny_config


def _inject(manifest_path, token_id, rows):
    """Rewrites shard 0 with `token_id` inserted into documents `rows`; updates the manifest."""
    import hashlib

    import pyarrow as pa

    raw = json.loads(manifest_path.read_text())
    entry = raw["shards"][0]
    path = manifest_path.parent / entry["path"]
    table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
    ids = table.column("input_ids").to_pylist()
    for r in rows:
        ids[r] = ids[r][:3] + [token_id] + ids[r][3:]
    table = table.set_column(
        table.schema.get_field_index("input_ids"), "input_ids", pa.array(ids, pa.list_(pa.int32()))
    )
    table = table.set_column(
        table.schema.get_field_index("n_tokens"),
        "n_tokens",
        pa.array([len(x) for x in ids], pa.int32()),
    )
    tmp = path.with_suffix(
        ".tmp"
    )  # never rewrite a memory-mapped file in place (SIGBUS): rename over it
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    tmp.replace(path)
    entry.update(bytes=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    manifest_path.write_text(json.dumps(raw))
    return set(table.column("id").take(rows).to_pylist())


def test_bad_steps_are_skipped_and_their_documents_named(corpus, tiny_config, tmp_path):
    manifest = load_manifest(corpus)
    everything = ShardDocuments([s.path for s in manifest.shards + manifest.eval_shards])
    used = set(np.concatenate([everything.tokens(i) for i in range(len(everything))]).tolist())
    token = max(set(range(manifest.tokenizer.vocab_size)) - used)  # a merge no document uses
    poisoned = _inject(corpus, token, [5, 17])
    report = run_training(
        corpus,
        _config(tiny_config, _poisoned_model_dir(corpus, token, tmp_path / "model")),
        output=tmp_path / "out",
    )
    bad = report["bad_steps"]
    assert 1 <= len(bad) <= len(poisoned) and report["steps_skipped"] == len(bad)
    assert report["steps"] >= 2 * len(bad) + 5  # training went on around them
    for step in bad:
        assert set(step["doc_ids"]) & poisoned and step["loss"] == "nan"
    assert set().union(*(set(s["doc_ids"]) for s in bad)) >= poisoned
    from safetensors.torch import load_file

    adapter = load_file(str(tmp_path / "out" / "adapter_model.safetensors"))
    assert all(torch.isfinite(t).all() for t in adapter.values())
    assert np.isfinite(report["eval_perplexity"])
    assert json.loads((tmp_path / "out" / "training_report.json").read_text())["bad_steps"] == bad


def test_consecutive_bad_steps_abort_with_a_diagnostic(corpus, tiny_config, tmp_path):
    model_dir = _poisoned_model_dir(corpus, 0, tmp_path / "model")  # <eos> ends every document
    with pytest.raises(
        TrainingDiverged, match=r"3 consecutive steps had a non-finite loss.*synthetic-\d{6}"
    ):
        run_training(corpus, _config(tiny_config, model_dir), output=tmp_path / "out")
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()
