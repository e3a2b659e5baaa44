"""Every command of the README's "Using it" block runs, on the demo data, as a newcomer types it.

The block is read from README.md (so an edited command is the command tested); each line runs
as a command in a subprocess, in a scratch folder holding the repo's `configs/`, with the PATH a
user has after `. .venv/bin/activate`: this interpreter's bin folder first, then the system's
(so `curate` is the installed console script, found by name). Only sizes are turned down, with
the same `--set` overrides a user has: a smaller demo corpus, the in-process runner, fewer
training steps, a smaller `--max-bytes`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL_RUN = [
    "--set",
    "input.demo.max_docs=150",
    "--set",
    "run.running_mode=in_memory",
    # 150 documents cannot fill the demo's 1.3M-token budget or its 60/20/20 mixture, which the
    # gate checks (exit 3, tests/quality/test_sampling_gate.py); a user who shrinks the corpus
    # sets the same two settings.
    "--set",
    "sampling.min_budget_fill=0",
    "--set",
    "sampling.mixture_tolerance=1",
]


def _using_it_block() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Using it") :]
    block = section[
        section.index("```bash") + len("```bash") : section.index(
            "```", section.index("```bash") + 7
        )
    ]
    block = re.sub(r"\\\n\s*", " ", block)  # continued lines
    commands = []
    for line in block.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line:
            commands.append(shlex.split(line))
    return commands


def _small(argv: list[str]) -> list[str]:
    if argv[:2] == ["curate", "run"]:
        return argv + SMALL_RUN
    if argv[:2] == ["curate", "train"]:
        return argv + ["--set", "train.max_steps=2", "--set", "eval.every_steps=0"]
    if argv[:3] == ["curate", "classifier", "train"]:
        return argv + ["--max-docs", "40"]
    if argv[:3] == ["python", "-m", "pipelines.demo_data"]:
        argv = list(argv)
        argv[argv.index("--max-bytes") + 1] = "300KB"
    return argv


def _activated_env() -> dict[str, str]:
    """The environment after `. .venv/bin/activate`: the venv's bin first on a plain PATH."""
    venv_bin = os.path.dirname(sys.executable)
    env = {k: v for k, v in os.environ.items() if k not in ("PATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join([venv_bin, "/usr/local/bin", "/usr/bin", "/bin"])
    env["VIRTUAL_ENV"] = os.path.dirname(venv_bin)
    # This checkout's code, even where the venv's curate is installed from another one.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "configs", work / "configs")
    (work / "my.yaml").write_text((ROOT / "configs" / "demo.yaml").read_text())
    return work


def test_the_block_is_what_we_run():
    commands = _using_it_block()
    heads = [" ".join(c[:3]) for c in commands]
    assert heads[0] == "curate run --config" and any(h.startswith("curate train") for h in heads)
    assert any(c[:3] == ["python", "-m", "pipelines.demo_data"] for c in commands)
    assert len(commands) >= 7


@pytest.mark.slow
def test_every_using_it_command_runs(workdir):
    pytest.importorskip("torch")
    env = _activated_env()
    assert shutil.which("curate", path=env["PATH"]), "curate is not installed in this venv"
    for argv in _using_it_block():
        if "--input" in argv:  # the user's own files: the demo corpus's, copied to data/
            (workdir / "data").mkdir(exist_ok=True)
            for f in (workdir / "out/demo/demo_input").glob("*.jsonl.gz"):
                shutil.copy(f, workdir / "data" / f.name)
        if "--set" in argv and "--output" not in argv:  # my.yaml: keep the demo run's output
            argv = [*argv, "--output", "out/overrides"]
        proc = subprocess.run(
            _small(argv), cwd=workdir, env=env, capture_output=True, text=True, timeout=900
        )
        assert proc.returncode == 0, (
            f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-3000:]}"
        )
        if argv[0] == "python":
            assert any((workdir / "corpus").glob("*.jsonl.gz")), argv
    manifest = json.loads((workdir / "out/demo/manifest.json").read_text())
    assert manifest["accounting_ok"] and manifest["shards"]
    assert json.loads((workdir / "out/mine/manifest.json").read_text())["shards"]
    over = json.loads((workdir / "out/overrides/manifest.json").read_text())
    assert over["config"]["run"]["seed"] == 7 and over["config"]["shards"]["rows_per_shard"] == 2000
    assert (workdir / "out/demo/adapter").is_dir() or any((workdir / "out/demo").glob("adapter*"))
    assert (workdir / "out/classifier/docs.safetensors").exists()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
