"""The report's PNG plots (matplotlib, Agg: no display needed): a bar chart per table, and
the benchmarks' own latency distributions (CDF) and throughput-against-concurrency lines."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: headless CI
import matplotlib.pyplot as plt  # noqa: E402

OURS_COLOR = "#1f6feb"
PEER_COLOR = "#9aa4b1"
LOG_SPAN = 50.0  # a bar chart spanning more than this factor gets a log axis


def draw_all(documents: Sequence[dict[str, Any]],
             directory: Path) -> dict[str, list[tuple[Path, str]]]:
    """Draws every plot into `directory` (its old PNGs removed first, so none is stale);
    returns the files and their titles per benchmark, in order. A plot with nothing to
    draw (every peer skipped) is left out."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.png"):
        old.unlink()
    drawn: dict[str, list[tuple[Path, str]]] = {}
    for document in documents:
        name = document["benchmark"]
        for i, table in enumerate(document["tables"]):
            if table.get("plot", True) and table["rows"]:
                path = directory / f"{name}-{i + 1}-{slug(table['title'])}.png"
                bars(table, path)
                drawn.setdefault(name, []).append((path, table["title"]))
        for plot in document["plots"]:
            if not plot["series"]:
                continue
            path = directory / f"{name}-{plot['kind']}-{slug(plot['title'])}.png"
            if plot["kind"] == "cdf":
                cdf(plot, path)
            elif plot["kind"] == "lines":
                lines(plot, path)
            else:
                raise ValueError(f"{name}: unknown plot kind {plot['kind']!r}")
            drawn.setdefault(name, []).append((path, plot["title"]))
    return drawn


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:48] or "plot"


def bars(table: dict[str, Any], path: Path) -> None:
    """Horizontal bars of the ratio column (or the first), and beside it every other column
    in the same unit (p50 and p99, one file and another), llmward's rows in bold."""
    key = table.get("ratio_column") or table["columns"][0]["key"]
    first = next(c for c in table["columns"] if c["key"] == key)
    columns = [first, *(c for c in table["columns"]
                        if c["key"] != key and c["unit"] == first["unit"])]
    rows = [r for r in table["rows"] if r["values"].get(key) is not None]
    height = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(9, (0.3 + 0.2 * len(columns)) * len(rows) + 1.6))
    values: list[float] = []
    for n, col in enumerate(columns):
        found = [(y, float(r["values"][col["key"]])) for y, r in enumerate(rows)
                 if r["values"].get(col["key"]) is not None]
        ys = [y + (n - (len(columns) - 1) / 2) * height for y, _ in found]
        colors = ([OURS_COLOR if rows[y].get("ours") else PEER_COLOR for y, _ in found]
                  if len(columns) == 1 else f"C{n}")
        ax.barh(ys, [v for _, v in found], height=height, color=colors, label=col["label"])
        for y, (_, v) in zip(ys, found, strict=True):
            label = f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
            ax.annotate(label, (v, y), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=7)
        values += [v for _, v in found]
    ax.set_yticks(range(len(rows)), [r["name"] for r in rows])
    for tick, r in zip(ax.get_yticklabels(), rows, strict=True):
        tick.set_fontweight("bold" if r.get("ours") else "normal")
    ax.invert_yaxis()  # the table's order, top to bottom
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > LOG_SPAN:
        ax.set_xscale("log")
    names = first["label"] if len(columns) == 1 else "value"
    ax.set_xlabel(f"{names} ({first['unit']}, {first['better']} is better; llmward in bold)")
    if len(columns) > 1:
        ax.legend(fontsize=8)
    ax.set_title(table["title"], fontsize=10)
    save(fig, path)


def cdf(plot: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, curve in plot["series"].items():
        ax.plot(curve["v"], curve["p"], marker=".", label=name)
    if all(v > 0 for curve in plot["series"].values() for v in curve["v"]):
        ax.set_xscale("log")
    ax.set_xlabel(plot["unit"])
    ax.set_ylabel("percentile")
    ax.set_title(plot["title"], fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, path)


def lines(plot: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, series in plot["series"].items():
        ax.plot(series["x"], series["y"], marker="o", label=name)
    ax.set_xlabel(plot["x_label"])
    ax.set_ylabel(plot["y_label"])
    ax.set_title(plot["title"], fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, path)


def save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
