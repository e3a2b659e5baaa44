"""Beam's portable runner on localhost, with curate on the workers as Dataflow gets it.

`portable_beam()` starts Beam's local job service (the Job API) and an external SDK worker pool
on free localhost ports and stops both afterwards. Both run from their own virtualenv into which
curate is installed from a wheel built from this checkout's files (not editable, not the source
tree on the path), the way `--setup_file` ships it to Dataflow workers: a file missing from the
package (lexicons, templates, report assets) fails there as it would on a worker.

The worker virtualenv sees the test virtualenv's site-packages through a .pth line, so the
dependencies are the pinned ones the suite runs with and nothing is downloaded; only curate
itself comes from the wheel (checked: `pipelines` imports from the worker's own site-packages).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]


class PortableBeam(NamedTuple):
    """A running job service and worker pool; `beam_args` are the flags `curate run` takes."""

    job_port: int
    worker_port: int
    python: str  # the worker virtualenv's interpreter (curate from the wheel)
    log_dir: Path

    @property
    def beam_args(self) -> list[str]:
        return [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{self.job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{self.worker_port}",
        ]

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
            for p in sorted(self.log_dir.glob("*.log"))
        )


def _package_files(dst: Path) -> Path:
    """The checkout's files as a fresh clone would have them (tracked and not ignored)."""
    try:
        names = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.split(b"\0")
    except (OSError, subprocess.SubprocessError):
        names = None
    if not names:
        shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(".*", "out", "build", "dist"))
        return dst
    for raw in names:
        if not raw:
            continue
        src = ROOT / os.fsdecode(raw)
        if src.is_file():
            (dst / os.fsdecode(raw)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / os.fsdecode(raw))
    return dst


def build_wheel(work: Path) -> Path:
    """curate's wheel, built (no network, no build isolation) from a copy of the checkout."""
    src = _package_files(work / "src")
    dist = work / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dist),
            str(src),
        ],  # fmt: skip
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("curate-*.whl")
    return wheel


def worker_venv(work: Path, wheel: Path) -> str:
    """A virtualenv with curate from `wheel` and this environment's dependencies; its python."""
    venv = work / "worker-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--target",
            site,
            str(wheel),
        ],  # fmt: skip
        check=True,
        capture_output=True,
        timeout=300,
    )
    # The test environment's packages, after the worker's own: a .pth line adds a folder without
    # running its .pth files, so the editable install of this checkout stays out of the worker.
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "curate-test-deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    where = subprocess.run(
        [python, "-c", "import pipelines, quality; print(pipelines.__file__)"],
        capture_output=True,
        text=True,
        cwd=work,
        env=_worker_env(),
        check=True,
    ).stdout.strip()
    assert where.startswith(site), f"curate on the worker comes from {where}, not the wheel"
    return python


def _worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


def _path_first(python: str) -> str:
    return os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("localhost", port), 1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f}s")


@contextlib.contextmanager
def portable_beam(work: Path, env: dict[str, str] | None = None) -> Iterator[PortableBeam]:
    """Starts the job service and the worker pool (curate from a built wheel); stops them after."""
    work.mkdir(parents=True, exist_ok=True)
    python = worker_venv(work, build_wheel(work))
    log_dir = work / "logs"
    log_dir.mkdir(exist_ok=True)
    job_port, worker_port = free_port(), free_port()
    procs: list[subprocess.Popen] = []
    try:
        for name, module, flag, port in (
            ("job_service", "apache_beam.runners.portability.local_job_service_main", "--port",
             job_port),
            ("worker_pool", "apache_beam.runners.worker.worker_pool_main", "--service_port",
             worker_port),
        ):  # fmt: skip
            with open(log_dir / f"{name}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [python, "-m", module, flag, str(port)],
                        cwd=work,  # not the checkout: nothing of curate importable from here
                        # the pool starts each SDK worker as `python` from PATH: the venv's
                        env=_worker_env({**(env or {}), "PATH": _path_first(python)}),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            _wait_listening(port, procs[-1], name)
        yield PortableBeam(job_port, worker_port, python, log_dir)
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)
