"""`summarize(out_dir)`: the plain-text summary `curate report OUT` prints.

Reads OUT/manifest.json (and OUT/stats.json when present); never needs the shards.
"""

from __future__ import annotations

import json
import os
from typing import Any

from quality.report.sections import funnel_rows, sampled_out_tokens, source_rows
from quality.sampling_gate import sampling_outcome

# A source that loses more than this share of the documents it read to one filter rule gets a
# note at the end of the run (often a policy meant for another kind of text).
RULE_LOSS_NOTE = 0.5


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    return "\n".join(
        [fmt(cells[0]), "  ".join("-" * w for w in widths), *(fmt(r) for r in cells[1:])]
    )


def _n(x: Any) -> str:
    return "" if x is None else f"{x:,}"


def _load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def summarize(out_dir: str) -> str:
    """Funnel, per-source table, shards, validation verdict and paths of a finished run."""
    manifest = _load(os.path.join(out_dir, "manifest.json"))
    if not manifest:
        return f"{out_dir}: no readable manifest.json (has the run finished?)"
    stats = _load(os.path.join(out_dir, manifest.get("stats") or "stats.json"))
    return summarize_manifest(manifest, stats, out_dir)


def summarize_manifest(manifest: dict, stats: dict, out_dir: str) -> str:
    """The same summary from an already loaded manifest and stats (remote outputs included)."""
    acc = manifest.get("accounting") or {}
    shards, evals = manifest.get("shards") or [], manifest.get("eval_shards") or []
    tokens = sum(s.get("tokens", 0) for s in shards)
    name = manifest.get("name") or (manifest.get("config") or {}).get("run", {}).get("name", "")
    parts = [
        f"curate run '{name}'  ({manifest.get('code_version', '?')})  {os.path.abspath(out_dir)}"
    ]

    rows = funnel_rows(
        acc,
        (stats.get("tokens") or {}).get("written", tokens),
        sampled_out_tokens(stats.get("sampling") or {}),
    )
    parts.append(
        _table(
            ["stage", "documents", "% read", "MB", "tokens"],
            [
                [
                    ("  " if ":" in r["stage"] else "") + r["stage"],
                    _n(r["docs"]),
                    f"{100 * r['share']:.1f}",
                    f"{r['bytes'] / 1e6:,.2f}" if r["bytes"] else "",
                    _n(r["tokens"]),
                ]
                for r in rows
            ],
        )
    )
    sources = source_rows(acc, (stats.get("corpus") or {}).get("sources") or {})
    if sources:
        parts.append(
            _table(
                [
                    "source",
                    "read",
                    "dead",
                    "rejected",
                    "removed",
                    "sampled_out",
                    "written",
                    "tokens",
                    "% tokens",
                ],
                [
                    [
                        r["source"],
                        _n(r["read"]),
                        _n(r["dead_letter"]),
                        _n(r["rejected"]),
                        _n(r["removed"]),
                        _n(r["sampled_out"]),
                        _n(r["written"]),
                        _n(r["tokens"]),
                        f"{100 * r['token_share']:.1f}",
                    ]
                    for r in sources
                ],
            )
        )
    line = f"shards: {len(shards)} train ({tokens:,} tokens, {sum(s.get('rows', 0) for s in shards):,} rows)"
    if evals:
        line += f", {len(evals)} eval ({sum(s.get('tokens', 0) for s in evals):,} tokens)"
    parts.append(line)
    tok = manifest.get("tokenizer") or {}
    if tok:
        parts.append(
            f"tokenizer: vocab {tok.get('vocab_size')}, eos {tok.get('eos_id')}, sha256 {str(tok.get('sha256', ''))[:12]}"
        )
    accounting = "ok" if manifest.get("accounting_ok", True) else "MISMATCH"
    parts.append(f"accounting: {accounting}   " + _verdict(manifest.get("validation") or {}))
    t = manifest.get("timings")
    if t:
        # command_s: the whole `curate run` (set by the CLI); total_s: the run as the manifest has it
        seconds = t.get("command_s", t.get("total_s", 0))
        mb, total = ((acc.get("bytes") or {}).get("read", 0)) / 1e6, max(seconds, 1e-9)
        parts.append(
            f"time: {seconds:.1f}s total ({t['prepare_s']:.1f}s prepare, {t['pipeline_s']:.1f}s pipeline), "
            f"{mb / total:.2f} MB/s, {acc.get('read', 0) / total:,.0f} docs/s read"
        )
    paths = [f"manifest: {os.path.join(out_dir, 'manifest.json')}"]
    for label, rel in (
        ("stats", manifest.get("stats")),
        ("report", manifest.get("report") or "report/index.html"),
        ("data docs", (manifest.get("validation") or {}).get("data_docs")),
    ):
        if rel and ("://" in out_dir or os.path.exists(os.path.join(out_dir, rel))):
            paths.append(f"{label}: {os.path.join(out_dir, rel)}")
    parts.append("\n".join(paths))
    return "\n\n".join(parts)


