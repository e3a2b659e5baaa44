"""What the CLI tells a user: no GCP notice on local runs, install hints without torch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import _uses_gcp, beam_flags, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
GCP_NOTICE = "apitools not found"


def _python(code: str, cwd: Path = ROOT, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_beam_flags_after_a_double_dash_reach_beam():
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    argv = ["run", "--config", "c.yaml", "--", "--runner", "PortableRunner", "--job_endpoint=h:1"]
    _, extra = build_parser().parse_known_args(argv)
    flags = beam_flags(extra)
    assert flags == ["--runner", "PortableRunner", "--job_endpoint=h:1"]
    assert PipelineOptions(flags).view_as(StandardOptions).runner == "PortableRunner"
    assert beam_flags(["--runner", "X"]) == ["--runner", "X"]


def test_gcp_use_is_read_from_the_command_line():
    assert not _uses_gcp(["run", "--config", "c.yaml", "--input", "data/*.jsonl"])
    assert _uses_gcp(["run", "--config", "c.yaml", "--runner", "DataflowRunner"])
    assert _uses_gcp(["run", "--config", "c.yaml", "--runner=DataflowRunner"])
    assert _uses_gcp(["run", "--config", "c.yaml", "--input", "gs://b/raw/*.jsonl.gz"])
    assert _uses_gcp(["run", "--config", "c.yaml", "--set", "run.output=gs://b/out"])


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["run", "--config", "c.yaml", "--input", "data/*.jsonl"], False),
        (["run", "--config", "c.yaml", "--runner", "DataflowRunner"], True),
    ],
)
def test_beams_gcp_notice_only_when_gcp_is_used(argv, shown):
    # The notice is logged when apache_beam is first imported: only a fresh process shows it.
    proc = _python(
        f"from pipelines.cli import _quiet_beam; _quiet_beam({argv!r}); import apache_beam"
    )
    assert proc.returncode == 0, proc.stderr
    assert (GCP_NOTICE in proc.stderr) is shown, proc.stderr


def test_train_without_torch_says_what_to_install_and_exits_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails, as if absent
    code = main(["train", "--manifest", "m.json", "--config", "configs/train/lora_demo.yaml"])
    err = capsys.readouterr().err
    assert code == 2
    assert "not installed: torch" in err and "Traceback" not in err
    assert f"{sys.executable} -m pip install 'torch==2.13.0'" in err
    assert f"{sys.executable} -m pip install -e '.[train]'" in err
    assert "make train-demo" in err


def test_train_without_torch_in_a_fresh_process_has_no_traceback(tmp_path):
    proc = _python(
        "import sys; sys.modules['torch'] = None\n"
        "from pipelines.cli import main\n"
        "sys.exit(main(['train', '--manifest', 'm.json', '--config', 'c.yaml']))",
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "pip install" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_no_gcp_notice_from_local_worker_processes(tmp_path):
    """multi_processing workers start through pipelines.beam_worker: no notice from them either."""
    import yaml

    from tests.spine.corpus import sources, write_corpus

    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    cfg = {
        "run": {"output": str(tmp_path / "out"), "running_mode": "multi_processing", "workers": 2},
        "input": {"sources": sources(corpus), "max_doc_bytes": 10_000},
        "tokenizer": {"vocab_size": 300, "train_sample_docs": 100},
    }
    path = tmp_path / "mp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--config", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "local runner: multi_processing, 2 workers" in proc.stderr
    assert GCP_NOTICE not in proc.stderr
    assert "Traceback" not in proc.stderr
