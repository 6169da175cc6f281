"""`llmward scan [--secrets | --packs P,...] [--allowlist FILE] PATH...`: the guard's rule
packs over files and directories (a secret-scanning gate for repositories).

Exit codes: 0 nothing found outside the allowlist, 1 findings, 2 usage or input
errors (a bad path or allowlist, or a file or folder that could not be read: the
scan is then incomplete, so it is not reported clean).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmward.cli import EXIT_OK, EXIT_USAGE, CliError
from llmward.filescan import allowlist as allowlist_file
from llmward.filescan.files import DEFAULT_MAX_BYTES, Skipped, check_named, iter_files, read_text
from llmward.filescan.locate import LineIndex, masked_excerpt
from llmward.guard import Guard, GuardConfig
from llmward.guard.config import PACKS
from llmward.guard.packs import default_rules

EXIT_FINDINGS = 1


@dataclass(frozen=True, slots=True)
class FileFinding:
    path: str
    line: int
    column: int
    rule: str
    category: str
    excerpt: str  # masked: never the matched value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scan", help="scan files and directories with the guard's rule packs",
        description="Scan files, and the files under directories, with the guard's rule packs. "
                    "Reports path:line:col, rule and category, never the matched value. "
                    "Directory walks skip VCS, virtualenv, cache and build folders; binary "
                    "and oversize files are skipped with a note.")
    parser.add_argument("paths", nargs="+", metavar="PATH")
    packs = parser.add_mutually_exclusive_group()
    packs.add_argument("--secrets", action="store_true",
                       help="only the secrets pack (the secret.* categories)")
    packs.add_argument("--packs", metavar="P,...",
                       help=f"comma-separated packs (default: all of {','.join(sorted(PACKS))})")
    parser.add_argument("--allowlist", metavar="FILE", type=Path,
                        help="accepted findings: path globs and optional rule ids "
                             "(format: README, 'Security gates')")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
                        help="skip files larger than N bytes (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.max_bytes < 1:
        raise CliError("--max-bytes must be 1 or more")
    packs = _packs(args)
    paths = [Path(p) for p in args.paths]
    try:
        for path in paths:
            check_named(path)
        allowlist = _load_allowlist(args.allowlist) if args.allowlist is not None else None
    except ValueError as error:
        raise CliError(str(error)) from None

    guard = Guard(GuardConfig(packs=packs))
    findings: list[FileFinding] = []
    skipped: list[Skipped] = []
    errors: list[str] = []
    allowlisted = scanned = 0
    for path in iter_files(paths, errors):
        try:
            text = read_text(path, args.max_bytes)
        except OSError as error:
            errors.append(f"{path}: cannot read: {error.strerror}")
            continue
        if isinstance(text, Skipped):
            skipped.append(text)
            continue
        scanned += 1
        hits = guard.scan(text)
        if not hits:
            continue
        lines = LineIndex(text)
        relative = _relative(path, allowlist.base) if allowlist is not None else None
        for hit in sorted(hits, key=lambda h: (h.start, h.end, h.rule)):
            if (allowlist is not None and relative is not None
                    and allowlist.covers(relative, hit.rule, hit.category)):
                allowlisted += 1
                continue
            line, column = lines.line_col(hit.start)
            findings.append(FileFinding(path.as_posix(), line, column, hit.rule, hit.category,
                                        masked_excerpt(text[hit.start:hit.end])))

    unused = allowlist.unused() if allowlist is not None else []
    if args.json:
        print(json.dumps({
            "findings": [_as_dict(f) for f in findings],
            "skipped": [{"path": s.path.as_posix(), "reason": s.reason} for s in skipped],
            "errors": errors,
            "files_scanned": scanned,
            "allowlisted": allowlisted,
            "unused_allowlist_lines": [e.line for e in unused],
        }, indent=2))
    else:
        for f in findings:
            print(f"{f.path}:{f.line}:{f.column} {f.rule} {f.category} {f.excerpt}")
        for s in skipped:
            print(f"llmward scan: note: skipped {s.path.as_posix()} ({s.reason})",
                  file=sys.stderr)
        for e in unused:
            print(f"llmward scan: note: allowlist line {e.line} ({e.glob}) matched nothing",
                  file=sys.stderr)
        for message in errors:
            print(f"llmward: error: {message}", file=sys.stderr)
        print(f"llmward scan: {scanned} files scanned, {len(findings)} findings, "
              f"{allowlisted} allowlisted, {len(skipped)} skipped", file=sys.stderr)
    if errors:
        return EXIT_USAGE
    return EXIT_FINDINGS if findings else EXIT_OK


def _packs(args: argparse.Namespace) -> frozenset[str]:
    if args.secrets:
        return frozenset({"secrets"})
    if args.packs is None:
        return PACKS
    chosen = frozenset(p.strip() for p in args.packs.split(",") if p.strip())
    unknown = chosen - PACKS
    if not chosen or unknown:
        raise CliError(f"--packs: name one or more of {','.join(sorted(PACKS))}")
    return chosen


def _load_allowlist(path: Path) -> allowlist_file.Allowlist:
    """Rule names are checked against every pack's rules, whichever packs this scan runs."""
    names = {name for spec in default_rules() for name in (spec.id, spec.category)}
    return allowlist_file.load(
        path, lambda n: any(x == n or x.startswith(n + ".") for x in names))


def _relative(path: Path, base: Path) -> str | None:
    """`path` relative to `base` with / separators; None when it lies outside."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    if relative == ".." or relative.startswith(".." + os.sep):
        return None
    return Path(relative).as_posix()


def _as_dict(finding: FileFinding) -> dict[str, Any]:
    return {"path": finding.path, "line": finding.line, "column": finding.column,
            "rule": finding.rule, "category": finding.category, "excerpt": finding.excerpt}
