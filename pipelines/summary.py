"""The end-of-run table: documents and bytes per stage and per source, tokens, shards, time."""

from __future__ import annotations

from typing import Any


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f}"


def _rows(acc: dict[str, Any]) -> list[tuple[str, int, int]]:
    b = acc.get("bytes", {})
    rows = [("read", acc["read"], b.get("read", 0))]
    for place in ("dead_letter", "rejected", "removed"):
        for reason, n in sorted(acc[place].items()):
            rows.append((f"  {place}: {reason}", n, 0))
        if acc[place]:
            rows.append((f"{place} (total)", sum(acc[place].values()), b.get(place, 0)))
    rows.append(("sampled_out", acc["sampled_out"], b.get("sampled_out", 0)))
    rows.append(("written", acc["written"], b.get("written", 0)))
    return rows


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]

    def line(r):
        return "  ".join(
            str(x).ljust(w) if i == 0 else str(x).rjust(w)
            for i, (x, w) in enumerate(zip(r, widths, strict=False))
        )

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def summarize_manifest(manifest: dict[str, Any], output: str = "") -> str:
    acc = manifest["accounting"]
    parts = [
        f"curate run '{manifest.get('name', '')}'  ({manifest.get('code_version', '')})  -> {output}"
    ]
    parts.append(
        format_table(
            ["stage", "documents", "MB"],
            [[n, f"{d:,}", _mb(b) if b else ""] for n, d, b in _rows(acc)],
        )
    )
    srcs = sorted(acc["by_source"])
    if srcs:
        rows = []
        for s in srcs:
            a = acc["by_source"][s]
            rows.append(
                [
                    s,
                    f"{a['read']:,}",
                    f"{sum(a['dead_letter'].values()):,}",
                    f"{sum(a['rejected'].values()):,}",
                    f"{sum(a['removed'].values()):,}",
                    f"{a['sampled_out']:,}",
                    f"{a['written']:,}",
                    _mb(a.get("bytes", {}).get("written", 0)),
                ]
            )
        parts.append(
            format_table(
                [
                    "source",
                    "read",
                    "dead",
                    "rejected",
                    "removed",
                    "sampled_out",
                    "written",
                    "MB out",
                ],
                rows,
            )
        )
    shards = manifest.get("shards", [])
    evals = manifest.get("eval_shards", [])
    tokens = sum(s["tokens"] for s in shards)
    parts.append(
        f"shards: {len(shards)} train ({tokens:,} tokens, {sum(s['rows'] for s in shards):,} rows)"
        + (f", {len(evals)} eval ({sum(s['tokens'] for s in evals):,} tokens)" if evals else "")
    )
    tok = manifest.get("tokenizer", {})
    parts.append(
        f"tokenizer: vocab {tok.get('vocab_size')}, eos {tok.get('eos_id')}, sha256 {str(tok.get('sha256', ''))[:12]}"
    )
    v = manifest.get("validation", {})
    verdict = "skipped" if v.get("success") is None else ("PASSED" if v["success"] else "FAILED")
    parts.append(
        f"accounting: {'ok' if manifest.get('accounting_ok') else 'MISMATCH'}   validation: {verdict}"
    )
    t = manifest.get("timings")
    if t:
        mb = acc.get("bytes", {}).get("read", 0) / 1e6
        parts.append(
            f"time: {t['total_s']:.1f}s total ({t['prepare_s']:.1f}s prepare, {t['pipeline_s']:.1f}s pipeline), "
            f"{mb / max(t['total_s'], 1e-9):.2f} MB/s, {acc['read'] / max(t['total_s'], 1e-9):,.0f} docs/s"
        )
    if manifest.get("report"):
        parts.append(f"report: {output}/{manifest['report']}")
    return "\n\n".join(parts)
