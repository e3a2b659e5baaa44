"""What a run leaves behind besides weights: the JSON report, the loss plot, TensorBoard events.

`training_report.json` ties the adapter to the exact corpus (the manifest's sha256, config hash and
code version) and the exact recipe (the resolved config), with the loss curve, eval perplexity
and throughput. TensorBoard is optional: used when installed, skipped silently otherwise.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("train")

REPORT_FORMAT_VERSION = 1


def write_json_atomic(path: Path, data: Any) -> None:
    """Writes JSON to a temporary name, then renames it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def plot_losses(loss_curve: list[dict], eval_curve: list[dict], path: Path, title: str) -> bool:
    """Writes a PNG of train loss (and eval loss) against step; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if loss_curve:
        ax.plot(
            [p["step"] for p in loss_curve],
            [p["loss"] for p in loss_curve],
            label="train loss",
            lw=1.2,
        )
    if eval_curve:
        ax.plot(
            [p["step"] for p in eval_curve],
            [p["loss"] for p in eval_curve],
            "o-",
            label="eval loss",
            lw=1.2,
        )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return True


class ScalarLogger:
    """TensorBoard scalars if `torch.utils.tensorboard` can be imported, else nothing."""

    def __init__(self, directory: Path, enabled: bool) -> None:
        self._writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is not a dependency
            return
        self._writer = SummaryWriter(str(directory))

    def scalars(self, step: int, values: dict[str, float | None]) -> None:
        if self._writer is None:
            return
        for key, value in values.items():
            if value is not None:
                self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def code_version() -> str:
    """The installed curate version plus the git commit of this checkout, when there is one."""
    import subprocess
    from importlib import metadata

    try:
        version = metadata.version("curate")
    except metadata.PackageNotFoundError:
        version = "0.0.0"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if sha.returncode == 0 and sha.stdout.strip():
            return f"{version}+g{sha.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return version
