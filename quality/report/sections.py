"""Plain data for each report section, read from the manifest, stats.json and the drop files.

Everything here tolerates missing or partial inputs: a section with nothing to show returns an
empty value and the template leaves it out (or says so).
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
from typing import Any

PLACES = ("dead_letter", "rejected", "removed")


def funnel_rows(
    acc: dict, tokens_written: int | None, tokens_sampled_out: int | None = None
) -> list[dict]:
    """Stages in order: read, each drop reason, sampled out, written; docs, share, bytes, and
    tokens where known (documents are tokenized after the filters and dedup)."""
    read = acc.get("read", 0) or 0
    b = acc.get("bytes") or {}
    rows = [
        {"stage": "read", "place": "read", "docs": read, "bytes": b.get("read"), "tokens": None}
    ]
    for place in PLACES:
        for reason, n in sorted((acc.get(place) or {}).items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append(
                {
                    "stage": f"{place}: {reason}",
                    "place": place,
                    "docs": n,
                    "bytes": None,
                    "tokens": None,
                }
            )
        if acc.get(place):
            rows.append(
                {
                    "stage": f"{place} (total)",
                    "place": place,
                    "docs": sum(acc[place].values()),
                    "bytes": b.get(place),
                    "tokens": None,
                    "total": True,
                }
            )
    rows.append(
        {
            "stage": "sampled_out",
            "place": "sampled_out",
            "docs": acc.get("sampled_out", 0),
            "bytes": b.get("sampled_out"),
            "tokens": tokens_sampled_out,
        }
    )
    rows.append(
        {
            "stage": "written",
            "place": "written",
            "docs": acc.get("written", 0),
            "bytes": b.get("written"),
            "tokens": tokens_written,
        }
    )
    for row in rows:
        row["share"] = row["docs"] / read if read else 0.0
    return rows


def trimmed_row(acc: dict) -> dict | None:
    """Bytes that normalization and boilerplate-line removal took out of documents that went
    on: no documents, but part of where the bytes read went."""
    trimmed = (acc.get("bytes") or {}).get("trimmed")
    if not trimmed:
        return None
    return {
        "stage": "text trimmed (normalization, boilerplate lines, PII redaction)",
        "place": "trimmed",
        "docs": None,
        "share": None,
        "bytes": trimmed,
        "tokens": None,
    }


def byte_total(rows: list[dict]) -> int | None:
    """The bytes of every fate plus trimmed text: equals the read row's when complete."""
    parts = [
        r["bytes"]
        for r in rows
        if r.get("total") or r["place"] in ("sampled_out", "written", "trimmed")
    ]
    return sum(p for p in parts if p) if any(p is not None for p in parts) else None


def sampled_out_bytes(acc: dict) -> None:
    """Older manifests count no bytes for sampled-out documents: they are tokenized - written."""
    for a in (acc, *(acc.get("by_source") or {}).values()):
        b = a.get("bytes")
        if isinstance(b, dict) and not b.get("sampled_out") and "tokenized" in b:
            b["sampled_out"] = b["tokenized"] - b.get("written", 0)


_ABS_PATH = re.compile(r"(?<![\w.~/:])/[^\s:'\"<>,;()]+")  # an absolute path inside a sentence


def shown_path(value: str, out_dir: str) -> str:
    """A path as the page shows it: relative to the output folder, never the machine's absolute
    path (a file elsewhere shows its last two components). Absolute paths inside a longer text
    (e.g. a dead letter's "duplicate of record at /data/a.jsonl:6") are shown the same way."""
    if not isinstance(value, str):
        return value
    if not os.path.isabs(value) or any(c.isspace() for c in value):
        return _ABS_PATH.sub(lambda m: shown_path(m.group(0), out_dir), value)
    root = os.path.abspath(out_dir)
    if value == root or value.startswith(root + os.sep):
        return os.path.relpath(value, root)
    parts = value.rstrip(os.sep).split(os.sep)
    return os.path.join("…", *parts[-2:])


