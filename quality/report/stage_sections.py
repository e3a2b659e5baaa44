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


def decontamination(stats: dict, manifest: dict | None = None) -> dict | None:
    """Documents sharing n-grams with an eval set: flagged (kept, `decontam` column) or removed,
    with the share of each source's input removed (`manifest["decontamination"]`)."""
    section = (stats.get("dedup") or {}).get("decontamination")
    if not section:
        return None
    share = (manifest or {}).get("decontamination") or None
    names = sorted(set(section.get("flagged", {})) | set(section.get("removed", {})))
    return {
        "share": share,
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
    qs = _stages_that_ran(dict(stats.get("quality_summary") or {}))
    if not qs:
        return None
    qs.pop("score_outcomes", None)  # drawn in the Scores section
    qs.pop("score_thresholds", None)  # marked on the Scores section's charts
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
    by_source = qs.pop("by_source", None)
    collapsed = {
        "by source": {k: _stages_that_ran(dict(v)) for k, v in by_source.items()}
        if isinstance(by_source, dict)
        else by_source
    }
    bias = qs.pop("bias", None)
    bias_view = None
    if isinstance(bias, dict):
        bias = dict(bias)
        collapsed["bias by source"] = bias.pop("by_source", None)
        bias_view = bias_summary(bias)
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
        "bias": bias_view,
        "charts": charts,
        "collapsed": {k: v for k, v in collapsed.items() if v},
    }


# Fewer toxic documents than this in a group: its rate ratio is noise, not shown as a number.
MIN_TOXIC_FOR_RATIO = 5


_OWN_KEYS = ("docs", "kept", "rejected", "scorers", "by_source", "score_outcomes")


def _stages_that_ran(scope: dict) -> dict:
    """Drops the blocks of scorers that did not run (nothing scored, nothing counted), and the
    top-level keys named after them (`toxicity_threshold` goes with `toxicity`)."""
    for key, block in list(scope.items()):
        if key in _OWN_KEYS or not isinstance(block, dict):
            continue
        idle = block.get("scored") == 0 if "scored" in block else not any(block.values())
        if idle:
            scope.pop(key)
            for other in [k for k in scope if k.startswith(f"{key}_")]:
                scope.pop(other)
    return scope


def bias_summary(bias: dict) -> dict | None:
    """Identity groups in counts and one plain sentence; a toxic-rate ratio only where the
    counts can carry it (a single toxic document in three would read as a 1000x disparity)."""
    corpus = bias.get("corpus") if isinstance(bias.get("corpus"), dict) else None
    if not corpus:
        return None
    threshold = bias.get("toxicity_threshold")
    scored, toxic = corpus.get("scored_docs", 0) or 0, corpus.get("toxic_docs", 0) or 0
    rows = []
    for name, g in sorted((corpus.get("groups") or {}).items()):
        if not isinstance(g, dict):
            continue
        g_toxic, g_scored = g.get("toxic_docs", 0) or 0, g.get("scored_docs", 0) or 0
        ci = g.get("toxic_rate_ci95") or [None, None]
        enough = g_toxic >= MIN_TOXIC_FOR_RATIO
        rows.append(
            {
                "group": name,
                "docs": g.get("docs", 0),
                "toxic": g_toxic,
                "scored": g_scored,
                "rate": g.get("toxic_rate"),
                "ci": ci,
                "ratio": g.get("disparity") if enough else None,
                "ratio_note": ""
                if enough or not g_toxic
                else f"not shown: {g_toxic} toxic of {g_scored}",
            }
        )
    with_identity = corpus.get("docs_with_identity", 0) or 0
    flagged = [r for r in rows if r["toxic"]]
    sentence = (
        f"{with_identity:,} of {corpus.get('docs', 0):,} documents mention an identity group. "
        f"{toxic:,} of {scored:,} scored documents are toxic (score ≥ {threshold}) across the corpus"
        + (
            "; "
            + ", ".join(
                f"{r['toxic']} of the {r['scored']} mentioning {r['group']}" for r in flagged
            )
            + " are toxic."
            if flagged
            else "; none of the documents mentioning a group is."
        )
    )
    if any(r["ratio_note"] for r in rows):
        sentence += (
            f" A group's toxic rate over the corpus rate is shown only from {MIN_TOXIC_FOR_RATIO}"
            " toxic documents up: with fewer, one document changes the ratio by orders of magnitude."
        )
    return {"rows": rows, "sentence": sentence}


