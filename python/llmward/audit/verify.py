"""Verification of one or more audit files (a rotated set in order): says which file,
line and sequence number break the chain and how."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from llmward.audit.canonical import GENESIS, canonical, record_hash
from llmward.audit.chain import FORMAT_VERSION, MAX_LINE_BYTES, Head
from llmward.audit.events import KINDS
from llmward.audit.files import log_files
from llmward.audit.personal import check_clear

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        return where + (f" (seq {self.seq})" if self.seq is not None else "") + f": {self.message}"


@dataclass
class VerifyReport:
    files: list[str] = field(default_factory=list)
    records: int = 0
    redacted: int = 0  # records whose clear personal values were removed (pseudonymized)
    head: Head | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.records > 0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "files": self.files, "records": self.records,
                "redacted": self.redacted,
                "last_seq": self.head.seq if self.head else None,
                "last_hash": self.head.hash if self.head else None,
                "problems": [{"file": p.file, "line": p.line, "seq": p.seq,
                              "message": p.message} for p in self.problems]}


def expand(paths: Sequence[Path]) -> list[Path]:
    """Files as given; a directory stands for its audit files, oldest first."""
    out: list[Path] = []
    for path in paths:
        out.extend(log_files(path) if path.is_dir() else [path])
    return out


def _lines(f: BinaryIO) -> Any:
    """(line number, bytes, complete) with each line bounded to MAX_LINE_BYTES."""
    number = 0
    while True:
        line = f.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES:
            while line and not line.endswith(b"\n"):  # skip the rest of the over-long line
                line = f.readline(MAX_LINE_BYTES + 1)
            yield number, None, True
            continue
        yield number, line, line.endswith(b"\n")


def _shape_error(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    if record.get("v") != FORMAT_VERSION:
        return f"unknown format version {record.get('v')!r}"
    seq = record.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        return "seq is not a non-negative integer"
    for name in ("prev", "hash"):
        if not isinstance(record.get(name), str) or not _HEX64.match(record[name]):
            return f"{name} is not a SHA-256 hex digest"
    if record.get("kind") not in KINDS:
        return f"unknown kind {record.get('kind')!r}"
    if not isinstance(record.get("time"), str) or not isinstance(record.get("data"), dict):
        return "time or data missing"
    return None


class _Verifier:
    def __init__(self, partial: bool) -> None:
        self.partial = partial
        self.report = VerifyReport()
        self.previous_file: str | None = None
        self.last: tuple[int, str, str, int] | None = None  # seq, hash, file, line

    def problem(self, file: str, line: int | None, seq: int | None, message: str) -> None:
        self.report.problems.append(Problem(file, line, seq, message))

    def file(self, path: Path) -> None:
        name = path.name
        self.report.files.append(str(path))
        try:
            with path.open("rb") as f:
                count = 0
                for number, line, complete in _lines(f):
                    count += 1
                    if line is None:
                        self.problem(name, number, None, f"line longer than {MAX_LINE_BYTES} "
                                     "bytes")
                    elif not complete:
                        self.problem(name, number, None, f"incomplete last line ({len(line)} "
                                     "bytes, no newline): torn write or truncated file")
                    else:
                        self.line(name, number, line, first=count == 1)
        except OSError as error:
            self.problem(name, None, None, f"cannot read: {error.strerror or error}")
            return
        if count == 0:
            self.problem(name, None, None, "empty file (no file_start record)")
        self.previous_file = name

    def line(self, name: str, number: int, line: bytes, *, first: bool) -> None:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # nesting deep enough to exhaust the stack
            self.problem(name, number, None, "not valid JSON")
            return
        shape = _shape_error(record)
        if shape:
            self.problem(name, number, None, shape)
            return
        seq: int = record["seq"]
        try:
            encoded, digest = canonical(record), record_hash(record)
        except ValueError:  # NaN, an infinite number or a lone surrogate: no writer's output
            self.problem(name, number, seq, "holds a value no record can (NaN, Infinity or a "
                         "lone UTF-16 surrogate): the line was edited")
            return
        issues = []
        if encoded + b"\n" != line:
            issues.append("not in canonical form (the line was edited)")
        if digest != record["hash"]:
            issues.append("hash does not match the record's content (the record was edited)")
        clear = check_clear(record)
        if clear:
            issues.append(clear)
        issues.extend(self.links(name, record, first))
        for issue in issues:
            self.problem(name, number, seq, issue)
        self.report.records += 1
        sealed, clear_values = record.get("sealed", {}), record.get("clear")
        if not isinstance(clear_values, dict):  # reported by check_clear when malformed
            clear_values = {}
        if isinstance(sealed, dict) and set(sealed) - set(clear_values):
            self.report.redacted += 1
        self.last = (seq, record["hash"], name, number)
        self.report.head = Head(seq, record["hash"])

    def links(self, name: str, record: dict[str, Any], first: bool) -> list[str]:
        seq, prev, kind = record["seq"], record["prev"], record["kind"]
        issues = []
        if first != (kind == "file_start"):
            issues.append("a file must start with a file_start record, and only there")
        if first and kind == "file_start":
            named = record["data"].get("previous_file")
            if self.previous_file is not None and named != self.previous_file:
                issues.append(f"file follows {self.previous_file} but names {named!r} as its "
                              "predecessor (a file was removed or the files reordered)")
            if self.previous_file is None and named is not None and not self.partial:
                issues.append(f"names {named!r} as its predecessor, which was not given "
                              "(pass it too, or --partial)")
        if self.last is None:
            if not self.partial and (seq != 0 or prev != GENESIS):
                issues.append("the log does not begin at seq 0 (earlier records missing; "
                              "--partial verifies from here)")
            return issues
        last_seq, last_hash, last_file, last_line = self.last
        if seq != last_seq + 1:
            if seq <= last_seq:
                issues.append(f"seq {seq} after seq {last_seq}: records reordered or inserted")
            else:
                issues.append(f"seq {seq} after seq {last_seq}: {seq - last_seq - 1} "
                              "record(s) missing")
        if prev != last_hash:
            issues.append(f"prev does not match the hash of the preceding record "
                          f"({last_file}:{last_line}, seq {last_seq})")
        return issues


def verify(paths: Sequence[Path], *, partial: bool = False,
           anchor: Head | None = None) -> VerifyReport:
    """Verify the files in order as one chain.

    `partial` accepts a chain that starts mid-log (older files deleted by retention).
    `anchor` is a (seq, hash) recorded elsewhere earlier (e.g. shipped to monitoring):
    the only way to detect whole records cut from the end of the newest file.
    """
    verifier = _Verifier(partial)
    files = expand(paths)
    for path in files:
        verifier.file(path)
    report = verifier.report
    if not files:
        report.problems.append(Problem("-", None, None, "no audit files given or found"))
    if anchor is not None:
        _check_anchor(files, report, anchor)
    return report


def _check_anchor(files: list[Path], report: VerifyReport, anchor: Head) -> None:
    head = report.head
    if head is None or head.seq < anchor.seq:
        report.problems.append(Problem(files[-1].name if files else "-", None, anchor.seq,
                                       "the log ends before the anchor record: truncated"))
        return
    for path in files:
        with path.open("rb") as f:
            for _, line, _ in _lines(f):
                try:
                    record = json.loads(line) if line else None
                except (ValueError, RecursionError):
                    continue
                if isinstance(record, dict) and record.get("seq") == anchor.seq:
                    if record.get("hash") != anchor.hash:
                        report.problems.append(Problem(path.name, None, anchor.seq,
                                                       "record differs from the anchor"))
                    return
    report.problems.append(Problem("-", None, anchor.seq, "anchor record not found"))
