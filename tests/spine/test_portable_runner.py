"""The distributed graph, run: Beam's portable runner (job service + external worker pool on
localhost, curate on the workers from its built wheel) gives the embedded runner's outputs byte
for byte, with Beam's pipeline type check on.

On the portable side the classifier model, the eval set and the previous release's filter are
read from `fakegs://` (a fake remote filesystem the workers load with `--beam_plugins`), so the
equal outputs also show that workers read those files through Beam's FileSystems.

One corpus from the demo generator with every stage on: quality rules with per-source policies,
language ID, a trained classifier, toxicity/bias, exact + near + boilerplate dedup, an eval set
for decontamination, a previous release's Bloom filter, budget sampling with a source mixture and
an eval split. Off the embedded runner the graph takes its distributed paths (components in
large-star/small-star rounds, the exact band filter, shards through a shuffle, plain Beam
shuffles instead of on-disk groups), so this is the test of those paths running, not only built.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.spine.fake_remote import ROOT_ENV, SCHEME
from tests.spine.portable import portable_beam
from tests.spine.small_run import ROOT, run_cli

MAX_DOCS = 360
# What must be identical: every file under these folders (the report, stats plots and timing
# fields legitimately differ) and the accounting.
COMPARED = ("shards", "removed", "rejected", "dead_letter", "bloom")


def _demo_docs(folder: Path) -> list[dict]:
    docs = []
    for path in sorted(folder.glob("*.jsonl.gz")):
        if path.name.startswith("truncated"):
            continue
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    docs.append(json.loads(line))
                except ValueError:
                    continue
    return [d for d in docs if isinstance(d, dict) and isinstance(d.get("text"), str)]


def _write_duplicates(corpus: Path, by_source: dict[str, list[dict]]) -> None:
    """Per source, exact copies of two long documents and a one-word edit of a third."""
    for source, rows in by_source.items():
        long_docs = [d for d in rows if len(d["text"]) > 3000][-3:]
        copies = [{**d, "id": f"{d['id']}-copy"} for d in long_docs[:2]]
        if len(long_docs) == 3:
            words = long_docs[2]["text"].split(" ")
            words[len(words) // 2] = "curated"
            copies.append(
                {**long_docs[2], "id": long_docs[2]["id"] + "-edit", "text": " ".join(words)}
            )
        with gzip.open(corpus / f"{source}-zz-duplicates.jsonl.gz", "wt", encoding="utf-8") as fh:
            fh.writelines(json.dumps(d) + "\n" for d in copies)


def _write_inputs(work: Path) -> Path:
    """The demo corpus, an eval set, a previous filter, a classifier; returns the config."""
    from pipelines.config import load_config
    from pipelines.demo_data import build_corpus
    from transforms.dedup.bloom import BloomFilter
    from transforms.infra.hashing import content_key
    from transforms.stages.normalize import Normalizer

    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    corpus = work / "corpus"
    build_corpus(str(corpus), max_docs=MAX_DOCS, seed=demo["run"]["seed"], malformed=True)
    docs = _demo_docs(corpus)
    by_source = {s: [d for d in docs if d["id"].startswith(s)] for s in ("code", "docs", "man")}
    assert all(by_source.values()), {s: len(v) for s, v in by_source.items()}
    # Exact and near duplicates made here: the generator's natural ones depend on which files
    # this machine has (a fresh CI machine had none left after cross-release in 360 documents).
    _write_duplicates(corpus, by_source)

    # An eval set that shares passages with a few training documents (decontamination flags).
    with open(work / "eval.jsonl", "w", encoding="utf-8") as fh:
        for d in by_source["docs"][:3] + by_source["man"][:2]:
            fh.write(json.dumps({"id": "eval-" + d["id"], "text": d["text"][:2000]}) + "\n")
    # A previous release holding a few of this corpus's documents (cross-release removes them).
    demo_cfg = load_config(str(ROOT / "configs" / "demo.yaml"))
    normalize = Normalizer.from_config(demo_cfg.normalize)
    bloom = BloomFilter.for_capacity(10_000, 0.001, 1)
    bloom.add_many([content_key(normalize(d["text"])) for d in docs[5:40:5]])
    (work / "previous_bloom.bin").write_bytes(bloom.to_bytes())
    # A small classifier: docs pages against code.
    for name, rows in (("pos", by_source["docs"]), ("neg", by_source["code"])):
        with open(work / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"id": d["id"], "text": d["text"]}) + "\n" for d in rows)
    trained = run_cli(
        ["classifier", "train", "--positives", str(work / "pos.jsonl"), "--negatives",
         str(work / "neg.jsonl"), "--out", str(work / "clf.safetensors"), "--hash-bits", "14"],
        cwd=work,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]

    cfg = demo
    cfg["run"].update(progress=False)
    cfg["input"] = {
        "sources": [
            {
                "name": s,
                "paths": [str(corpus / f"{s}-*.jsonl.gz")]
                + ([str(corpus / "truncated-*.jsonl.gz")] if s == "docs" else []),
            }
            for s in ("code", "docs", "man")
        ],  # fmt: skip
        "max_doc_bytes": demo["input"]["max_doc_bytes"],
    }
    cfg["quality"]["scorers"].append(
        {
            "name": "classifier_v1",
            "action": "score_only",
            "thresholds": {"model": str(work / "clf.safetensors")},
            "quality_weight": 0,
            "by_source": {"man": {"action": "filter", "thresholds": {"keep_top_fraction": 0.5}}},
        }
    )
    cfg["dedup"]["cross_release"]["previous_filter"] = str(work / "previous_bloom.bin")
    cfg["dedup"]["decontamination"] = {"eval_sets": [{"name": "ev", "paths": [str(work / "eval.jsonl")]}]}  # fmt: skip
    cfg["tokenizer"].update(vocab_size=2048, train_sample_docs=400)
    cfg["sampling"]["token_budget"] = 400_000
    # This test compares runners on every stage; whether this machine's demo text fills the
    # demo mixture is the gate's business (tests/quality/test_sampling_gate.py), not this one's.
    cfg["sampling"].update(mixture_tolerance=1.0, min_budget_fill=0.0)
    cfg["shards"]["rows_per_shard"] = 100
    cfg["validation"] = {"data_docs": False}
    path = work / "every_stage.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _digests(out: Path) -> dict[str, str]:
    found = {}
    for folder in COMPARED:
        for path in sorted((out / folder).rglob("*")) if (out / folder).exists() else []:
            if path.is_file():
                found[str(path.relative_to(out))] = hashlib.sha256(path.read_bytes()).hexdigest()
    for path in out.glob("*bloom*"):
        if path.is_file():
            found[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _remote_copy(config: Path, work: Path) -> Path:
    """The same config with its model, eval set and previous filter on fakegs://bucket/."""
    bucket = work / "fakegs-root" / "bucket"
    bucket.mkdir(parents=True)
    text = config.read_text()
    for name in ("clf.safetensors", "eval.jsonl", "previous_bloom.bin"):
        shutil.copy(work / name, bucket / name)
        text = text.replace(str(work / name), f"{SCHEME}://bucket/{name}")
    remote = work / "every_stage_remote.yaml"
    remote.write_text(text)
    assert text.count(f"{SCHEME}://") == 3
    return remote