def source_rows(acc: dict, corpus_sources: dict) -> list[dict]:
    """Per source: where its documents ended, and its share of the written documents/tokens."""
    by_source = acc.get("by_source") or {}
    written = sum(a.get("written", 0) for a in by_source.values()) or 1
    tokens_total = sum(s.get("tokens", 0) for s in corpus_sources.values()) or 1
    rows = []
    for name in sorted(set(by_source) | set(corpus_sources)):
        a = by_source.get(name, {})
        c = corpus_sources.get(name, {})
        rows.append(
            {
                "source": name,
                "read": a.get("read", 0),
                **{place: sum((a.get(place) or {}).values()) for place in PLACES},
                "sampled_out": a.get("sampled_out", 0),
                "written": a.get("written", 0),
                "written_share": a.get("written", 0) / written,
                "tokens": c.get("tokens"),
                "token_share": (c.get("tokens") or 0) / tokens_total,
                "mb_written": (a.get("bytes") or {}).get("written", 0) / 1e6,
            }
        )
    return rows


def token_rows(top: list, tokenizer_path: str, k: int) -> list[dict]:
    """Top token ids with their decoded text (when the tokenizer file is there) and share."""
    decode = _decoder(tokenizer_path)
    total = sum(c for _, c in top) or 1
    rows = []
    for rank, (token_id, count) in enumerate(top[:k], 1):
        text = decode(token_id) if decode else ""
        rows.append(
            {
                "rank": rank,
                "id": token_id,
                "text": visible(text),
                "count": count,
                "share": count / total,
            }
        )
    return rows


def _decoder(path: str):
    if not os.path.exists(path):
        return None
    try:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(path)
    except Exception:  # a broken tokenizer file only costs the decoded column
        return None
    return lambda i: (
        tok.decode([int(i)], skip_special_tokens=False) or (tok.id_to_token(int(i)) or "")
    )


def visible(text: str) -> str:
    """Shows whitespace in short strings (a token ' ' or '\\n' must not look empty)."""
    return text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥")


def cluster_size_tables(stats: dict) -> dict[str, dict[int, int]]:
    """Every {size: count} histogram under stats["dedup"] (any depth) or stats["dedup_cluster_sizes"]."""
    found: dict[str, dict[int, int]] = {}

    def walk(node: Any, name: str) -> None:
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            label = f"{name} {key}".strip()
            if "cluster_sizes" in str(key) and isinstance(value, dict):
                sizes = _int_histogram(value)
                if sizes:
                    found[label.replace("_", " ")] = sizes
            else:
                walk(value, label)

    walk({"dedup_cluster_sizes": stats.get("dedup_cluster_sizes")}, "")
    walk(stats.get("dedup") or {}, "")
    return found


def _int_histogram(value: dict) -> dict[int, int]:
    out = {}
    for k, v in value.items():
        try:
            out[int(k)] = int(v)
        except (TypeError, ValueError):
            return {}
    return out


def drop_examples(
    out_dir: str, acc: dict, per_reason: int, max_chars: int, max_reasons: int
) -> list[dict]:
    """A few documents per drop reason from rejected/, removed/ and dead_letter/ (truncated)."""
    groups = []
    for place, key, text_key in (
        ("rejected", "reason", "text"),
        ("removed", "stage", "text"),
        ("dead_letter", "reason", "raw"),
    ):
        counts = acc.get(place) or {}
        wanted = sorted(counts, key=lambda r: (-counts[r], r))[:max_reasons]
        found: dict[str, list[dict]] = {r: [] for r in wanted}
        if per_reason > 0 and wanted:
            for row in _read_jsonl(os.path.join(out_dir, place)):
                items = found.get(str(row.get(key)))
                if items is None or len(items) >= per_reason:
                    continue
                items.append(_example(row, text_key, max_chars, out_dir))
                if all(len(v) >= per_reason for v in found.values()):
                    break
        groups.extend(
            {"place": place, "reason": r, "count": counts[r], "examples": found[r]} for r in wanted
        )
    return groups


