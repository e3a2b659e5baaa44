"""Every file a run reads may live on a Beam filesystem (`fakegs://`), also in worker processes.

The same small run twice: once on local files, once with every input on `fakegs://` (classifier
model, toxicity lexicon, bias lexicon folder, previous Bloom filter, eval set, tokenizer, a
Parquet file and an HF `save_to_disk` folder) in `multi_processing` mode, where worker processes
load the fake filesystem through `--beam_plugins` and find its folder in $CURATE_FAKEGS_ROOT.
Both runs write the same shards.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.config import load_config
from pipelines.run import run
from quality.classifier import FeatureConfig, LinearModel, save_model
from quality.lexicon import LEXICON_DIR
from tests.spine.fake_remote import ROOT_ENV, SCHEME
from tests.spine.small_run import ROOT, write_config, write_corpus
from train.typed_config import ConfigError
from transforms.dedup.bloom import BloomFilter
from transforms.infra.hashing import content_key
from transforms.stages.tokenize import save_tokenizer, train_bpe

PLUGIN = ["--beam_plugins=tests.spine.fake_remote"]


def _inputs(folder, docs: list[dict]) -> dict[str, str]:
    """Every file the run reads, written under `folder`; {config role: path relative to it}."""
    import datasets

    half = len(docs) // 2
    (folder / "in").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(docs[:half]), folder / "in" / "a.parquet", row_group_size=7)
    datasets.Dataset.from_list(docs[half:]).save_to_disk(str(folder / "in" / "ds"))

    save_model(
        LinearModel(
            FeatureConfig(n_features=1 << 10),
            np.random.default_rng(0).normal(size=1 << 10).astype(np.float32),
            0.0,
            {"raw_score_quantiles": [0.0, 0.3, 0.5, 0.7, 1.0]},
        ),
        str(folder / "models" / "clf.safetensors"),
    )
    (folder / "lex").mkdir()
    (folder / "lex" / "toxic.txt").write_text("copper stones\nviolet marble\n")
    shutil.copytree(LEXICON_DIR, folder / "bias")

    bloom = BloomFilter.for_capacity(1000, 0.001)
    bloom.add_many([content_key(docs[1]["text"]), content_key(docs[-2]["text"])])
    (folder / "prev").mkdir()
    (folder / "prev" / "filter.bloom").write_bytes(bloom.to_bytes())
    (folder / "eval").mkdir()
    (folder / "eval" / "ev.jsonl").write_text(json.dumps({"q": docs[3]["text"]}) + "\n")

    tok = train_bpe([d["text"] for d in docs], 300, ["<|endoftext|>", "<|pad|>"])
    save_tokenizer(tok, str(folder / "tok" / "tokenizer.json"), "<|endoftext|>", "<|pad|>")
    return {
        "parquet": "in/a.parquet",
        "hf": "in/ds",
        "model": "models/clf.safetensors",
        "lexicon": "lex/toxic.txt",
        "bias": "bias",
        "filter": "prev/filter.bloom",
        "eval": "eval/*.jsonl",
        "tokenizer": "tok",
    }


def _config(path, at: dict[str, str], output: str, **run):
    return write_config(
        path,
        [at["parquet"], at["hf"]],
        output,
        run={"workers": 2, **run},
        quality={
            "enabled": True,
            "scorers": [
                {
                    "name": "classifier_v1",
                    "action": "score_only",
                    "thresholds": {"model": at["model"], "keep_top_fraction": 0.5},
                }
            ],
            "toxicity": {"lexicon": at["lexicon"], "action": "score_only"},
            "bias": {"lexicon_dir": at["bias"]},
        },
        dedup={
            "cross_release": {"previous_filter": at["filter"]},
            "decontamination": {
                "eval_sets": [{"name": "ev", "paths": [at["eval"]]}],
                "ngram": 8,
                "action": "drop",
            },
        },
        tokenizer={"path": at["tokenizer"]},
    )


@pytest.fixture
def remote_root(tmp_path, monkeypatch):
    """$CURATE_FAKEGS_ROOT for this process and the workers it starts (with this checkout)."""
    root = tmp_path / "gcs"
    root.mkdir()
    monkeypatch.setenv(ROOT_ENV, str(root))
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), path) if p))
    return root


def _docs(tmp_path) -> list[dict]:
    corpus = write_corpus(tmp_path / "corpus.jsonl", n_docs=48)
    return [json.loads(line) for line in corpus.read_text().splitlines()]


@pytest.mark.slow
def test_a_run_reading_every_file_from_a_beam_filesystem_in_worker_processes(tmp_path, remote_root):
    local = tmp_path / "local"
    at = _inputs(local, _docs(tmp_path))
    shutil.copytree(local, remote_root / "b" / "data")

    local_at = {k: str(local / v) for k, v in at.items()}
    local_run = run(
        load_config(str(_config(tmp_path / "l.yaml", local_at, str(tmp_path / "out-l"))))
    )

    remote_at = {k: f"{SCHEME}://b/data/{v}" for k, v in at.items()}
    cfg = load_config(
        str(
            _config(
                tmp_path / "r.yaml",
                remote_at,
                str(tmp_path / "out-r"),
                running_mode="multi_processing",
            )
        )
    )
    remote_run = run(cfg, beam_args=PLUGIN)

    for manifest in (local_run, remote_run):
        assert manifest["accounting_ok"]
        assert manifest["accounting"]["read"] == 48
        removed = manifest["accounting"]["removed"]
        assert removed.get("cross_release") == 2 and removed.get("decontamination") == 1
        assert manifest["accounting"]["written"] > 0
    assert [s["sha256"] for s in remote_run["shards"]] == [s["sha256"] for s in local_run["shards"]]
    assert remote_run["tokenizer"]["sha256"] == local_run["tokenizer"]["sha256"]
    stats = json.loads((tmp_path / "out-r" / "stats.json").read_text())
    models = stats["quality_summary"]["classifier_models"]  # read on a worker, by URL
    assert list(models) == [remote_at["model"]] and "error" not in models[remote_at["model"]]


def test_missing_remote_files_are_reported_in_one_config_error(tmp_path, remote_root):
    local = tmp_path / "local"
    at = _inputs(local, _docs(tmp_path)[:12])
    shutil.copytree(local, remote_root / "b" / "data")
    (remote_root / "b" / "data" / at["model"]).unlink()
    (remote_root / "b" / "data" / at["lexicon"]).write_text("[broken\n")
    remote_at = {k: f"{SCHEME}://b/data/{v}" for k, v in at.items()}
    remote_at.update(filter=f"{SCHEME}://b/nope.bloom", tokenizer=f"{SCHEME}://b/none")
    remote_at.update(bias=f"{SCHEME}://b/empty", eval=f"{SCHEME}://b/data/eval/*.txt")
    cfg = _config(tmp_path / "r.yaml", remote_at, str(tmp_path / "out"))
    with pytest.raises(ConfigError) as err:
        load_config(str(cfg))
    problems = "\n".join(err.value.problems)
    for expected in (
        f"{remote_at['model']!r} does not exist",
        f"{remote_at['lexicon']!r}: line 1: bad group header",
        "quality.bias.lexicon_dir: 'fakegs://b/empty' does not exist",
        "previous_filter 'fakegs://b/nope.bloom' does not exist",
        "no file matches 'fakegs://b/data/eval/*.txt'",
        "no tokenizer.json at 'fakegs://b/none/tokenizer.json'",
    ):
        assert expected in problems, problems
    assert len(err.value.problems) == 6, problems