def _verdict(v: dict) -> str:
    if v.get("success") is None:
        return "validation: skipped"
    if v.get("success"):
        return f"validation: PASSED ({len(v.get('expectations') or [])} checks)"
    lines = ["validation: FAILED" + (f" ({v['error']})" if v.get("error") else "")]
    for e in v.get("expectations") or []:
        if not e.get("success"):
            obs = e.get("observed") or {}
            where = f" in {', '.join(obs['where'])}" if obs.get("where") else ""
            said = (
                e.get("detail")
                or e.get("error")
                or json.dumps({k: v for k, v in obs.items() if k != "where"})
            )
            lines.append(f"  - {e.get('name')}: {said}{where}")
    return "\n".join(lines)


def end_of_run_notes(manifest: dict, stats: dict, config_notes: list[str] | None = None) -> str:
    """The lines `curate run` prints last: what the run asked for and did not get.

    One line each: a missed token budget or source mixture (with the numbers), a source that
    lost most of its documents to one rule, decontamination that removed more than
    `dedup.decontamination.warn_fraction` of the input (a warning), and the config notes of loading (per-source
    settings that `--input` dropped). Empty when there is nothing to say.
    """
    notes = [f"note: {m}" for m in _sampling_misses(manifest, stats)]
    by_source = (manifest.get("accounting") or {}).get("by_source") or {}
    for source, acc in sorted(by_source.items()):
        read = acc.get("read") or 0
        rejected = acc.get("rejected") or {}
        if not read or not isinstance(rejected, dict) or not rejected:
            continue
        rule, n = max(sorted(rejected.items()), key=lambda kv: kv[1])
        if n / read > RULE_LOSS_NOTE:
            notes.append(
                f"note: source {source!r} lost {100 * n / read:.1f}% of its documents "
                f"({n:,} of {read:,}) to rule {rule!r}"
            )
    warning = _decontamination_warning(manifest)
    if warning:
        notes.append(warning)
    notes += [n if n.startswith("note:") else f"note: {n}" for n in config_notes or []]
    return "\n".join(notes)


DECONTAM_WARN_DEFAULT = 0.05  # dedup.decontamination.warn_fraction's default


def decontamination_share(accounting: dict, config: dict) -> dict | None:
    """The share of the documents read that decontamination removed, overall and per source.

    None when the run has no eval sets. `warn` lists the scopes ("all" or a source name) above
    `dedup.decontamination.warn_fraction`: real contamination is rare, a large share usually
    means shared boilerplate is being matched.
    """
    dc = ((config or {}).get("dedup") or {}).get("decontamination") or {}
    if not dc.get("eval_sets"):
        return None
    limit = float(dc.get("warn_fraction", DECONTAM_WARN_DEFAULT))

    def share(acc: dict) -> dict:
        read = int(acc.get("read") or 0)
        removed = int((acc.get("removed") or {}).get("decontamination", 0))
        return {
            "read": read,
            "removed": removed,
            "share": round(removed / read, 6) if read else 0.0,
        }

    out = {"action": dc.get("action", "flag"), "warn_fraction": limit, **share(accounting)}
    out["by_source"] = {s: share(a) for s, a in sorted((accounting.get("by_source") or {}).items())}
    scopes = [("all", out)] + list(out["by_source"].items())
    out["warn"] = [name for name, x in scopes if x["share"] > limit]
    return out


def _decontamination_warning(manifest: dict) -> str | None:
    share = manifest.get("decontamination")
    if not isinstance(share, dict) or not share.get("warn"):
        return None
    sources = ", ".join(
        f"{s!r} {100 * x['share']:.1f}%"
        for s, x in share["by_source"].items()
        if s in share["warn"]
    )
    return (
        f"warning: decontamination removed {100 * share['share']:.1f}% of the documents read "
        f"({share['removed']:,} of {share['read']:,}{'; ' + sources if sources else ''}), above "
        f"dedup.decontamination.warn_fraction ({100 * share['warn_fraction']:g}%): real "
        "contamination is rare, so shared boilerplate may be matched (see removed/ and "
        "min_passage_words, common_docs, eval_common in the decontamination config)"
    )


def _sampling_misses(manifest: dict, stats: dict) -> list[str]:
    outcome = sampling_outcome(manifest, stats)
    return outcome.misses() if outcome is not None else []