def _example(row: dict, text_key: str, max_chars: int, out_dir: str = "") -> dict:
    text = str(row.get(text_key) or "")
    meta = {
        k: shown_path(v, out_dir)
        for k, v in row.items()
        if k not in ("text", "raw") and v not in (None, "")
    }
    return {"text": text[:max_chars], "truncated": len(text) > max_chars, "meta": meta}


def _read_jsonl(folder: str, max_lines: int = 200_000):
    """Rows of folder/*.jsonl[.gz] in file-name order; unreadable lines are skipped."""
    files = sorted(
        glob.glob(os.path.join(folder, "*.jsonl")) + glob.glob(os.path.join(folder, "*.jsonl.gz"))
    )
    seen = 0
    for path in files:
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    seen += 1
                    if seen > max_lines:
                        return
                    try:
                        row = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(row, dict):
                        yield row
        except (OSError, EOFError):
            continue


def split_quality_summary(summary: dict) -> dict[str, dict]:
    """Groups quality_summary keys into toxicity / bias / PII / other, whatever keys exist."""
    groups: dict[str, dict] = {"toxicity": {}, "bias": {}, "pii": {}, "other": {}}
    for key, value in (summary or {}).items():
        low = str(key).lower()
        group = next((g for g in ("toxic", "bias", "pii") if g in low), "other")
        groups[{"toxic": "toxicity"}.get(group, group)][key] = value
    return {k: v for k, v in groups.items() if v}


SERIES_PAIRS = (
    ("target_tokens", "selected_tokens", "tokens"),
    ("target", "achieved", "share"),
    ("eligible_tokens", "selected_tokens", "tokens"),
)


def sampling_series(sampling: dict) -> tuple[str, list[str], dict[str, list[float]]] | None:
    """Per-source target vs achieved from any {source: {...}} table in the sampling summary."""
    tables = [
        v
        for v in (sampling or {}).values()
        if isinstance(v, dict) and v and all(isinstance(r, dict) for r in v.values())
    ]
    for a, b, unit in SERIES_PAIRS:
        for rows in tables:
            if all(a in r and b in r for r in rows.values()):
                names = sorted(rows)
                return (
                    unit,
                    names,
                    {
                        a: [as_number(rows[n][a]) for n in names],
                        b: [as_number(rows[n][b]) for n in names],
                    },
                )
    return None


def weight_quantiles(sampling: dict) -> tuple[str, dict[str, dict[float, float]]] | None:
    """Quantile curves of the sampling weights of kept vs dropped documents, if reported."""
    for key, value in (sampling or {}).items():
        if "weight" in str(key) and isinstance(value, dict) and value:
            curves = {}
            for name, qs in value.items():
                if isinstance(qs, dict):
                    qs = qs.get("quantiles", qs)
                    points = {
                        _quantile_of(k): as_number(v)
                        for k, v in qs.items()
                        if _quantile_of(k) is not None
                    }
                    if points:
                        curves[str(name)] = dict(sorted(points.items()))
            if curves:
                return str(key), curves
    return None


def _quantile_of(key: Any) -> float | None:
    """ "q25" -> 0.25, "0.5" -> 0.5; None for other keys."""
    text = str(key)
    try:
        return int(text[1:]) / 100 if text.startswith("q") else float(text)
    except ValueError:
        return None


def sampled_out_tokens(sampling: dict) -> int | None:
    """Tokens of the candidates the sampler did not select, when its summary says."""
    try:
        return int(sampling["candidates"]["tokens"]) - int(sampling["selected"]["tokens"])
    except (KeyError, TypeError, ValueError):
        return None


def as_number(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0