def sampling(stats: dict, image_path: Callable[[str], str], dpi: int) -> dict | None:
    """The sampler's summary: target vs achieved per source, weight quantiles, tables."""
    sampling = dict(stats.get("sampling") or {})
    if not sampling:
        return None
    hidden = [k for k in ("ngram_distribution",) if sampling.pop(k, None) is not None]
    out: dict[str, Any] = {
        "facts": sampling_facts(sampling),
        "sources": sampling_sources(sampling.get("sources")),
        "hidden": hidden,
        "charts": [],
    }
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


def sampling_facts(sampling: dict) -> list[tuple[str, str]]:
    """The sampler's settings and totals as labelled lines (no raw dict on the page)."""
    out: list[tuple[str, str]] = []

    def add(label: str, value: Any, text: str | None = None) -> None:
        if value is not None and value != "":
            out.append((label, text if text is not None else fmt(value)))

    add("mode", sampling.get("mode"))
    budget = sampling.get("budget_used")
    if isinstance(budget, (int, float)):
        add("token budget used", budget, f"{100 * budget:.2f}%")
    add("documents per draw (k)", sampling.get("k"))
    look = sampling.get("lookahead")
    if isinstance(look, (int, float)):
        add("lookahead past the budget", look, f"{100 * look:.0f}% of the budget")
    for key, label in (("candidates", "candidates"), ("selected", "selected")):
        block = sampling.get(key)
        if isinstance(block, dict):
            add(
                label,
                block,
                f"{fmt(block.get('docs'))} documents, {fmt(block.get('tokens'))} tokens",
            )
            for split in ("train", "eval"):
                part = block.get(split)
                if isinstance(part, dict):
                    add(
                        f"{label}: {split}",
                        part,
                        f"{fmt(part.get('docs'))} documents, {fmt(part.get('tokens'))} tokens",
                    )
    mixture = sampling.get("mixture")
    if isinstance(mixture, dict):
        if "all_within_tolerance" in mixture:
            add("mixture within tolerance", "yes" if mixture["all_within_tolerance"] else "no")
        if "redistribute" in mixture:
            add("unused budget redistributed", "yes" if mixture["redistribute"] else "no")
    add("seed", sampling.get("seed"))
    known = {"mode", "budget_used", "k", "lookahead", "candidates", "selected", "mixture", "seed"}
    for key, value in sampling.items():  # other settings: labelled too, never dropped
        if key not in known and (value is None or isinstance(value, (str, int, float, bool))):
            add(str(key).replace("_", " "), value)
    return out


SAMPLING_COLUMNS = (
    ("eligible_docs", "eligible docs"),
    ("eligible_tokens", "eligible tokens"),
    ("target_share", "target share"),
    ("achieved_share", "achieved share"),
    ("target_tokens", "target tokens"),
    ("selected_docs", "selected docs"),
    ("selected_tokens", "selected tokens"),
    ("within_tolerance", "within tolerance"),
)


def sampling_sources(sources: Any) -> dict | None:
    """Per-source rows of the sampler's table, with the columns that exist."""
    if not isinstance(sources, dict) or not sources:
        return None
    rows = [r for r in sources.values() if isinstance(r, dict)]
    columns = [(k, label) for k, label in SAMPLING_COLUMNS if any(k in r for r in rows)]
    table = []
    for name, r in sorted(sources.items()):
        if not isinstance(r, dict):
            continue
        cells = []
        for k, _ in columns:
            v = r.get(k)
            if "share" in k and isinstance(v, (int, float)):
                cells.append(f"{100 * v:.1f}%")
            elif isinstance(v, bool):
                cells.append("yes" if v else "no")
            else:
                cells.append(fmt(v))
        notes = [str(r["note"])] if r.get("note") else []
        table.append({"source": name, "cells": cells, "note": "; ".join(notes)})
    return {"columns": [label for _, label in columns], "rows": table}
