"""Renders JSON of unknown shape as HTML tables (for sections other stages fill in).

Every string is escaped; the result is `Markup`, so Jinja does not escape it twice.
A mapping of scalars is a two-column table; a mapping (or list) of flat mappings is one table
with a column per key; anything deeper nests, up to a depth limit, then falls back to JSON.
"""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup, escape

MAX_ROWS = 60
MAX_LIST = 12  # longer lists of numbers are summarised, not printed


def fmt(value: Any) -> str:
    """Numbers for humans: thousands separators, 4 significant digits for floats."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.4g}"
    return str(value)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _short_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= 4 and all(_scalar(v) for v in value)


def _cell(value: Any) -> bool:
    return _scalar(value) or _short_list(value)


def _flat(value: Any) -> bool:
    """A record: scalar fields, short lists, and sub-records of scalars (shown as a.b columns)."""
    return isinstance(value, dict) and all(
        _cell(v) or (isinstance(v, dict) and all(_cell(x) for x in v.values()))
        for v in value.values()
    )


def _flatten(record: dict) -> dict:
    out = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value)
    return fmt(value)


def render_value(value: Any, depth: int = 0) -> Markup:
    """HTML for any JSON value."""
    if _scalar(value):
        return Markup(f'<span class="v">{escape(fmt(value))}</span>')
    if isinstance(value, list) and all(_scalar(v) for v in value):
        if len(value) > MAX_LIST:
            head = ", ".join(fmt(v) for v in value[:6])
            return Markup(f'<span class="note">{len(value):,} values: {escape(head)}, …</span>')
        return Markup(escape(", ".join(fmt(v) for v in value)))
    if depth >= 4:
        return Markup(f"<pre>{escape(json.dumps(value, indent=1, default=str)[:4000])}</pre>")
    rows = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    if rows and all(_flat(v) for _, v in rows):
        return _record_table(rows)
    body = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{render_value(v, depth + 1)}</td></tr>"
        for k, v in rows[:MAX_ROWS]
    )
    return Markup(f'<table class="kv">{body}</table>')


def _record_table(rows: list[tuple[Any, dict]]) -> Markup:
    """Records as rows, fields as columns; transposed when there are many fields and few
    records (a page is wider than it is tall only so far)."""
    rows = [(k, _flatten(record)) for k, record in rows[:MAX_ROWS]]
    columns: list[str] = []
    for _, record in rows:
        columns.extend(c for c in record if c not in columns)
    if len(columns) > 8 and len(rows) < len(columns):
        head = "<th></th>" + "".join(f'<th class="num">{escape(str(k))}</th>' for k, _ in rows)
        body = "".join(
            f"<tr><th>{escape(str(c))}</th>"
            + "".join(f'<td class="num">{escape(_text(record.get(c)))}</td>' for _, record in rows)
            + "</tr>"
            for c in columns
        )
    else:
        head = "<th></th>" + "".join(f"<th>{escape(str(c))}</th>" for c in columns)
        body = "".join(
            f"<tr><th>{escape(str(k))}</th>"
            + "".join(f'<td class="num">{escape(_text(record.get(c)))}</td>' for c in columns)
            + "</tr>"
            for k, record in rows
        )
    return Markup(
        f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )
