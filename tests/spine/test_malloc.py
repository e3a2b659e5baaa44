"""pipelines.malloc: the arena cap is applied on glibc and never overrides the user's setting."""

import os
import platform
import subprocess
import sys

CODE = "from pipelines.malloc import limit_malloc_arenas; print(limit_malloc_arenas())"


def _run(env_extra: dict) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": os.getcwd(), **env_extra}
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_cap_applies_unless_the_user_set_one():
    if platform.libc_ver()[0] == "glibc":
        assert _run({}) == "True"
    assert _run({"MALLOC_ARENA_MAX": "4"}) == "False"
