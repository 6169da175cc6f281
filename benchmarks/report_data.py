"""The structured results every benchmark writes for `make_report.py`: one JSON file per
benchmark in `results_dir()`, holding side-by-side tables and plot series.

A table has value columns (each with its unit and whether lower or higher is better) and
one row per approach; the report divides each row's `ratio_column` value by the
`reference` row's (ours, usually), so "3.00x" on a time column means three times as long.
Peers that could not run are listed under `skipped` with the reason, never dropped.

LLMWARD_BENCH_SMOKE=1 asks every benchmark for its smallest run (`make bench-smoke`: the
code paths, not figures); LLMWARD_BENCH_RESULTS names the directory the files go to.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SCHEMA = 1
DEFAULT_DIR = Path(__file__).parent / "results" / "data"
# Percentiles kept for a latency distribution (a CDF plot needs the curve, not 4000 samples).
PERCENTILES = (0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97, 98, 99, 99.5, 99.9, 100)


def smoke() -> bool:
    """True when the run only checks that the benchmark works (sizes as small as possible)."""
    return os.environ.get("LLMWARD_BENCH_SMOKE", "") == "1"


def results_dir() -> Path:
    return Path(os.environ.get("LLMWARD_BENCH_RESULTS") or DEFAULT_DIR)


def column(key: str, label: str, unit: str, better: str = "lower") -> dict[str, str]:
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', not {better!r}")
    return {"key": key, "label": label, "unit": unit, "better": better}


def row(name: str, values: Mapping[str, float | None], ours: bool = False) -> dict[str, Any]:
    """A value of None or NaN means "no figure" (shown as a dash)."""
    return {"name": name, "ours": ours,
            "values": {k: None if v is None or math.isnan(v) else float(v)
                       for k, v in values.items()}}


def table(title: str, columns: Sequence[dict[str, str]], rows: Sequence[dict[str, Any]], *,
          reference: str | None = None, ratio_column: str | None = None,
          skipped: Mapping[str, str] | None = None, notes: Sequence[str] = (),
          plot: bool = True) -> dict[str, Any]:
    """`plot`: also draw `ratio_column` (or the first column) as a bar chart."""
    keys = {c["key"] for c in columns}
    if ratio_column is not None and ratio_column not in keys:
        raise ValueError(f"ratio column {ratio_column!r} is not one of {sorted(keys)}")
    if reference is not None and reference not in {r["name"] for r in rows}:
        raise ValueError(f"reference row {reference!r} is not in the table")
    return {"title": title, "columns": list(columns), "rows": list(rows),
            "reference": reference, "ratio_column": ratio_column,
            "skipped": dict(skipped or {}), "notes": list(notes), "plot": plot}


def percentiles(samples: Sequence[float]) -> dict[str, list[float]]:
    """The distribution's curve at PERCENTILES (nearest rank), for a CDF plot."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    last = len(ordered) - 1
    return {"p": list(PERCENTILES),
            "v": [float(ordered[min(last, int(p / 100 * len(ordered)))]) for p in PERCENTILES]}


def cdf_plot(title: str, unit: str, series: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Latency distributions, one curve per approach, from raw samples."""
    return {"kind": "cdf", "title": title, "unit": unit,
            "series": {name: percentiles(s) for name, s in series.items() if s}}


def line_plot(title: str, x_label: str, y_label: str,
              series: Mapping[str, Mapping[float, float]]) -> dict[str, Any]:
    """y against x (throughput against concurrency), one line per approach."""
    return {"kind": "lines", "title": title, "x_label": x_label, "y_label": y_label,
            "series": {name: {"x": [float(x) for x in sorted(points)],
                              "y": [float(points[x]) for x in sorted(points)]}
                       for name, points in series.items() if points}}


def write(benchmark: str, title: str, tables: Sequence[dict[str, Any]], *,
          plots: Sequence[dict[str, Any]] = (), notes: Sequence[str] = (),
          meta: Mapping[str, Any] | None = None) -> Path:
    """Writes `<results_dir>/<benchmark>.json` (replacing the previous run's) and returns it."""
    directory = results_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{benchmark}.json"
    document = {
        "schema": SCHEMA, "benchmark": benchmark, "title": title, "smoke": smoke(),
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(),
                 "python": platform.python_version()},
        "tables": list(tables), "plots": list(plots), "notes": list(notes),
        "meta": dict(meta or {}),
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    tmp.replace(path)  # a reader never sees half a file
    return path