def _plugin_path(work: Path) -> str:
    """A folder holding only the fake filesystem, importable as tests.spine.fake_remote."""
    plugin = work / "plugin"
    (plugin / "tests" / "spine").mkdir(parents=True)
    for init in (plugin / "tests", plugin / "tests" / "spine"):
        (init / "__init__.py").write_text("")
    shutil.copy(ROOT / "tests" / "spine" / "fake_remote.py", plugin / "tests" / "spine")
    # Beam's external worker pool starts each SDK worker as `SdkHarness(...).run()`, not through
    # sdk_worker_main, so `--beam_plugins` is never imported there (Dataflow's and a Docker
    # environment's boot do import it). A worker pool user puts the plugin in sitecustomize.
    (plugin / "sitecustomize.py").write_text("import tests.spine.fake_remote  # noqa: F401\n")
    return str(plugin)


@pytest.mark.slow
def test_portable_runner_equals_embedded_runner_byte_for_byte(tmp_path, monkeypatch):
    config = _write_inputs(tmp_path)
    remote = _remote_copy(config, tmp_path)
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "fakegs-root"))
    embedded = run_cli(
        ["run", "--config", str(config), "--output", str(tmp_path / "embedded")],
        cwd=tmp_path,
        timeout=600,
    )
    assert embedded.returncode == 0, embedded.stderr[-4000:]
    worker_env = {ROOT_ENV: str(tmp_path / "fakegs-root"), "PYTHONPATH": _plugin_path(tmp_path)}
    with portable_beam(tmp_path / "beam", env=worker_env) as beam_services:
        args = ["run", "--config", str(remote), "--output", str(tmp_path / "portable")]
        portable = run_cli(
            # progress off the local runner: counters read from the result (final only here)
            [
                *args,
                "--set",
                "run.progress=true",
                *beam_services.beam_args,
                "--beam_plugins=tests.spine.fake_remote",
            ],
            cwd=tmp_path,
            timeout=900,
        )
        assert portable.returncode == 0, portable.stderr[-4000:] + beam_services.logs()
        worker_log = beam_services.logs()
    # the job went through the job service to the external pool's SDK workers
    assert "Running job" in worker_log and "Starting worker" in worker_log
    # the stage lines, from the curate.progress counters the workers' curate (the wheel) emits
    lines = [ln for ln in portable.stderr.splitlines() if ln.startswith("[curate] ")]
    assert any("reports its counters at the end" in ln for ln in lines), lines
    assert any(ln.startswith("[curate] read       100%") for ln in lines), lines
    assert any(ln.startswith("[curate] shards") and " rows" in ln for ln in lines), lines

    a = json.loads((tmp_path / "embedded" / "manifest.json").read_text())
    b = json.loads((tmp_path / "portable" / "manifest.json").read_text())
    assert a["accounting"] == b["accounting"]
    assert a["accounting_ok"] and b["accounting_ok"]
    assert [s["sha256"] for s in a["shards"]] == [s["sha256"] for s in b["shards"]]
    acc = a["accounting"]
    # every stage had something to do on this corpus (else the comparison proves little)
    assert acc["dead_letter"] and acc["sampled_out"] and acc["rejected"]
    assert {"exact", "near", "cross_release"} <= set(acc["removed"]), acc["removed"]
    da, db = _digests(tmp_path / "embedded"), _digests(tmp_path / "portable")
    assert any(k.startswith("shards/") for k in da) and any(k.startswith("removed/") for k in da)
    assert da == db
    shutil.rmtree(tmp_path / "beam", ignore_errors=True)
