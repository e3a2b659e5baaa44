"""`build_report`: OUT/report/index.html (Jinja2) with PNG charts under OUT/report/img/.

The page is self-contained: inline CSS, images as local files, no scripts, no CDN. Each section
is built on its own; one that fails on odd input shows its error instead of taking the report
down. All text from the data (examples, reasons, sources) is HTML-escaped by Jinja's autoescape.
"""

from __future__ import annotations

import copy
import datetime as dt
import glob
import os
import re
from collections.abc import Callable
from typing import Any

import jinja2

from quality.report import model_sections, plots, stage_sections
from quality.report import sections as sec
from quality.report.render import fmt, render_value
from quality.report_config import ReportConfig

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


def build_report(
    out_dir: str, manifest: dict, stats: dict, cfg: ReportConfig, shown_output: str | None = None
) -> str:
    """Writes OUT/report/index.html and its images; returns the path of index.html.

    `out_dir` is a local folder: the output itself, or a local copy of a remote output's small
    files (the caller uploads report/ afterwards); `shown_output` is the output the page names.
    """
    report_dir = os.path.join(out_dir, "report")
    img_dir = os.path.join(report_dir, "img")
    os.makedirs(img_dir, exist_ok=True)
    for old in glob.glob(os.path.join(img_dir, "*.png")):
        os.remove(old)  # no stale charts from an earlier run
    page = _Page(out_dir, img_dir, manifest or {}, stats or {}, cfg)
    # the page names the output by its folder name, never the machine's absolute path
    shown = shown_output or out_dir
    page.shown_output = shown if "://" in shown else os.path.basename(os.path.abspath(shown))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["pct"] = lambda x: f"{100 * x:.1f}%" if isinstance(x, (int, float)) else "—"
    env.filters["mb"] = lambda b: f"{b / 1e6:,.2f}" if isinstance(b, (int, float)) else "—"
    env.filters["json"] = render_value
    html = env.get_template("index.html.j2").render(**page.context())
    path = os.path.join(report_dir, "index.html")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(html)
    os.replace(tmp, path)
    return path


class _Page:
    """Collects the template context section by section."""

    def __init__(self, out_dir: str, img_dir: str, manifest: dict, stats: dict, cfg: ReportConfig):
        self.out_dir, self.img_dir, self.cfg = out_dir, img_dir, cfg
        self.manifest, self.stats = manifest, stats
        self.corpus = stats.get("corpus") or {}
        self.acc = copy.deepcopy(manifest.get("accounting") or stats.get("funnel") or {})
        sec.sampled_out_bytes(self.acc)
        self.errors: list[str] = []
        self.shown_output = os.path.basename(os.path.abspath(out_dir))
        self.thresholds = score_thresholds(manifest, stats)

    def context(self) -> dict[str, Any]:
        ctx: dict[str, Any] = {"run": self._run(), "errors": self.errors}
        for name, build in (
            ("funnel", self._funnel),
            ("sources", self._sources),
            ("lengths", self._lengths),
            ("scores", self._scores),
            ("tokens", self._tokens),
            ("ngrams", self._ngrams),
            ("dedup", self._dedup),
            ("decontamination", self._decontamination),
            ("quality", self._quality),
            ("policies", self._policies),
            ("sampling", self._sampling),
            ("examples", self._examples),
            ("validation", self._validation),
        ):
            ctx[name] = self._safe(name, build)
        return ctx

    def _safe(self, name: str, build: Callable[[], Any]) -> Any:
        try:
            return build()
        except Exception as exc:  # odd input in one section must not hide the others
            self.errors.append(f"section {name}: {type(exc).__name__}: {exc}")
            return None

    def _img(self, name: str) -> str:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        return os.path.join(self.img_dir, f"{safe}.png")

    _rel = staticmethod(stage_sections.rel)

    def _run(self) -> dict:
        m = self.manifest
        created = m.get("created_unix")
        shards, evals = m.get("shards") or [], m.get("eval_shards") or []
        tok = m.get("tokenizer") or {}
        verdict = (m.get("validation") or {}).get("success")
        return {
            "name": m.get("name") or (m.get("config") or {}).get("run", {}).get("name", ""),
            "code_version": m.get("code_version", ""),
            "config_sha256": str(m.get("config_sha256", ""))[:12],
            "created": dt.datetime.fromtimestamp(created, dt.timezone.utc).strftime(
                "%Y-%m-%d %H:%M UTC"
            )
            if created
            else "",
            "output": self.shown_output,
            "read": self.acc.get("read", 0),
            "written": self.acc.get("written", 0),
            "tokens": sum(s.get("tokens", 0) for s in shards),
            "eval_tokens": sum(s.get("tokens", 0) for s in evals),
            "shards": len(shards),
            "eval_shards": len(evals),
            "vocab_size": tok.get("vocab_size"),
            "verdict": "skipped" if verdict is None else ("passed" if verdict else "failed"),
            "timings": m.get("timings") or {},
            "cpu_seconds": self.stats.get("cpu_seconds") or {},
            "has_stats": os.path.exists(os.path.join(self.out_dir, "stats.json")),
        }

    def _funnel(self) -> dict:
        rows = sec.funnel_rows(
            self.acc,
            (self.stats.get("tokens") or {}).get("written"),
            sec.sampled_out_tokens(self.stats.get("sampling") or {}),
        )
        bars = [r for r in rows if not r.get("total")]
        trimmed = sec.trimmed_row(self.acc)
        if trimmed:
            rows.insert(len(rows) - 2, trimmed)  # before sampled out and written
        img = plots.hbar(
            self._img("funnel"),
            [r["stage"] for r in bars],
            [r["docs"] for r in bars],
            [plots.COLORS[r["place"]] for r in bars],
            "Documents by stage",
            "documents (log scale)",
            self.cfg.image_dpi,
            log=True,
        )
        read_bytes = (self.acc.get("bytes") or {}).get("read")
        return {
            "rows": rows,
            "img": self._rel(img),
            "bytes_total": sec.byte_total(rows),
            "bytes_read": read_bytes,
        }

    def _sources(self) -> dict | None:
        rows = sec.source_rows(self.acc, self.corpus.get("sources") or {})
        if not rows:
            return None
        places = ("written", "sampled_out", "removed", "rejected", "dead_letter")
        img = plots.stacked_sources(
            self._img("sources"),
            [r["source"] for r in rows],
            {p: [r[p] for r in rows] for p in places},
            "Where each source's documents ended",
            self.cfg.image_dpi,
        )
        return {"rows": rows, "img": self._rel(img)}

    def _lengths(self) -> list[dict]:
        lengths = self.corpus.get("lengths") or {}
        out = []
        for key, unit in (("chars", "characters"), ("tokens", "tokens")):
            s = lengths.get(key)
            if not s or not s.get("count"):
                continue
            h = s.get("histogram") or {}
            q = s.get("quantiles") or {}
            s = {**s, "quantiles": _shown_quantiles(q)}
            img = plots.histogram(
                self._img(f"length_{key}"),
                h.get("edges", []),
                h.get("counts", []),
                f"Document length ({unit})",
                f"{unit} per document (log scale)",
                self.cfg.image_dpi,
                log_x=True,
                markers={"median": q.get("0.5")},
            )
            out.append(
                {
                    "name": unit,
                    "summary": s,
                    "img": self._rel(img),
                    "rel": lengths.get("relative_error"),
                }
            )
        return out

    def _scores(self) -> dict:
        """Unit scores (quality, toxicity) first; raw scorer features apart (often many).

        A unit score the quality stage summarised is drawn over every scored document, kept vs
        rejected, with its threshold; the table below stays the written corpus's quantiles."""
        qs = self.stats.get("quality_summary") or {}
        outcomes = qs.get("score_outcomes") or {}
        edges_all = qs.get("toxicity_histogram_edges") or []
        out: dict[str, list] = {"unit": [], "features": []}
        for name, s in sorted((self.corpus.get("scores") or {}).items()):
            h = s.get("histogram") or {}
            edges = h.get("edges") or []
            log_x = len(edges) > 1 and edges[0] > 0 and edges[-1] > 100 * edges[0]
            threshold = self.thresholds.get(name)
            markers = {"threshold": threshold} if threshold is not None else {}
            split = outcomes.get(name) or {}
            if split and len(edges_all) == len(split.get("kept", [])) + 1:
                img = plots.outcome_histogram(
                    self._img(f"score_{name}"),
                    edges_all,
                    split["kept"],
                    split.get("rejected") or [0] * len(split["kept"]),
                    f"Score: {name}, every scored document",
                    name,
                    self.cfg.image_dpi,
                    markers=markers,
                )
                view = {"kept": sum(split["kept"]), "rejected": sum(split.get("rejected") or [])}
            else:
                img = plots.histogram(
                    self._img(f"score_{name}"),
                    edges,
                    h.get("counts", []),
                    f"{'Score' if s.get('kind') != 'log' else 'Feature'}: {name} (written)",
                    name,
                    self.cfg.image_dpi,
                    log_x=log_x,
                    markers={**markers, "mean": s.get("mean")},
                )
                view = None
            shown = {**s, "quantiles": _shown_quantiles(s.get("quantiles") or {})}
            group = "features" if s.get("kind") == "log" else "unit"
            out[group].append(
                {
                    "name": name,
                    "summary": shown,
                    "img": self._rel(img),
                    "threshold": threshold,
                    "outcomes": view,
                }
            )
        return out

    def _tokens(self) -> dict | None:
        tf = self.corpus.get("token_frequencies") or {}
        if not tf.get("top"):
            return None
        tok_path = os.path.join(
            self.out_dir,
            (self.manifest.get("tokenizer") or {}).get("path") or "tokenizer/tokenizer.json",
        )
        rows = sec.token_rows(tf["top"], tok_path, self.cfg.top_tokens)
        total = tf.get("total") or 1
        for r in rows:
            r["share"] = r["count"] / total
        labels = [f"{r['text'] or r['id']}" for r in rows]
        img = plots.hbar(
            self._img("top_tokens"),
            labels,
            [r["count"] for r in rows],
            None,
            f"Top {len(rows)} tokens",
            "occurrences",
            self.cfg.image_dpi,
        )
        return {
            "rows": rows,
            "img": self._rel(img),
            "meta": {k: v for k, v in tf.items() if k != "top"},
        }

    def _ngrams(self) -> dict | None:
        ng = self.corpus.get("ngrams") or {}
        exact = self.stats.get("ngrams_exact")  # optional exact top list [[ngram, count], ...]
        top = exact if exact else ng.get("top") or []
        if not top:
            return {"rows": [], "meta": ng} if ng else None
        rows = [
            {"rank": i, "ngram": g, "count": c}
            for i, (g, c) in enumerate(top[: self.cfg.top_ngrams], 1)
        ]
        img = plots.hbar(
            self._img("top_ngrams"),
            [r["ngram"] for r in rows],
            [r["count"] for r in rows],
            None,
            f"Top word {ng.get('n', '')}-grams",
            "occurrences",
            self.cfg.image_dpi,
        )
        meta = {k: v for k, v in ng.items() if k != "top"}
        return {
            "rows": rows,
            "img": self._rel(img),
            "meta": meta,
            "exact": bool(exact),
            "distinct": self.corpus.get("distinct") or {},
        }

    def _dedup(self) -> list[dict]:
        return stage_sections.dedup(self.stats, self._img, self.cfg.image_dpi)

    def _decontamination(self) -> dict | None:
        return stage_sections.decontamination(self.stats, self.manifest)

    def _quality(self) -> dict | None:
        return stage_sections.quality(self.stats, self._img, self.cfg.image_dpi)

    def _policies(self) -> dict | None:
        """Decisions per source under its policy, then the scorers' own sections."""
        out = {
            "decisions": model_sections.decisions(self.stats, self.manifest),
            "scorers": model_sections.scorer_sections(
                self.stats, self.manifest, self._img, self.cfg.image_dpi
            ),
        }
        return out if any(out.values()) else None

    def _sampling(self) -> dict | None:
        return stage_sections.sampling(self.stats, self._img, self.cfg.image_dpi)

    def _examples(self) -> list[dict]:
        c = self.cfg
        return sec.drop_examples(
            self.out_dir, self.acc, c.examples_per_reason, c.example_chars, c.max_reasons
        )

    def _validation(self) -> dict:
        return stage_sections.validation(self.out_dir, self.manifest, self._run()["verdict"])


def score_thresholds(manifest: dict, stats: dict) -> dict[str, float]:
    """The cut-off of each unit score that has one, as the scorers declared it in the summary
    (`Scorer.report_thresholds`)."""
    found = (stats.get("quality_summary") or {}).get("score_thresholds") or {}
    return {k: v for k, v in found.items() if isinstance(v, (int, float))}


def _shown_quantiles(q: dict) -> dict:
    """The quantiles a table has room for (all of them when they are few)."""
    keep = ("0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99")
    return {k: v for k, v in q.items() if k in keep} if len(q) > len(keep) else q
