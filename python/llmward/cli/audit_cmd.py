"""`llmward audit verify|pseudonymize`: check the audit hash chain; apply retention."""

from __future__ import annotations

import argparse
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from llmward.audit import AuditLogBusy, Head, pseudonymize, verify
from llmward.audit.files import log_files
from llmward.cli import EXIT_INTEGRITY, EXIT_OK, CliError
from llmward.paths import data_dir

_ANCHOR = re.compile(r"^(\d+):([0-9a-f]{64})$")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="verify or pseudonymize the audit log",
                                   description="The tamper-evident audit log.")
    commands = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    check = commands.add_parser(
        "verify", help="check the hash chain of audit files",
        description="Verify audit files as one chain (a directory stands for its rotated "
                    "files, oldest first). Exit 0 if intact, 1 if tampered with or "
                    "truncated, 2 on a usage or input error.")
    check.add_argument("paths", metavar="FILE|DIR", nargs="*",
                       help="default: the audit directory under the data directory")
    check.add_argument("--data-dir", help="llmward data directory")
    check.add_argument("--partial", action="store_true",
                       help="accept a log that starts mid-chain (older files deleted)")
    check.add_argument("--anchor", metavar="SEQ:HASH",
                       help="a head recorded earlier elsewhere; detects a cut-off tail")
    check.add_argument("--json", action="store_true", help="print a JSON object")
    check.set_defaults(handler=run_verify)

    retain = commands.add_parser(
        "pseudonymize", help="remove clear personal values from old records",
        description="Remove user ids, client addresses and prompts in clear from records "
                    "older than N days; the chain still verifies.")
    retain.add_argument("--older-than", metavar="DAYS", type=int, required=True)
    retain.add_argument("--data-dir", help="llmward data directory")
    retain.add_argument("--dir", help="audit directory (default: <data dir>/audit)")
    retain.add_argument("--json", action="store_true", help="print a JSON object")
    retain.set_defaults(handler=run_pseudonymize)


def _default_dir(override: str | None) -> Path:
    return data_dir(override) / "audit"


def run_verify(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths] or [_default_dir(args.data_dir)]
    for path in paths:
        if not path.exists():
            raise CliError(f"{path}: no such file or directory")
        if path.is_dir() and not log_files(path):
            raise CliError(f"{path}: no audit files (audit-NNNNNN.jsonl) in this directory")
    anchor = None
    if args.anchor:
        match = _ANCHOR.match(args.anchor)
        if not match:
            raise CliError("--anchor must be SEQ:HASH (a 64-digit lowercase hex SHA-256)")
        anchor = Head(int(match.group(1)), match.group(2))
    try:
        report = verify(paths, partial=args.partial, anchor=anchor)
    except OSError as error:
        raise CliError(f"{error.filename}: {error.strerror or error}") from error
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        for problem in report.problems:
            print(f"FAILED {problem}")
        if report.ok and report.head is not None:
            redacted = f", {report.redacted} pseudonymized" if report.redacted else ""
            print(f"OK: {report.records} records in {len(report.files)} file(s){redacted}; "
                  f"head {report.head.seq}:{report.head.hash}")
    return EXIT_OK if report.ok else EXIT_INTEGRITY


def run_pseudonymize(args: argparse.Namespace) -> int:
    if args.older_than < 0:
        raise CliError("--older-than must be 0 or more days")
    directory = Path(args.dir) if args.dir else _default_dir(args.data_dir)
    if not directory.is_dir():
        raise CliError(f"{directory}: no such directory")
    try:
        changed = pseudonymize(directory, timedelta(days=args.older_than))
    except AuditLogBusy as error:
        raise CliError(f"{error} (stop the server, or pseudonymize through it)") from error
    except OSError as error:
        raise CliError(f"{error.filename}: {error.strerror or error}") from error
    if args.json:
        print(json.dumps({"directory": str(directory), "pseudonymized": changed}, indent=2))
    else:
        print(f"pseudonymized {changed} record(s) in {directory}")
    return EXIT_OK
