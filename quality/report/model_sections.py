"""Report sections of the per-source policies, language ID and the trained classifier.

From `stats.json`'s `quality_summary` (and the run's config in the manifest): the policy and
the rejections by reason of each source, each source's language mix, and each source's
classifier score distribution next to the model's held-out AUC from training.
"""

from __future__ import annotations

from collections.abc import Callable

from quality.report import plots
from quality.report.stage_sections import rel

TOP_LANGUAGES = 5


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


def languages(stats: dict) -> list[dict]:
    """One row per source with language ID: documents and the top languages with their shares."""
    qs = stats.get("quality_summary") or {}
    rows = []
    for source, scope in sorted((qs.get("by_source") or {}).items()):
        mix = scope.get("languages") or {}
        total = sum(mix.values())
        if not total:
            continue
        top = sorted(mix.items(), key=lambda kv: (-kv[1], kv[0]))
        rows.append(
            {
                "source": source,
                "docs": total,
                "n_languages": len(mix),
                "top": [(code, n / total) for code, n in top[:TOP_LANGUAGES]],
                "other": sum(n for _, n in top[TOP_LANGUAGES:]) / total,
            }
        )
    return rows


def classifier(stats: dict, image_path: Callable[[str], str], dpi: int) -> dict | None:
    """Per-source score distributions (share of the source's documents per bin) and model metrics."""
    qs = stats.get("quality_summary") or {}
    series = {}
    for source, scope in sorted((qs.get("by_source") or {}).items()):
        cls = scope.get("classifier") or {}
        hist, scored = cls.get("histogram") or [], cls.get("scored", 0)
        if scored and hist:
            width = 1.0 / len(hist)
            series[source] = {round((i + 0.5) * width, 4): n / scored for i, n in enumerate(hist)}
    if not series:
        return None
    models = qs.get("classifier_models") or {}
    aucs = [m.get("auc") for m in models.values() if isinstance(m, dict) and m.get("auc")]
    title = "Classifier score by source" + (
        f" (held-out AUC {', '.join(f'{a:.3f}' for a in aucs)})" if aucs else ""
    )
    img = plots.curves(
        image_path("classifier_scores"),
        series,
        title,
        "classifier score",
        "share of documents",
        dpi,
    )
    rows = []
    for source, points in series.items():
        above = sum(v for x, v in points.items() if x >= 0.5)
        rows.append(
            {
                "source": source,
                "scored": qs["by_source"][source]["classifier"]["scored"],
                "above_half": above,
            }
        )
    return {"img": rel(img), "rows": rows, "models": models}
