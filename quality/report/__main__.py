"""Rebuilds a finished run's report from its manifest and stats.json (no pipeline rerun).

python -m quality.report OUT
"""

from __future__ import annotations

import json
import os
import sys

from quality.report import build_report
from quality.report_config import ReportConfig


def rebuild(out_dir: str) -> str:
    """Writes OUT/report/index.html again; returns its path."""
    with open(os.path.join(out_dir, "manifest.json"), encoding="utf-8") as fh:
        manifest = json.load(fh)
    stats_path = os.path.join(out_dir, manifest.get("stats") or "stats.json")
    stats = {}
    if os.path.exists(stats_path):
        with open(stats_path, encoding="utf-8") as fh:
            stats = json.load(fh)
    return build_report(out_dir, manifest, stats, ReportConfig())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m quality.report OUT")
    print(rebuild(sys.argv[1]))
