"""`curate run` exit codes through the real CLI: 0 success, 2 bad config, 3 a failed run."""

from __future__ import annotations

import json
import re
import time

from pipelines.cli import main as cli_main
from tests.spine.small_run import run_cli, write_config, write_corpus

# Injected in the subprocess only: the merged tally gains one phantom document read, so the
# accounting of a finished run does not add up (the pipeline's last step raises).
PHANTOM_READ = """
from transforms.infra import accounting

_extract = accounting.MergeTallies.extract_output


def extract_output(self, acc):
    state = _extract(self, acc)
    state["counts"].append(["read", "", "s", 1, 0])  # place, reason, source, docs, bytes
    return state


accounting.MergeTallies.extract_output = extract_output
"""


def _setup(tmp_path):
    corpus = write_corpus(tmp_path / "in" / "docs.jsonl")
    return write_config(tmp_path / "c.yaml", [str(corpus)], str(tmp_path / "out"))


def test_a_good_run_exits_0(tmp_path):
    started = time.time()
    proc = run_cli(["run", "--config", str(_setup(tmp_path))], tmp_path)
    elapsed = time.time() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["accounting_ok"] and manifest["validation"]["success"] is True
    assert "accounting: ok" in proc.stdout
    # The summary's time is the whole command's: the manifest's run, validation, report and
    # the rest of the command, and no more than the process took.
    shown = float(re.search(r"time: ([0-9.]+)s total", proc.stdout).group(1))
    assert manifest["timings"]["total_s"] < shown <= elapsed


def test_a_bad_config_exits_2_before_any_work(tmp_path):
    cfg = _setup(tmp_path)
    proc = run_cli(["run", "--config", str(cfg), "--set", "run.workers=-1"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "workers must be >= 0" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_broken_accounting_exits_3_with_one_line(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(PHANTOM_READ)
    proc = run_cli(["run", "--config", str(_setup(tmp_path))], tmp_path, extra_path=str(hook))
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("curate run:")]
    assert (
        len(lines) == 1 and "accounting does not add up: total: read 61 != accounted 60" in lines[0]
    )
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["accounting_ok"] is False


def test_a_failed_gate_exits_3_naming_the_check(tmp_path):
    cfg = _setup(tmp_path)
    proc = run_cli(["run", "--config", str(cfg), "--set", "validation.min_tokens=100000"], tmp_path)
    assert proc.returncode == 3, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("curate run:")]
    assert len(lines) == 1 and "validation failed:" in lines[0]
    assert "n_tokens_min_bound" in lines[0] and "Traceback" not in proc.stderr


def test_a_run_without_shards_says_why_and_exits_3(tmp_path, capsys):
    cfg = _setup(tmp_path)
    assert cli_main(["run", "--config", str(cfg), "--set", "shards.min_tokens=100000"]) == 3
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("curate run:")]
    assert len(err) == 1
    assert "no training shards written: of 60 documents read, 60 rejected" in err[0]
    verdict = json.loads((tmp_path / "out" / "manifest.json").read_text())["validation"]
    assert verdict["failed"] == ["shards_written"] and len(verdict["expectations"]) == 1
