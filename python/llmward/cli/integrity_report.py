"""Output shared by `manifest verify` and `verify`: one report shape, in text or JSON,
and the mapping from integrity errors to CLI errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llmward.cli import EXIT_INTEGRITY, EXIT_OK, CliError
from llmward.cli.progress import ProgressBar
from llmward.integrity.errors import FormatError
from llmward.integrity.tree_check import TreeReport
from llmward.paths import data_dir


def tree_report_dict(report: TreeReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "matched": len(report.matched),
        "cached": report.cached,
        "mismatched": [{"path": m.path, "algorithm": m.algorithm, "expected": m.expected,
                        "actual": m.actual} for m in report.mismatched],
        "missing": report.missing,
        "extra": report.extra,
        "extra_allowed": report.extra_allowed,
        "cache_disabled": report.cache_disabled,
    }


def emit_tree_report(report: TreeReport, *, as_json: bool, context: dict[str, Any]) -> int:
    """Print the report (with `context` fields first in JSON); return the exit code."""
    if report.cache_disabled:
        print(f"llmward: warning: verify cache not used: {report.cache_disabled}",
              file=sys.stderr)
    if as_json:
        print(json.dumps({**context, **tree_report_dict(report)}, indent=2))
        return EXIT_OK if report.ok else EXIT_INTEGRITY
    for m in report.mismatched:
        print(f"MISMATCH {m.path}: {m.algorithm} expected {m.expected}, actual {m.actual}")
    for name in report.missing:
        print(f"MISSING  {name}")
    for name in report.extra:
        print(f"EXTRA    {name}" + (" (allowed)" if report.extra_allowed else ""))
    counted = len(report.matched) + len(report.mismatched) + len(report.missing)
    if report.ok:
        cached = (f" ({report.cached} unchanged since they last matched, not re-read)"
                  if report.cached else "")
        print(f"OK: {len(report.matched)} files match{cached}")
        return EXIT_OK
    print(f"FAILED: {len(report.mismatched)} mismatched, {len(report.missing)} missing, "
          f"{len(report.extra)} extra, of {counted} recorded files")
    return EXIT_INTEGRITY


def emit_failure(message: str, *, as_json: bool, context: dict[str, Any]) -> int:
    """An integrity failure before any file was compared (bad or missing signature)."""
    if as_json:
        print(json.dumps({**context, "ok": False, "error": message}, indent=2))
    else:
        print(f"FAILED: {message}")
    return EXIT_INTEGRITY


def cache_data_dir(override: str | None) -> Path | None:
    """The data directory for the verify cache; without one, verification still runs,
    only uncached."""
    try:
        return data_dir(override)
    except OSError as error:
        print(f"llmward: warning: verify cache not used: {error}", file=sys.stderr)
        return None


@contextmanager
def input_errors() -> Iterator[None]:
    """Unreadable inputs, malformed keys/bundles/manifests and unknown
    algorithms become `llmward: error:` with exit code 2."""
    try:
        yield
    except (OSError, FormatError, ValueError) as error:
        raise CliError(str(error) or type(error).__name__) from error


@contextmanager
def progress_bar(label: str, disabled: bool) -> Iterator[ProgressBar | None]:
    bar = None if disabled or not sys.stderr.isatty() else ProgressBar(label)
    try:
        yield bar
    finally:
        if bar is not None:
            bar.finish()
