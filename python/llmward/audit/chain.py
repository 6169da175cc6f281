"""The synchronous chain appender: crash recovery on open, hashing, rotation.

Used by one thread at a time (AuditLog's writer thread, or a CLI command) and holding
the directory lock for its lifetime, so a second appender fails instead of forking the chain.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmward.audit.canonical import GENESIS, canonical, record_hash
from llmward.audit.events import Event, utc_time
from llmward.audit.files import (
    create_private,
    directory_lock,
    file_index,
    file_name,
    fsync_dir,
    log_files,
)
from llmward.audit.personal import seal

FORMAT_VERSION = 1
MAX_LINE_BYTES = 256 * 1024  # records are bounded well below this (events.py)
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024


class AuditLogCorrupt(RuntimeError):
    """The log's last complete record is not a valid record: appending would hide it."""


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


def build_record(seq: int, prev: str, event: Event) -> dict[str, Any]:
    record: dict[str, Any] = {"v": FORMAT_VERSION, "seq": seq, "prev": prev,
                              "time": event.time, "kind": event.kind, "data": dict(event.data)}
    if event.personal:
        record["sealed"], record["clear"] = seal(event.personal)
    record["hash"] = record_hash(record)
    return record


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _last_line(path: Path) -> bytes | None:
    """The file's last complete line (the file must end with a newline), or None if empty."""
    size = path.stat().st_size
    if size == 0:
        return None
    with path.open("rb") as f:
        start = max(0, size - MAX_LINE_BYTES - 1)
        f.seek(start)
        tail = f.read()
    body = tail[:-1]
    cut = body.rfind(b"\n")
    if cut < 0 and start > 0:
        raise AuditLogCorrupt(f"{path}: last record longer than {MAX_LINE_BYTES} bytes")
    return body[cut + 1:]


def _head_of(path: Path) -> Head | None:
    line = _last_line(path)
    if line is None:
        return None
    try:
        record = json.loads(line)
        seq, stored = record["seq"], record["hash"]
        # canonical() refuses what no writer produces (NaN, a lone surrogate): ValueError.
        intact = canonical(record) == line and record_hash(record) == stored
    except (ValueError, TypeError, KeyError, RecursionError) as error:
        raise AuditLogCorrupt(f"{path}: last record is not a valid record") from error
    if not isinstance(seq, int) or not intact:
        raise AuditLogCorrupt(f"{path}: last record fails its own hash; run `llmward audit "
                              "verify` and keep the file as evidence")
    return Head(seq, stored)


def _truncate_torn_tail(path: Path) -> int:
    """Cut an incomplete last line (a write torn by a crash); return the bytes removed."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("r+b") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        pos = size
        keep = 0
        while pos > 0:  # scan back for the last newline
            step = min(65536, pos)
            pos -= step
            f.seek(pos)
            cut = f.read(step).rfind(b"\n")
            if cut >= 0:
                keep = pos + cut + 1
                break
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return size - keep


def _index(path: Path) -> int:
    index = file_index(path)
    if index is None:
        raise ValueError(f"{path}: not an audit file name")
    return index


class ChainWriter:
    """Appends records to <directory>/audit-NNNNNN.jsonl, continuing the existing chain."""

    def __init__(self, directory: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES):
        if max_file_bytes < 4096:
            raise ValueError("max_file_bytes must be at least 4096")
        self.directory = directory
        self.max_file_bytes = max_file_bytes
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(directory_lock(directory))
        self._fd = -1
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise

    # -- opening and recovery -------------------------------------------------------------
    def _open(self) -> None:
        files = log_files(self.directory)
        if not files:
            self._start_file(1, None, Head(-1, GENESIS))
            return
        current = files[-1]
        torn = _truncate_torn_tail(current)
        head = _head_of(current)
        index = _index(current)
        if head is None:  # the file's only (file_start) record was torn, or it was empty
            previous = files[-2] if len(files) > 1 else None
            prev_head = _head_of(previous) if previous else None
            current.unlink()
            self._start_file(index, previous, prev_head or Head(-1, GENESIS))
        else:
            self._fd = os.open(current, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            self._path, self._head = current, head
            self._size = current.stat().st_size
            self._records_in_file = 2  # a continued file may rotate on its next record
        if torn:
            self._append_record(Event("recovery", utc_time(), {
                "file": current.name, "truncated_bytes": torn,
                "reason": "incomplete last line from an interrupted write"}))

    def _start_file(self, index: int, previous: Path | None, head: Head) -> None:
        path = self.directory / file_name(index)
        self._fd = create_private(path)
        fsync_dir(self.directory)
        self._path, self._head, self._size, self._records_in_file = path, head, 0, 0
        data: dict[str, object] = {"previous_file": previous.name if previous else None}
        if previous is not None:
            data["previous_seq"] = head.seq
        self._append_record(Event("file_start", utc_time(), data))

    # -- appending ------------------------------------------------------------------------
    @property
    def head(self) -> Head:
        """The last record written: its sequence number and hash."""
        return self._head

    @property
    def path(self) -> Path:
        return self._path

    def append(self, event: Event) -> int:
        """Write one record (to the OS, not yet fsynced); return its sequence number."""
        line, head = self._encode(event)
        if self._records_in_file > 1 and self._size + len(line) > self.max_file_bytes:
            self._rotate()
            line, head = self._encode(event)
        self._write(line, head)
        return head.seq

    def _append_record(self, event: Event) -> None:
        self._write(*self._encode(event))

    def _encode(self, event: Event) -> tuple[bytes, Head]:
        record = build_record(self._head.seq + 1, self._head.hash, event)
        line = canonical(record) + b"\n"
        if len(line) > MAX_LINE_BYTES:
            raise ValueError(f"audit record of {len(line)} bytes exceeds {MAX_LINE_BYTES}")
        return line, Head(record["seq"], record["hash"])

    def _write(self, line: bytes, head: Head) -> None:
        try:
            _write_all(self._fd, line)
        except OSError:
            # A half-written line (disk full) would have the next record glued to it.
            os.ftruncate(self._fd, self._size)
            raise
        self._head = head
        self._size += len(line)
        self._records_in_file += 1

    def _rotate(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)
        previous = self._path
        self._start_file(_index(previous) + 1, previous, self._head)

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1
                self._stack.close()

    def __enter__(self) -> ChainWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
