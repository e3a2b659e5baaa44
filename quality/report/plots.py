"""The report's charts: matplotlib (Agg backend, no display), saved as PNG files.

Each function draws one figure from plain data and writes it to `path`; the builder links the
files from index.html, so the report folder is self-contained (no CDN, no inline scripts).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on workers or CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

COLORS = {
    "read": "#4c72b0",
    "dead_letter": "#8c8c8c",
    "rejected": "#c44e52",
    "removed": "#dd8452",
    "sampled_out": "#937860",
    "written": "#55a868",
}
PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def _human(x: float, _pos=None) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.4g}"


def _save(fig, path: str, dpi: int) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, format="png")
    plt.close(fig)
    return path


def _save_documents_axes(fig, ax, title: str, xlabel: str, path: str, dpi: int) -> str:
    """The house style of a documents-per-bin chart (title, labels, counts axis), then saved."""
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("documents", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.yaxis.set_major_formatter(FuncFormatter(_human))
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path, dpi)


def hbar(
    path: str,
    labels: Sequence[str],
    values: Sequence[float],
    colors: Sequence[str] | None,
    title: str,
    xlabel: str,
    dpi: int,
    log: bool = False,
) -> str:
    """Horizontal bars, first label on top, value printed at each bar's end."""
    height = max(1.6, 0.28 * len(labels) + 0.9)
    fig, ax = plt.subplots(figsize=(7.2, height))
    pos = list(range(len(labels)))[::-1]
    ax.barh(pos, values, color=colors or PALETTE[0], height=0.7)
    ax.set_yticks(pos, labels=[_clip(label, 42) for label in labels], fontsize=8)
    top = max(values, default=0) or 1
    for p, v in zip(pos, values, strict=True):
        ax.text(v if not log or v > 0 else 1, p, f" {_human(v)}", va="center", fontsize=7)
    if log:
        ax.set_xscale("log")
        ax.set_xlim(left=0.8, right=top * 4)
    else:
        ax.set_xlim(0, top * 1.15)
        ax.xaxis.set_major_formatter(FuncFormatter(_human))
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    _style(ax)
    return _save(fig, path, dpi)


def histogram(
    path: str,
    edges: Sequence[float],
    counts: Sequence[int],
    title: str,
    xlabel: str,
    dpi: int,
    log_x: bool = False,
    markers: dict[str, float] | None = None,
) -> str:
    """A histogram from precomputed bins, with optional vertical quantile markers."""
    fig, ax = plt.subplots(figsize=(5.6, 2.8))
    if counts:
        widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
        ax.bar(
            edges[:-1],
            counts,
            width=widths,
            align="edge",
            color=PALETTE[0],
            edgecolor="white",
            linewidth=0.4,
        )
        if log_x and edges[0] > 0:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(_human))
            ax.xaxis.set_minor_formatter(NullFormatter())
        for i, (name, value) in enumerate(sorted((markers or {}).items(), key=lambda kv: kv[1])):
            if value is not None and (not log_x or value > 0):
                ax.axvline(
                    value,
                    color=PALETTE[3 + i % 3],
                    linestyle="--",
                    linewidth=1,
                    label=f"{name} = {_human(value)}",
                )
        if markers:
            ax.legend(fontsize=7, frameon=False)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    return _save_documents_axes(fig, ax, title, xlabel, path, dpi)


def outcome_histogram(
    path: str,
    edges: Sequence[float],
    kept: Sequence[int],
    rejected: Sequence[int],
    title: str,
    xlabel: str,
    dpi: int,
    markers: dict[str, float] | None = None,
) -> str:
    """Kept and rejected documents stacked per bin, with the score's threshold marked."""
    fig, ax = plt.subplots(figsize=(5.6, 2.8))
    widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
    ax.bar(edges[:-1], kept, width=widths, align="edge", color=COLORS["written"], label="kept")
    ax.bar(
        edges[:-1],
        rejected,
        width=widths,
        align="edge",
        bottom=kept,
        color=COLORS["rejected"],
        label="rejected",
    )
    for name, value in (markers or {}).items():
        if value is not None:
            ax.axvline(value, color="#24292f", linestyle="--", linewidth=1.2)
            ax.text(
                value,
                0.97,
                f" {name} {value:g}",
                transform=ax.get_xaxis_transform(),
                fontsize=7,
                va="top",
            )
    if not markers:
        ax.text(
            0.01,
            0.97,
            "no threshold (ranks, does not cut)",
            transform=ax.transAxes,
            fontsize=7,
            va="top",
            color="#656d76",
        )
    ax.legend(fontsize=7, frameon=False, loc="upper center")
    return _save_documents_axes(fig, ax, title, xlabel, path, dpi)


def stacked_sources(
    path: str, sources: Sequence[str], parts: dict[str, Sequence[int]], title: str, dpi: int
) -> str:
    """One horizontal bar per source, stacked by where its documents ended."""
    fig, ax = plt.subplots(figsize=(7.2, max(1.6, 0.4 * len(sources) + 1.2)))
    pos = list(range(len(sources)))[::-1]
    left = [0] * len(sources)
    for place, values in parts.items():
        ax.barh(
            pos,
            values,
            left=left,
            color=COLORS.get(place, PALETTE[len(left) % 8]),
            label=place,
            height=0.6,
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_yticks(pos, labels=[_clip(s, 30) for s in sources], fontsize=8)
    ax.xaxis.set_major_formatter(FuncFormatter(_human))
    ax.set_xlabel("documents read", fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    _style(ax)
    return _save(fig, path, dpi)


def grouped_bars(
    path: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    title: str,
    ylabel: str,
    dpi: int,
) -> str:
    """Side-by-side bars per label (e.g. target vs achieved share per source)."""
    fig, ax = plt.subplots(figsize=(5.6, 2.8))
    n = max(1, len(series))
    width = 0.8 / n
    for i, (name, values) in enumerate(series.items()):
        ax.bar(
            [j + (i - (n - 1) / 2) * width for j in range(len(labels))],
            values,
            width=width,
            label=name,
            color=PALETTE[i % 8],
        )
    ax.set_xticks(range(len(labels)), labels=[_clip(label, 14) for label in labels], fontsize=8)
    ax.yaxis.set_major_formatter(FuncFormatter(_human))
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=n)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path, dpi)


def curves(
    path: str, series: dict[str, dict[float, float]], title: str, xlabel: str, ylabel: str, dpi: int
) -> str:
    """One line per series (e.g. weight quantiles of kept vs dropped documents)."""
    fig, ax = plt.subplots(figsize=(5.6, 2.8))
    for i, (name, points) in enumerate(series.items()):
        ax.plot(
            list(points),
            list(points.values()),
            marker="o",
            markersize=3,
            label=name,
            color=PALETTE[i % 8],
        )
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path, dpi)


def cluster_sizes(path: str, sizes: dict[int, int], title: str, dpi: int) -> str:
    """Number of clusters per cluster size (log counts: a few huge clusters must stay visible)."""
    fig, ax = plt.subplots(figsize=(5.6, 2.8))
    items = sorted(sizes.items())
    if items:
        ax.bar([str(k) for k, _ in items][:40], [v for _, v in items][:40], color=PALETTE[1])
        if max(v for _, v in items) / max(1, min(v for _, v in items)) > 50:
            ax.set_yscale("log")
    ax.set_xlabel("cluster size (documents)", fontsize=8)
    ax.set_ylabel("clusters", fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path, dpi)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
