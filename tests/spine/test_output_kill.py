"""kill -9 at chosen points of a run: the previous release survives, the rerun is exact (issue 18).

The CLI runs in a subprocess with `CURATE_TEST_KILL_AT` (transforms/infra/fs.py), which SIGKILLs it at
the N-th file operation on a matching path: the same point on every run, no timing involved.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys

import pytest

from pipelines.cli import main as cli_main
from pipelines.output_folder import OutputFolder
from tests.spine.small_run import ROOT, write_config, write_corpus

# Where each stage first touches the disk (in_memory runner, one worker: a fixed order).
KILL_POINTS = {
    "read": "write:/_tmp/spill/",  # the first spill run after reading
    "decisions": "write:/_tmp/groups/",  # the dedup decisions' disk shuffles
    "tokenize": "write:/_tmp/tokenized/",
    "shards": "rename:/shards/:2",  # one shard in place, the second not yet
    "finalize": "write:/manifest.json",  # stats written, the manifest not yet
}
FAST = {"report": {"enabled": False}, "validation": {"enabled": False, "data_docs": False}}


def _curate(cfg, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONPATH=str(ROOT))
    env.pop("CURATE_TEST_KILL_AT", None)
    if kill_at:
        env["CURATE_TEST_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--config", str(cfg)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _tree(folder) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _shards(folder) -> list[tuple[str, str]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    for s in manifest["shards"]:  # the files match the manifest
        assert hashlib.sha256((folder / s["path"]).read_bytes()).hexdigest() == s["sha256"]
    return [(s["path"], s["sha256"]) for s in manifest["shards"]]


def _recover(out) -> None:
    """What the next run does first: break the dead run's lock, finish its journal."""
    with OutputFolder(str(out), ["manifest.json"]).locked() as folder:
        folder.check()
    assert not (out / "_curate.lock").exists() and not (out / "_previous").exists()


@pytest.mark.slow
def test_kill_at_every_stage_keeps_the_release_and_the_rerun_is_exact(tmp_path):
    corpus = write_corpus(tmp_path / "in" / "docs.jsonl", n_docs=50)
    out, ref = tmp_path / "out", tmp_path / "ref"
    old = write_config(tmp_path / "old.yaml", [str(corpus)], str(out), **FAST)
    new = write_config(
        tmp_path / "new.yaml", [str(corpus)], str(out), **{**FAST, "run": {"seed": 4}}
    )
    ref_cfg = write_config(
        tmp_path / "ref.yaml", [str(corpus)], str(ref), **{**FAST, "run": {"seed": 4}}
    )
    # In-process (no interpreter start): the uninterrupted run the rerun must equal, and the
    # release that must survive every kill.
    assert cli_main(["run", "--config", str(ref_cfg)]) == 0
    assert cli_main(["run", "--config", str(old)]) == 0
    release = _tree(out)
    assert _shards(ref) != _shards(out)  # different seeds: a mix-up cannot pass

    for point, spec in KILL_POINTS.items():
        killed = _curate(new, spec)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
        if point != "finalize":
            _recover(out)
            assert _tree(out) == release, point

    # After the finalize kill, the next run is killed while restoring (after one move back).
    killed = _curate(new, "move:/_previous/:2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert json.loads((out / "_previous" / "_journal.json").read_text())["phase"] == "restoring"
    _recover(out)
    assert _tree(out) == release

    # The rerun, killed after its manifest while dropping the old release: it had finished.
    killed = _curate(new, "delete:/_previous/")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    _recover(out)
    assert _shards(out) == _shards(ref)
    names = {p.name for p in out.iterdir()}
    assert names == set(json.loads((out / "manifest.json").read_text())["outputs"]) - {"_tmp"}
