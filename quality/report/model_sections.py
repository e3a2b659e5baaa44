"""Report sections of the per-source policies and of the scorers.

From `stats.json`'s `quality_summary` (and the run's config in the manifest): the policy and
the rejections by reason of each source, then the section each scorer declares for itself
(`Scorer.report_section`: e.g. the language mix, the classifier's score distribution).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from quality.report import plots
from quality.report.stage_sections import rel
from quality.scorers.registry import report_sections


def _quality_config(manifest: dict) -> dict:
    return ((manifest.get("config") or {}).get("quality")) or {}


def decisions(stats: dict, manifest: dict) -> list[dict]:
    """One row per source: its policy, documents scored, kept, rejections per reason."""
    qs = stats.get("quality_summary") or {}
    qcfg = _quality_config(manifest)
    default = qcfg.get("default_policy", "web")
    policies = qcfg.get("source_policies") or {}
    rows = []
    for source, scope in sorted((qs.get("by_source") or {}).items()):
        rejected = scope.get("rejected") or {}
        rows.append(
            {
                "source": source,
                "policy": policies.get(source, default),
                "docs": scope.get("docs", 0),
                "kept": scope.get("kept", 0),
                "rejected": sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0])),
            }
        )
    return rows


def scorer_sections(
    stats: dict, manifest: dict, image_path: Callable[[str], str], dpi: int
) -> list:
    """The section each scorer declares (`Scorer.report_section`), its chart drawn here."""
    qs = stats.get("quality_summary") or {}
    names = [s.get("name") for s in _quality_config(manifest).get("scorers") or []]
    out = []
    for section in report_sections(qs, [n for n in names if isinstance(n, str)]):
        view = dataclasses.asdict(section)
        chart = view.pop("chart")
        view["img"] = None
        if chart:
            img = plots.curves(
                image_path(chart["name"]),
                chart["series"],
                chart["title"],
                chart["xlabel"],
                chart["ylabel"],
                dpi,
            )
            view["img"] = rel(img)
        out.append(view)
    return out
