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


def _flat(value: Any) -> bool:
    return isinstance(value, dict) and all(_scalar(v) for v in value.values())


def render_value(value: Any, depth: int = 0) -> Markup:
    """HTML for any JSON value."""
    if _scalar(value):
        return Markup(f'<span class="v">{escape(fmt(value))}</span>')
    if isinstance(value, list) and all(_scalar(v) for v in value):
        return Markup(escape(", ".join(fmt(v) for v in value[:MAX_ROWS])))
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
    columns: list[str] = []
    for _, record in rows:
        columns.extend(c for c in record if c not in columns)
    head = "<th></th>" + "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join(
        f"<tr><th>{escape(str(k))}</th>"
        + "".join(f'<td class="num">{escape(fmt(record.get(c)))}</td>' for c in columns)
        + "</tr>"
        for k, record in rows[:MAX_ROWS]
    )
    return Markup(
        f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )
