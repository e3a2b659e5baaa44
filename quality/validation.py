"""The validation gate: a Great Expectations suite over a finished run's shards and manifest.

`validate_output(out_dir, manifest, cfg)` returns the verdict stored as manifest["validation"]:
`{"success": bool, "expectations": [{name, success, observed, ...}], "data_docs": path, ...}`.
The training stage refuses a manifest whose verdict is not a success (unless forced).

What is checked, and on which rows (see gx_suite.build_suites for the list):

- exact, over every row, from per-shard aggregates computed with Arrow (memory: one shard at a
  time, memory-mapped): shard readable, rows/tokens/sha256 match the manifest, no null id,
  n_tokens bounds, token ids in [0, vocab), score columns in range, toxicity mean;
- exact, on the manifest: the accounting reconciles overall and per source, written == rows;
- of a budgeted run (when the caller passes its `SamplingOutcome`, quality/sampling_gate.py):
  each source's token share within `sampling.mixture_tolerance` of its mixture target, and the
  written tokens at least `sampling.min_budget_fill` of the budget; a failure carries the numbers
  (`detail`);
- on a bounded, evenly spaced sample of each shard (`sample_rows_per_shard`): ids unique, no two
  identical texts (xxh64 of the text, or of the token ids when shards carry no text), n_tokens ==
  len(input_ids). Duplicates are found only when both copies are sampled: exact for shards
  smaller than the sample size, an estimate above.

Bad data never raises: an unreadable shard or a GX failure is a failed verdict with the reason.
A run without shards gets one failed check, `shards_written`, instead of the suite. Local shards
are memory-mapped; shards elsewhere (a remote output) are read one at a time through the
`open_shard` callable the caller passes (this package does not import Beam's filesystems).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from quality.report_config import ValidationConfig
from quality.sampling_gate import SamplingOutcome

DATA_DOCS = "validation/data_docs"
REQUIRED = ("id", "source", "input_ids", "n_tokens")
NON_SCORE = {"id", "source", "input_ids", "n_tokens", "dedup_cluster", "text"}


ShardOpener = Callable[[str], IO[bytes]]


def validate_output(
    out_dir: str,
    manifest: dict,
    cfg: ValidationConfig,
    shard_root: str | None = None,
    open_shard: ShardOpener | None = None,
    sampling: SamplingOutcome | None = None,
) -> dict:
    """Runs the suite on a finished run and returns the verdict (never raises).

    Args:
        out_dir: the local output folder; Data Docs are written under it.
        manifest: the run's manifest (shard paths are relative to the output).
        cfg: the gate's settings.
        shard_root: where the shards live when not under `out_dir` (e.g. a gs:// output).
        open_shard: opens `shard_root/<path>` for reading (needed for a non-local `shard_root`).
        sampling: the budget and mixture asked and what was written (None: not budgeted).
    """
    t0 = time.perf_counter()
    verdict: dict[str, Any] = {"success": False, "expectations": [], "data_docs": None}
    if not (manifest.get("shards") or manifest.get("eval_shards")):
        return _no_shards(verdict, t0)
    try:
        reader = _ShardReader(shard_root or out_dir, open_shard)
        frames, info = collect_frames(out_dir, manifest, cfg, reader)
        verdict.update(info)
        frames.update(sampling_frames(sampling))
        from quality.gx_suite import build_suites, run_suites

        docs_dir = os.path.join(out_dir, DATA_DOCS) if cfg.data_docs else None
        if docs_dir:
            shutil.rmtree(docs_dir, ignore_errors=True)  # no stale results of an earlier run
        suites = build_suites(
            cfg, info["vocab_size"], info["score_columns"], info["toxicity_rows"] > 0, sampling
        )
        verdict["expectations"] = _with_details(run_suites(frames, suites, docs_dir), sampling)
        verdict["success"] = bool(verdict["expectations"]) and all(
            e["success"] for e in verdict["expectations"]
        )
        if docs_dir and os.path.exists(os.path.join(docs_dir, "index.html")):
            verdict["data_docs_pages"] = _suite_pages(docs_dir, suites)
            make_offline(docs_dir, verdict["data_docs_pages"], verdict["expectations"])
            verdict["data_docs"] = f"{DATA_DOCS}/index.html"
        import great_expectations

        verdict["engine"] = f"great_expectations {great_expectations.__version__}"
    except Exception as exc:  # the gate reports; it must not take the run down with it
        verdict["error"] = f"{type(exc).__name__}: {exc}"
    verdict["failed"] = [e["name"] for e in verdict["expectations"] if not e["success"]]
    verdict["seconds"] = round(time.perf_counter() - t0, 3)
    return verdict


def sampling_frames(sampling: SamplingOutcome | None) -> dict:
    """The `mixture` frame (a row per target source) and the `budget` frame (one row)."""
    import pandas as pd

    if sampling is None:
        return {}
    frames = {}
    if sampling.targets:
        got = sampling.shares()
        frames["mixture"] = pd.DataFrame(
            [
                {
                    "source": s,
                    "target_share": t,
                    "achieved_share": got[s],
                    "share_off": abs(got[s] - t),
                }
                for s, t in sampling.targets.items()
            ]
        )
    if sampling.token_budget:
        frames["budget"] = pd.DataFrame(
            [
                {
                    "token_budget": sampling.token_budget,
                    "written_tokens": sampling.written_tokens,
                    "budget_fill": sampling.budget_fill(),
                }
            ]
        )
    return frames


def _with_details(results: list[dict], sampling: SamplingOutcome | None) -> list[dict]:
    """A failed sampling check says what was asked and what was written, in one line."""
    for entry in results:
        if entry["success"] or sampling is None:
            continue
        if entry["name"] == "mixture_within_tolerance":
            entry["detail"] = sampling.mixture_message()
        elif entry["name"] == "budget_filled":
            entry["detail"] = sampling.budget_message()
    return results


def _no_shards(verdict: dict, t0: float) -> dict:
    """One failed check instead of every expectation failing on empty frames."""
    check = {
        "name": "shards_written",
        "success": False,
        "observed": {"shards": 0},
        "description": "The run wrote at least one shard (no shards: nothing else to check).",
        "expectation": "curate_shards_written",
        "frame": "manifest",
        "kwargs": {},
    }
    verdict.update(expectations=[check], failed=["shards_written"], shards_checked=0)
    verdict["seconds"] = round(time.perf_counter() - t0, 3)
    return verdict


class _ShardReader:
    """Opens shards under `root`: memory-mapped when local, else through `open_shard`."""

    def __init__(self, root: str, open_shard: ShardOpener | None) -> None:
        self.root, self.open_shard = root, open_shard

    def path(self, rel: str) -> str:
        if self.open_shard is None:
            return os.path.join(self.root, rel)
        return self.root.rstrip("/") + "/" + rel

    def table(self, path: str) -> pa.Table:
        if self.open_shard is None:
            return pa.ipc.open_stream(pa.memory_map(path)).read_all()
        with self.open_shard(path) as fh:  # one shard in memory at a time
            return pa.ipc.open_stream(pa.py_buffer(fh.read())).read_all()

    def sha256(self, path: str) -> str:
        h = hashlib.sha256()
        with self.open_shard(path) if self.open_shard else open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()


OFFLINE_CSS = os.path.join(
    os.path.dirname(__file__), "report", "templates", "data_docs_offline.css"
)
_NETWORK_TAG = re.compile(
    r"<script\b[^>]*>.*?</script>|<link\b[^>]*https?://[^>]*>|<img\b[^>]*https?://[^>]*>",
    re.DOTALL | re.IGNORECASE,
)
_NETWORK_HREF = re.compile(r"""\s(?:href|action)=["']https?://[^"']*["']""", re.IGNORECASE)
_FORM = re.compile(r"<form\b.*?</form>", re.DOTALL | re.IGNORECASE)
_FOOTER = re.compile(r"<footer\b.*?</footer>", re.DOTALL | re.IGNORECASE)  # GX's newsletter line
_CSS_URL = re.compile(r"""url\(\s*['"]?https?://[^)]*\)""", re.IGNORECASE)  # inline CSS


def make_offline(docs_dir: str, pages: dict[str, str], checks: list[dict]) -> None:
    """Makes GX's Data Docs read without network: every CDN script, stylesheet, logo and outside
    link is taken out, a local stylesheet (shipped with this package) stands in for Bootstrap and
    Font Awesome, and the index (a script-built table in GX) becomes a static list of the pages.
    Scripts go too: they all need jQuery from a CDN, and the result pages are static HTML."""
    css_dir = os.path.join(docs_dir, "static", "styles")
    os.makedirs(css_dir, exist_ok=True)
    shutil.copyfile(OFFLINE_CSS, os.path.join(css_dir, "curate_offline.css"))
    for path in glob.glob(os.path.join(docs_dir, "**", "*.html"), recursive=True):
        with open(path, encoding="utf-8") as fh:
            html = fh.read()
        html = _NETWORK_HREF.sub("", _FORM.sub("", _NETWORK_TAG.sub("", html)))
        html = _FOOTER.sub("", html)
        html = _CSS_URL.sub("none", html)
        css = os.path.relpath(os.path.join(css_dir, "curate_offline.css"), os.path.dirname(path))
        link = f'<link rel="stylesheet" href="{css.replace(os.sep, "/")}">'
        html = html.replace("</head>", link + "\n</head>", 1)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(html)
    _write_index(docs_dir, pages, checks)


def _write_index(docs_dir: str, pages: dict[str, str], checks: list[dict]) -> None:
    """A static index of the suites' result and expectation pages, with each suite's verdict."""
    from markupsafe import escape

    items = []
    for name, page in sorted(pages.items()):
        mine = [c for c in checks if c.get("frame") == name]
        ok = all(c.get("success") for c in mine)
        icon = (
            '<i class="fas fa-check-circle text-success"></i>'
            if ok
            else ('<i class="fas fa-times text-danger"></i>')
        )
        failed = sum(not c.get("success") for c in mine)
        rel_page = os.path.relpath(page, DATA_DOCS).replace(os.sep, "/")
        suite = f"expectations/curate_{name}.html"
        suite_link = (
            f' · <a href="{escape(suite)}">expectations</a>'
            if os.path.exists(os.path.join(docs_dir, suite))
            else ""
        )
        items.append(
            f'<tr><td>{icon}</td><td><a href="{escape(rel_page)}">{escape(name)}</a>{suite_link}</td>'
            f"<td>{len(mine)} checks, {failed} failed</td></tr>"
        )
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Data Docs: curate validation</title>"
        '<link rel="stylesheet" href="static/styles/curate_offline.css"></head><body>'
        '<nav class="navbar"><b>Great Expectations Data Docs</b>&nbsp;· curate validation</nav>'
        '<div class="container-fluid"><p class="lead">Validation results per suite</p>'
        '<table class="table"><thead><tr><th></th><th>suite</th><th>result</th></tr></thead>'
        f"<tbody>{''.join(items)}</tbody></table></div></body></html>"
    )
    with open(os.path.join(docs_dir, "index.html"), "w", encoding="utf-8") as fh:
        fh.write(html)


def _suite_pages(docs_dir: str, suites: dict) -> dict[str, str]:
    """Each suite's result page, relative to OUT (static HTML: reads fine without network)."""
    pages = {}
    for name in suites:
        found = sorted(
            glob.glob(
                os.path.join(docs_dir, "validations", f"curate_{name}", "**", "*.html"),
                recursive=True,
            )
        )
        if found:
            pages[name] = f"{DATA_DOCS}/{os.path.relpath(found[-1], docs_dir)}"
    return pages


def collect_frames(
    out_dir: str, manifest: dict, cfg: ValidationConfig, reader: _ShardReader | None = None
) -> tuple[dict, dict]:
    """The four pandas frames of the suite, and facts about the run (vocab, score columns)."""
    reader = reader or _ShardReader(out_dir, None)
    import pandas as pd

    entries = list(manifest.get("shards") or []) + list(manifest.get("eval_shards") or [])
    vocab = int((manifest.get("tokenizer") or {}).get("vocab_size") or 0)
    declared = (manifest.get("schema") or {}).get("score_columns") or []
    scores = [c for c in declared if c in cfg.unit_score_columns]
    shard_rows, samples, tox = [], [], [0.0, 0]
    for entry in entries:
        row, sample, found_scores = _check_shard(reader, entry, cfg)
        shard_rows.append(row)
        if sample is not None:
            samples.append(sample)
        for col in found_scores:
            if col not in scores:
                scores.append(col)
        tox[0] += row.pop("_tox_sum", 0.0)
        tox[1] += row.pop("_tox_n", 0)
    for row in shard_rows:  # score columns absent from a shard: NaN, which the bounds ignore
        for col in scores:
            row.setdefault(f"{col}_min", np.nan)
            row.setdefault(f"{col}_max", np.nan)
    sample_cols = ["id", "content_hash", "n_tokens", "input_ids_len", "shard"]
    sample = pd.concat(samples, ignore_index=True) if samples else pd.DataFrame(columns=sample_cols)
    acc = manifest.get("accounting") or {}
    corpus = pd.DataFrame(
        [
            {
                "written_manifest": acc.get("written"),
                "rows_in_shards": sum(r["rows_actual"] or 0 for r in shard_rows),
                "toxicity_mean": tox[0] / tox[1] if tox[1] else np.nan,
            }
        ]
    )
    accounting = pd.DataFrame(
        [_reconcile("total", acc)]
        + [
            _reconcile(f"source {name}", a)
            for name, a in sorted((acc.get("by_source") or {}).items())
        ]
    )
    frames = {
        "shards": pd.DataFrame(shard_rows),
        "sample": sample,
        "corpus": corpus,
        "accounting": accounting,
    }
    if not shard_rows:
        frames["shards"] = pd.DataFrame([{"readable": False, "path": "(no shards in manifest)"}])
    info = {
        "vocab_size": vocab,
        "score_columns": scores,
        "shards_checked": len(shard_rows),
        "sample_rows": len(sample),
        "toxicity_rows": tox[1],
    }
    return frames, info


def _reconcile(scope: str, a: dict) -> dict:
    """read vs the sum of every place a record can end in (a missing key counts as broken)."""
    try:
        accounted = (
            a["written"]
            + a["sampled_out"]
            + sum(sum(a[k].values()) for k in ("dead_letter", "rejected", "removed"))
        )
    except (KeyError, TypeError, AttributeError):
        accounted = -1
    return {
        "scope": scope,
        "read": a.get("read", -2) if isinstance(a, dict) else -2,
        "accounted": accounted,
    }


def _check_shard(reader: _ShardReader, entry: dict, cfg: ValidationConfig):
    """Exact aggregates of one shard (a frame row), its sample (a DataFrame) and its score columns."""
    rel = str(entry.get("path", ""))
    path = reader.path(rel)
    row: dict[str, Any] = {
        "path": rel,
        "readable": False,
        "error": "",
        "rows_manifest": entry.get("rows"),
        "rows_actual": None,
        "tokens_manifest": entry.get("tokens"),
        "tokens_actual": None,
        "sha256_ok": None,
        "id_nulls": None,
        "n_tokens_min": np.nan,
        "n_tokens_max": np.nan,
        "token_id_min": np.nan,
        "token_id_max": np.nan,
    }
    try:
        table = reader.table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row, None, []
    if cfg.check_sha256:
        row["sha256_ok"] = reader.sha256(path) == entry.get("sha256")
    else:
        row["sha256_ok"] = True
    missing = [c for c in REQUIRED if c not in table.column_names]
    row["rows_actual"] = table.num_rows
    if missing:
        row["error"] = f"missing columns {missing}"
        return row, None, []
    row["readable"] = True
    n_tokens = table.column("n_tokens")
    ids = pc.list_flatten(table.column("input_ids"))
    row["tokens_actual"] = int(pc.sum(n_tokens).as_py() or 0)
    row["id_nulls"] = table.column("id").null_count
    row.update(_min_max("n_tokens", n_tokens))
    row.update(_min_max("token_id", ids))
    floats = [
        f.name for f in table.schema if f.name not in NON_SCORE and pa.types.is_floating(f.type)
    ]
    scores = [c for c in floats if c in cfg.unit_score_columns]  # raw features are unbounded
    for col in scores:
        row.update(_min_max(col, table.column(col)))
    if cfg.toxicity_column in floats:
        column = table.column(cfg.toxicity_column)
        row["_tox_sum"] = float(pc.sum(column).as_py() or 0.0)
        row["_tox_n"] = len(column) - column.null_count
    return row, _sample(table, rel, cfg.sample_rows_per_shard), scores


def _min_max(name: str, values) -> dict:
    mm = pc.min_max(values).as_py() if len(values) else {"min": None, "max": None}
    nan = lambda v: np.nan if v is None else v  # noqa: E731
    return {f"{name}_min": nan(mm["min"]), f"{name}_max": nan(mm["max"])}


def _sample(table: pa.Table, rel: str, k: int):
    """Evenly spaced rows (deterministic) with the derived columns the sample suite checks."""
    n = table.num_rows
    idx = (
        np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(np.int64))
        if n
        else np.zeros(0, np.int64)
    )
    part = table.take(pa.array(idx, pa.int64()))
    input_ids = part.column("input_ids").combine_chunks()
    text = part.column("text").to_pylist() if "text" in part.column_names else [None] * len(idx)
    return (
        part.select(["id", "n_tokens"])
        .to_pandas()
        .assign(
            input_ids_len=pc.list_value_length(input_ids)
            .fill_null(0)
            .to_numpy(zero_copy_only=False),
            content_hash=content_hashes(text, input_ids),
            shard=rel,
        )
    )


def content_hashes(text: list[str | None], input_ids: pa.ListArray) -> list[str]:
    """xxh64 of each text, or of the row's int32 token ids when its text is absent."""
    offsets = input_ids.offsets.to_numpy()
    values = input_ids.values.to_numpy(zero_copy_only=False).astype(np.int32)  # offsets index it
    out = []
    for i, t in enumerate(text):
        if t is not None:
            out.append(f"{xxhash.xxh64_intdigest(t.encode('utf-8', 'surrogatepass')):016x}")
        else:
            ids = values[offsets[i] : offsets[i + 1]]
            out.append(f"ids:{xxhash.xxh64_intdigest(ids.tobytes(), 1):016x}")
    return out
