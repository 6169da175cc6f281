"""Pseudonymization (retention) and erasure: remove clear personal values from records
without touching anything the chain hashes.

Each changed record loses `clear[name]` (value and salt) and gains
`redacted = {"at", "fields", "reason"}`; neither field is covered by the record hash (see
canonical.UNHASHED), so the hash, the `prev` links and the `sealed` commitments are
unchanged and `llmward audit verify` still passes. Files are rewritten atomically (a
0600 temporary file, fsync, rename, fsync of the directory) under the writer lock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from llmward.audit.canonical import canonical
from llmward.audit.events import parse_time, utc_time
from llmward.audit.files import create_private, directory_lock, fsync_dir, log_files

Selector = Callable[[dict[str, Any]], bool]


def pseudonymize(path: Path, older_than: timedelta, *, now: datetime | None = None) -> int:
    """Remove the clear personal values (user id, client address, prompt) of every record
    older than `older_than`; return how many records changed."""
    cutoff = (now or datetime.now(timezone.utc)) - older_than

    def old(record: dict[str, Any]) -> bool:
        try:
            return parse_time(record["time"]) < cutoff
        except (KeyError, TypeError, ValueError):
            return False  # a record we cannot date is left for verify to report
    return redact(path, old, reason="retention", now=now)


def erase_user(path: Path, user: str, *, now: datetime | None = None) -> int:
    """Remove the clear personal values of every record about `user` (GDPR erasure)."""
    def about(record: dict[str, Any]) -> bool:
        entry = record.get("clear", {}).get("user")
        return isinstance(entry, dict) and entry.get("value") == user
    return redact(path, about, reason="erasure", now=now)


def redact(path: Path, select: Selector, *, reason: str, now: datetime | None = None) -> int:
    """Apply to `path` (an audit directory, or one file in it) under the writer lock."""
    directory = path if path.is_dir() else path.parent
    files = log_files(path) if path.is_dir() else [path]
    stamp = utc_time(now)
    changed = 0
    with directory_lock(directory):
        for file in files:
            changed += _redact_file(file, select, reason, stamp)
    return changed


def _redact_file(path: Path, select: Selector, reason: str, stamp: str) -> int:
    out: list[bytes] = []
    changed = 0
    with path.open("rb") as f:
        for line in f:
            new = _redact_line(line, select, reason, stamp) if line.endswith(b"\n") else None
            out.append(line if new is None else new)
            changed += new is not None
    if changed:
        _replace(path, b"".join(out))
    return changed


def _redact_line(line: bytes, select: Selector, reason: str, stamp: str) -> bytes | None:
    """The rewritten line, or None to keep the line byte for byte."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("clear"), dict):
        return None
    if not record["clear"] or not select(record):
        return None
    removed = set(record.pop("clear"))
    earlier = record.get("redacted", {}).get("fields", []) if isinstance(
        record.get("redacted"), dict) else []
    # Only names: a tampered list may hold anything (unhashable, unorderable items).
    earlier_names = {name for name in earlier if isinstance(name, str)} if isinstance(
        earlier, list) else set()
    record["redacted"] = {"at": stamp, "fields": sorted(removed | earlier_names),
                          "reason": reason}
    try:
        return canonical(record) + b"\n"
    except ValueError:  # NaN or a lone surrogate: not a record a writer made; verify reports it
        return None


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # left by an interrupted earlier run
    fd = create_private(tmp)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
