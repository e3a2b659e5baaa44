"""Report sections fed by other stages: dedup clusters, scoring summary, sampling, validation.

Their inputs come from other engineers' summaries whose exact keys may change, so each reads
what it recognises, charts it, and leaves the rest to the generic table renderer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from quality.report import plots
from quality.report import sections as sec
from quality.report.render import fmt


def rel(path: str) -> str:
    """An image path as the page links it."""
    return "img/" + os.path.basename(path)


def dedup(stats: dict, image_path: Callable[[str], str], dpi: int) -> list[dict]:
    """One cluster-size chart per {size: count} table found in stats.json."""
    out = []
    for name, sizes in sec.cluster_size_tables(stats).items():
        clusters = {s: n for s, n in sizes.items() if s > 1}  # size 1: documents in no cluster
        img = plots.cluster_sizes(
            image_path(f"dedup_{name}"), clusters, f"Cluster sizes: {name}", dpi
        )
        out.append(
            {
                "name": name,
                "img": rel(img),
                "clusters": sum(clusters.values()),
                "largest": max(clusters, default=1),
                "singletons": sizes.get(1, 0),
                "removed": sum((s - 1) * n for s, n in clusters.items()),
            }
        )
    return out


def decontamination(stats: dict) -> dict | None:
    """Documents sharing n-grams with an eval set: flagged (kept, `decontam` column) or removed."""
    section = (stats.get("dedup") or {}).get("decontamination")
    if not section:
        return None
    names = sorted(set(section.get("flagged", {})) | set(section.get("removed", {})))
    return {
        "rows": [
            {
                "name": n,
                "flagged": section.get("flagged", {}).get(n, 0),
                "removed": section.get("removed", {}).get(n, 0),
            }
            for n in names
        ],
        "examples": [
            {**e, "eval_set": n} for n in names for e in section.get("examples", {}).get(n, [])
        ],
    }


def quality(stats: dict, image_path: Callable[[str], str], dpi: int) -> dict | None:
    """The scoring summary: toxicity histogram and identity-group chart, tables of the rest."""
    qs = dict(stats.get("quality_summary") or {})
    if not qs:
        return None
    charts = []
    tox, edges = qs.get("toxicity"), qs.get("toxicity_histogram_edges")
    if (
        isinstance(tox, dict)
        and isinstance(tox.get("histogram"), list)
        and isinstance(edges, list)
        and len(edges) == len(tox["histogram"]) + 1
    ):
        img = plots.histogram(
            image_path("quality_toxicity"),
            edges,
            tox["histogram"],
            "Toxicity of every scored document (before filtering)",
            "toxicity",
            dpi,
            markers={"threshold": qs.get("toxicity_threshold")},
        )
        charts.append(rel(img))
        qs["toxicity"] = {k: v for k, v in tox.items() if k != "histogram"}
        qs.pop("toxicity_histogram_edges")
    collapsed = {"by source": qs.pop("by_source", None)}
    bias = qs.get("bias")
    if isinstance(bias, dict):
        bias = qs["bias"] = dict(bias)
        collapsed["bias by source"] = bias.pop("by_source", None)
        groups = (
            (bias.get("corpus") or {}).get("groups")
            if isinstance(bias.get("corpus"), dict)
            else None
        )
        if (
            isinstance(groups, dict)
            and groups
            and all(isinstance(g, dict) for g in groups.values())
        ):
            names = sorted(groups)
            shares = [
                sec.as_number(groups[g].get("share_of_docs", groups[g].get("share"))) for g in names
            ]
            img = plots.hbar(
                image_path("quality_bias_share"),
                names,
                shares,
                None,
                "Identity groups: share of documents",
                "share of documents",
                dpi,
            )
            charts.append(rel(img))
    return {
        "groups": sec.split_quality_summary(qs),
        "charts": charts,
        "collapsed": {k: v for k, v in collapsed.items() if v},
    }


def sampling(stats: dict, image_path: Callable[[str], str], dpi: int) -> dict | None:
    """The sampler's summary: target vs achieved per source, weight quantiles, tables."""
    sampling = dict(stats.get("sampling") or {})
    if not sampling:
        return None
    hidden = [k for k in ("ngram_distribution",) if sampling.pop(k, None) is not None]
    out: dict[str, Any] = {"data": sampling, "hidden": hidden, "charts": []}
    series = sec.sampling_series(sampling)
    if series:
        unit, names, values = series
        img = plots.grouped_bars(
            image_path("sampling_sources"),
            names,
            values,
            "Source mixture: target vs achieved",
            unit,
            dpi,
        )
        out["charts"].append(rel(img))
    weights = sec.weight_quantiles(sampling)
    if weights:
        key, curves = weights
        label = key.replace("_quantiles", "").replace("_", " ")
        img = plots.curves(
            image_path("sampling_weights"),
            curves,
            f"{label.capitalize()}: kept vs dropped",
            "quantile",
            label,
            dpi,
        )
        out["charts"].append(rel(img))
    return out


def validation(out_dir: str, manifest: dict, verdict: str) -> dict:
    """The gate's verdict: checks (failed first), links to the Data Docs that exist."""
    v = manifest.get("validation") or {}
    docs = v.get("data_docs")
    docs_ok = bool(docs) and os.path.exists(os.path.join(out_dir, docs))
    checks = [{**e, "observed_text": observed_text(e)} for e in v.get("expectations") or []]
    return {
        "verdict": verdict,
        "checks": sorted(checks, key=lambda e: (e.get("success", False), e.get("name", ""))),
        "failed": [e for e in checks if not e.get("success")],
        "data_docs": "../" + docs if docs_ok else None,
        "pages": {
            name: "../" + page
            for name, page in (v.get("data_docs_pages") or {}).items()
            if os.path.exists(os.path.join(out_dir, page))
        },
        "error": v.get("error"),
        "seconds": v.get("seconds"),
        "sample_rows": v.get("sample_rows"),
    }


def observed_text(e: dict) -> str:
    """One line per check: how many values were checked, and for failures which and where."""
    if e.get("error"):
        return f"error: {e['error']}"
    obs = e.get("observed") or {}
    parts = []
    if "observed_value" in obs:
        parts.append(f"observed {fmt(obs['observed_value'])}")
    if "element_count" in obs:
        parts.append(f"{fmt(obs['element_count'])} checked")
    if obs.get("unexpected_count"):
        parts.append(f"{fmt(obs['unexpected_count'])} unexpected")
        if obs.get("partial_unexpected_list"):
            parts.append("e.g. " + ", ".join(str(x) for x in obs["partial_unexpected_list"][:3]))
        if obs.get("where"):
            parts.append("in " + ", ".join(dict.fromkeys(obs["where"])))
    return " · ".join(parts)
