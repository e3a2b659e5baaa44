"""The import arrows at run time: importing `train` loads neither Beam nor the curation packages.

The import statements themselves (and the one lazy Beam import train/storage.py may make) are
checked in tests/test_import_boundaries.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FORBIDDEN = {"apache_beam", "pipelines", "transforms", "quality"}
TRAIN = Path(__file__).resolve().parents[2] / "train"


def test_importing_every_train_module_loads_none_of_them():
    modules = sorted(f"train.{p.stem}" for p in TRAIN.glob("*.py") if p.stem != "__init__")
    code = f"import sys; import {', '.join(modules)}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {FORBIDDEN!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_plain_import_train_is_cheap():
    code = "import sys, train; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", (
        "the trigger imports train lazily; it must not drag torch in"
    )
