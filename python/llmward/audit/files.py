"""Where audit files live, how they are named and ordered, created (0600 in a 0700
directory) and locked (one writer per directory)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path

from llmward import private_files
from llmward.paths import data_dir

FILE_RE = re.compile(r"^audit-(\d{6,})\.jsonl$")
LOCK_NAME = ".lock"


class AuditLogBusy(RuntimeError):
    """Another process (or AuditLog) holds the directory's writer lock."""


def audit_dir(override: str | Path | None = None) -> Path:
    """The audit directory: `override`, else <data dir>/audit; created 0700."""
    path = Path(override) if override else data_dir() / "audit"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)  # mkdir does not narrow a directory that already existed
    return path


def file_name(index: int) -> str:
    return f"audit-{index:06d}.jsonl"


def file_index(path: Path) -> int | None:
    match = FILE_RE.match(path.name)
    return int(match.group(1)) if match else None


def log_files(directory: Path) -> list[Path]:
    """The directory's audit files, oldest first (by index, not by name or time)."""
    found = [(file_index(p), p) for p in directory.iterdir() if p.is_file()]
    return [p for i, p in sorted((i, p) for i, p in found if i is not None)]


def create_private(path: Path) -> int:
    """A new file, mode 0600, opened for appending; refuses to reuse an existing name."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                   0o600)


fsync_dir = private_files.fsync_dir  # make a created or renamed directory entry durable


@contextlib.contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Exclusive writer lock: two appenders would fork the chain."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise AuditLogBusy(f"{directory}: another writer holds the audit log") from error
        yield
    finally:
        os.close(fd)
