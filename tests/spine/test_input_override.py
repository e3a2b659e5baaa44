"""Per-source settings name real sources; the README's `--input` example writes shards."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from pipelines.config import DEMO_SOURCES, load_config
from pipelines.demo_data import build_corpus
from train.typed_config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "configs" / "demo.yaml")


def _one_source_config(tmp_path: Path, **extra) -> str:
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "one document"}\n')
    cfg = {
        "run": {"output": str(tmp_path / "out")},
        "input": {"sources": [{"name": "web", "paths": [str(tmp_path / "in.jsonl")]}]},
        **extra,
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_a_mixture_naming_a_missing_source_fails_before_any_work(tmp_path, capsys):
    path = _one_source_config(
        tmp_path,
        sampling={"mode": "budget", "token_budget": 100, "mixture": {"web": 0.5, "books": 0.5}},
        shards={"rows_per_shard": "many"},  # another problem, in another section
    )
    assert main(["run", "--config", path]) == 2
    err = capsys.readouterr().err
    assert "sampling.mixture names source(s) ['books']" in err and "['web']" in err
    assert "shards.rows_per_shard" in err  # one message with every problem
    assert not (tmp_path / "out").exists()


def test_the_demo_mixture_names_the_demo_sources():
    cfg = load_config(DEMO)
    assert set(cfg.sampling.mixture) == set(DEMO_SOURCES) == set(cfg.source_names())


def test_input_drops_a_mixture_of_the_replaced_sources_with_a_note(tmp_path, caplog):
    data = tmp_path / "mine.jsonl"
    data.write_text('{"text": "x"}\n')
    with caplog.at_level("WARNING", logger="curate"):
        cfg = load_config(DEMO, input_globs=[str(data)])
    assert cfg.source_names() == ["input"] and cfg.sampling.mixture == {}
    assert cfg.sampling.mode == "budget"  # the rest of the sampling config still applies
    assert any("sampling.mixture" in r.getMessage() for r in caplog.records)
    # The notes come back to the caller too (the CLI prints them again at the end of the run):
    # the demo's mixture and its per-source quality policies, one line each.
    notes: list[str] = []
    load_config(DEMO, input_globs=[str(data)], notes=notes)
    assert len(notes) == 2 and "sampling.mixture" in notes[0]
    assert "per-source quality settings of ['code', 'docs', 'man']" in notes[1]
    # A mixture set for the new source is kept; one naming a missing source is an error.
    kept = load_config(DEMO, ["sampling.mixture={input: 1.0}"], input_globs=[str(data)])
    assert kept.sampling.mixture == {"input": 1.0}
    with pytest.raises(ConfigError, match=r"names source\(s\) \['code'\]"):
        load_config(DEMO, ["sampling.mixture={code: 1.0}"], input_globs=[str(data)])


@pytest.mark.slow
def test_readme_input_example_writes_shards(tmp_path):
    # README, "Using it": curate run --config configs/demo.yaml --input FILE --output DIR
    families = build_corpus(tmp_path / "corpus", max_docs=120, seed=3)
    data = tmp_path / "mine.jsonl"
    with open(data, "wb") as out:
        for family in sorted(families):
            for path in families[family]:
                out.write(gzip.decompress(Path(path).read_bytes()))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out_dir = tmp_path / "out"
    argv = ["run", "--config", "configs/demo.yaml", "--input", str(data), "--output", str(out_dir)]
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # The demo's 1.3M-token budget is far more than these files hold: the shards are written,
    # the gate fails naming the budget (exit 3), and the run ends with notes saying so.
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "budget_filled" in proc.stderr
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["shards"] and sum(s["rows"] for s in manifest["shards"]) > 0
    assert all((out_dir / s["path"]).exists() for s in manifest["shards"])
    assert "sampling.mixture" in proc.stderr  # the note says what --input dropped
    notes = [line for line in proc.stdout.splitlines() if line.startswith("note: ")]
    assert notes[0].startswith("note: budget 1,300,000 tokens, written "), notes
    assert any("is not used" in n and "sampling.mixture" in n for n in notes), notes
    assert any("per-source quality settings of ['code', 'docs', 'man']" in n for n in notes)
    assert "apitools not found" not in proc.stderr  # no GCP notice on a local run
    assert "Traceback" not in proc.stderr
