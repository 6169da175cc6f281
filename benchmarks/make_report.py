"""Builds the benchmark report: REPORT.md with the side-by-side tables and PNG plots, from
the JSON files the benchmarks wrote (see report_data.py).

    .venv/bin/python benchmarks/make_report.py [--data DIR] [--out DIR] [--require a,b,...]

--data defaults to benchmarks/results/data, --out to benchmarks/results (REPORT.md, and
the plots in plots/). --require names benchmarks whose results must be present: a
benchmark that broke before writing its file then fails the build instead of vanishing
from the report. Exit status 1, with the reason, on missing or malformed results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import report_data

# The report's order; benchmarks not named here follow, alphabetically.
ORDER = ("scanner", "guard", "hash", "ratelimit", "keys", "audit", "cache", "engine",
         "serving")
ROOT = Path(__file__).resolve().parent.parent


class ReportError(Exception):
    """Results that cannot make a report (missing, malformed, wrong schema)."""


# --- reading ---------------------------------------------------------------------------


def load(directory: Path) -> list[dict[str, Any]]:
    if not directory.is_dir():
        raise ReportError(f"no results directory {directory}: run the benchmarks first")
    documents = []
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ReportError(f"{path}: unreadable: {error}") from error
        if not isinstance(document, dict) or document.get("schema") != report_data.SCHEMA:
            raise ReportError(f"{path}: not a schema {report_data.SCHEMA} benchmark result")
        for key in ("benchmark", "title", "tables", "plots"):
            if key not in document:
                raise ReportError(f"{path}: no {key!r}")
        for table in document["tables"]:
            check_table(path, table)
        documents.append(document)
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(documents, key=lambda d: (rank.get(d["benchmark"], len(ORDER)),
                                            d["benchmark"]))


def check_table(path: Path, table: dict[str, Any]) -> None:
    """What report_data.table() refuses, for files written some other way."""
    if not isinstance(table, dict) or not {"title", "columns", "rows"} <= table.keys():
        raise ReportError(f"{path}: a table needs a title, columns and rows")
    keys = {c["key"] for c in table["columns"]}
    reference, ratio_column = table.get("reference"), table.get("ratio_column")
    if ratio_column is not None and ratio_column not in keys:
        raise ReportError(f"{path}: ratio column {ratio_column!r} is not a column")
    if reference is not None and reference not in {r["name"] for r in table["rows"]}:
        raise ReportError(f"{path}: reference row {reference!r} is not in its table")


# --- figures ---------------------------------------------------------------------------


def ratio(table: dict[str, Any], row: dict[str, Any]) -> float | None:
    """row's ratio_column value over the reference row's; None where either is missing."""
    key, reference = table.get("ratio_column"), table.get("reference")
    if key is None or reference is None:
        return None
    base = next(r for r in table["rows"] if r["name"] == reference)["values"].get(key)
    value = row["values"].get(key)
    if value is None or not base:
        return None
    return float(value) / float(base)


def number(value: float | None) -> str:
    """Three significant figures or so, thousands separated; a dash for no figure."""
    if value is None:
        return "–"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def times(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.2f}x" if value >= 0.01 else \
        f"{value:.2g}x"


# --- Markdown --------------------------------------------------------------------------


def markdown_table(table: dict[str, Any]) -> list[str]:
    columns = table["columns"]
    has_ratio = table.get("ratio_column") is not None and table.get("reference") is not None
    header = ["approach", *(f"{c['label']} ({c['unit']})" for c in columns)]
    if has_ratio:
        label = next(c["label"] for c in columns if c["key"] == table["ratio_column"])
        header.append(f"{label} vs {table['reference']}")
    lines = [f"**{table['title']}**", "",
             "| " + " | ".join(header) + " |",
             "|---" + "|---:" * (len(header) - 1) + "|"]
    for row in table["rows"]:
        name = f"**{row['name']}**" if row.get("ours") else row["name"]
        cells = [name, *(number(row["values"].get(c["key"])) for c in columns)]
        if has_ratio:
            cells.append(times(ratio(table, row)))
        lines.append("| " + " | ".join(cells) + " |")
    for name, reason in table.get("skipped", {}).items():
        lines.append(f"| {name} | skipped: {reason} |" + " |" * (len(header) - 2))
    lines.append("")
    better = {c["label"]: c["better"] for c in columns}
    lines.append("Bold: llmward. " + "; ".join(f"{label}: {how} is better"
                                                for label, how in better.items()) + ".")
    lines += [f"- {note}" for note in table.get("notes", [])]
    return [*lines, ""]


def machine() -> dict[str, str]:
    """What the report's figures were measured on, read when the report is made."""
    info = {"cpu": platform.processor() or platform.machine(), "cores": str(os.cpu_count()),
            "system": platform.platform(), "python": platform.python_version()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            info["cpu"] = line.split(":", 1)[1].strip()
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            info["simd"] = ", ".join(f for f in ("sse4_2", "avx2", "avx512f", "sha_ni")
                                     if f in flags) or "none of sse4_2/avx2/avx512f/sha_ni"
            break
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory"] = f"{pages / 2**30:.1f} GiB"
    except (ValueError, OSError):
        pass
    return info


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
    try:
        head = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{head}{' with uncommitted changes' if dirty else ''}"


def render(documents: Sequence[dict[str, Any]], plots: dict[str, list[tuple[Path, str]]],
           out: Path) -> str:
    lines = ["# llmward benchmark report", ""]
    if any(d.get("smoke") for d in documents):
        lines += ["> **Smoke run** (`make bench-smoke`): every benchmark at its smallest size,",
                  "> to prove the code works. These figures are not measurements.", ""]
    lines += [f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
              f"- commit: {commit()}"]
    lines += [f"- {key}: {value}" for key, value in machine().items()]
    lines += ["", "Each benchmark runs its peers side by side in one run, on this machine; "
              "the ratio column divides a row's figure by the named reference row's. "
              "Peers that could not run are listed as skipped, with the reason.", ""]
    lines += ["Contents: " + ", ".join(f"[{d['title']}](#{anchor(d['title'])})"
                                       for d in documents), ""]
    for document in documents:
        lines += [f"## {document['title']}", "",
                  f"From `{document['benchmark']}.json`, measured "
                  f"{document.get('written_at', '?')}"
                  + (" (smoke run)" if document.get("smoke") else ""), ""]
        lines += [*(f"- {note}" for note in document.get("notes", [])), ""] \
            if document.get("notes") else []
        for table in document["tables"]:
            lines += markdown_table(table)
        for path, title in plots.get(document["benchmark"], []):
            lines += [f"![{title}]({path.relative_to(out).as_posix()})", ""]
    return "\n".join(lines).rstrip() + "\n"


def anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def build(data: Path, out: Path, require: Sequence[str] = ()) -> Path:
    documents = load(data)
    missing = sorted(set(require) - {d["benchmark"] for d in documents})
    if missing:
        raise ReportError(f"no results from {', '.join(missing)} in {data}: "
                          "did the benchmark fail before writing them?")
    if not documents:
        raise ReportError(f"no benchmark results in {data}")
    from report_plots import draw_all  # matplotlib loads only once there is something to draw

    out.mkdir(parents=True, exist_ok=True)
    plots = draw_all(documents, out / "plots")
    report = out / "REPORT.md"
    report.write_text(render(documents, plots, out))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=report_data.DEFAULT_DIR)
    parser.add_argument("--out", type=Path, default=report_data.DEFAULT_DIR.parent)
    parser.add_argument("--require", default="", metavar="NAME,...",
                        help="benchmarks whose results must be there")
    args = parser.parse_args(argv)
    try:
        report = build(args.data, args.out, [n for n in args.require.split(",") if n])
    except ReportError as error:
        print(f"make_report: {error}", file=sys.stderr)
        return 1
    print(f"report written to {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
