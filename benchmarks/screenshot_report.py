"""Renders a run's report/index.html with headless Chromium into a PNG, to look at it.

    python benchmarks/screenshot_report.py [OUT] [--png report.png] [--rebuild] [--height 4000]

OUT defaults to out/demo when it holds a manifest, else a synthetic run output is built in a
temporary folder (tests/stats/fake_output.py, with real text from pipelines.demo_data). With
--rebuild (or when OUT has no report), the report is rebuilt from OUT's manifest and stats.json.
Chromium runs offline with a throwaway profile: `apt-get install -y chromium` if missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quality.report import build_report, summarize  # noqa: E402
from quality.report_config import ReportConfig, ValidationConfig  # noqa: E402
from quality.validation import validate_output  # noqa: E402

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def sample_output(folder: Path) -> Path:
    """A synthetic run over real text from this machine (a few hundred documents)."""
    from pipelines.demo_data import iter_documents
    from tests.stats.fake_output import build_fake_output

    docs = []
    for family in ("code", "docs", "man"):
        for (doc_id, text), _ in zip(iter_documents(family, seed=1), range(120), strict=False):
            docs.append((doc_id, family, text[:6000]))
    out = folder / "sample"
    manifest = build_fake_output(out, docs=docs, include_text=False)
    manifest["validation"] = validate_output(str(out), manifest, ValidationConfig())
    manifest["report"] = "report/index.html"
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return out


def rebuild(out: Path) -> None:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    stats_path = out / (manifest.get("stats") or "stats.json")
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.exists() else {}
    t0 = time.perf_counter()
    build_report(str(out), manifest, stats, ReportConfig())
    print(f"report rebuilt in {time.perf_counter() - t0:.2f}s")


def screenshot(html: Path, png: Path, width: int, height: int) -> None:
    chromium = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if not chromium:
        sys.exit("chromium not found: apt-get update && apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            html.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    print(f"screenshot: {png} ({png.stat().st_size:,} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "out", nargs="?", help="a run output folder (default: out/demo or a synthetic one)"
    )
    parser.add_argument("--png", default="report.png")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the report first")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=4000)
    args = parser.parse_args()
    tmp = None
    if args.out:
        out = Path(args.out)
    elif (ROOT / "out" / "demo" / "manifest.json").exists():
        out = ROOT / "out" / "demo"
    else:
        tmp = tempfile.mkdtemp(prefix="curate-report-")
        out = sample_output(Path(tmp))
        args.rebuild = True
    if args.rebuild or not (out / "report" / "index.html").exists():
        rebuild(out)
    print(summarize(str(out)))
    screenshot(out / "report" / "index.html", Path(args.png), args.width, args.height)
    if tmp:
        print(f"sample output kept in {tmp}")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
