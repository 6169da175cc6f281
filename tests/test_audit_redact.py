"""Pseudonymization (retention) and erasure remove clear personal values, say so in the
records, rewrite files atomically, and leave the chain verifying."""

from __future__ import annotations

import json
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmward.audit import (
    AuditLogBusy,
    ChainWriter,
    api_request,
    auth_failure,
    erase_user,
    pseudonymize,
    verify,
)

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def write(directory: Path) -> None:
    with ChainWriter(directory, max_file_bytes=4096) as writer:
        for day, user in [
            (200, "alice"),
            (120, "bob"),
            (95, "alice"),
            (10, "alice"),
            (5, "bob"),
            (1, "carol"),
        ] * 4:
            writer.append(
                api_request(
                    request_id=f"{user}-{day}",
                    method="GET",
                    path="/x",
                    status=200,
                    latency_us=1,
                    user=user,
                    client="192.0.2.7",
                    when=NOW - timedelta(days=day),
                )
            )
        writer.append(
            auth_failure(
                reason="unknown key",
                method="GET",
                path="/x",
                client="198.51.100.9",
                when=NOW - timedelta(days=300),
            )
        )


def all_records(directory: Path) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for p in sorted(directory.glob("audit-*.jsonl"))
        for line in p.read_bytes().splitlines()
    ]


def test_pseudonymize_old_records(tmp_path: Path) -> None:
    write(tmp_path)
    before = verify([tmp_path])
    assert before.ok and len(before.files) > 1
    changed = pseudonymize(tmp_path, timedelta(days=90), now=NOW)
    assert changed == 13  # 3 old requests x 4 rounds + the old auth failure
    report = verify([tmp_path])
    assert report.ok, report.problems
    assert report.redacted == 13 and report.head == before.head  # same hashes, same chain
    for record in all_records(tmp_path):
        if record["kind"] == "file_start":
            continue
        age = NOW - datetime.strptime(str(record["time"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=timezone.utc
        )
        if age > timedelta(days=90):
            assert "clear" not in record
            assert record["redacted"] == {
                "at": "2026-06-01T00:00:00.000000Z",
                "fields": sorted(record["sealed"]),  # type: ignore
                "reason": "retention",
            }
        else:
            assert "clear" in record and "redacted" not in record
    for path in tmp_path.glob("audit-*.jsonl"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".*.tmp"))
    assert pseudonymize(tmp_path, timedelta(days=90), now=NOW) == 0  # idempotent


def test_clear_ids_are_gone_from_the_bytes(tmp_path: Path) -> None:
    with ChainWriter(tmp_path) as writer:
        writer.append(
            api_request(
                request_id="r",
                method="GET",
                path="/",
                status=200,
                latency_us=1,
                user="erin@example.com",
                client="203.0.113.5",
                when=NOW - timedelta(days=365),
            )
        )
    pseudonymize(tmp_path, timedelta(days=30), now=NOW)
    data = b"".join(p.read_bytes() for p in tmp_path.glob("audit-*.jsonl"))
    assert b"erin@example.com" not in data and b"203.0.113.5" not in data
    assert verify([tmp_path]).ok


def test_erase_user(tmp_path: Path) -> None:
    write(tmp_path)
    changed = erase_user(tmp_path, "alice", now=NOW)
    assert changed == 12
    report = verify([tmp_path])
    assert report.ok and report.redacted == 12
    data = b"".join(p.read_bytes() for p in tmp_path.glob("audit-*.jsonl"))
    assert b'"value":"alice"' not in data and b'"value":"bob"' in data
    reasons = {
        r["redacted"]["reason"]
        for r in all_records(tmp_path)  # type: ignore[index]
        if "redacted" in r
    }
    assert reasons == {"erasure"}


def test_commitment_survives_and_still_binds(tmp_path: Path) -> None:
    """Removing clear values is allowed; changing the sealed commitment is not."""
    write(tmp_path)
    pseudonymize(tmp_path, timedelta(days=90), now=NOW)
    first = sorted(tmp_path.glob("audit-*.jsonl"))[0]
    lines = first.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[1])
    assert "clear" not in record
    record["sealed"]["user"] = "0" * 64
    lines[1] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    first.write_bytes(b"".join(lines))
    problems = verify([tmp_path]).problems
    assert [(p.line, p.seq) for p in problems] == [(2, 1)]


def test_refused_while_a_writer_holds_the_log(tmp_path: Path) -> None:
    write(tmp_path)
    with ChainWriter(tmp_path), pytest.raises(AuditLogBusy):
        pseudonymize(tmp_path, timedelta(days=90), now=NOW)


def test_a_torn_line_is_left_for_recovery(tmp_path: Path) -> None:
    write(tmp_path)
    last = sorted(tmp_path.glob("audit-*.jsonl"))[-1]
    with last.open("ab") as f:
        f.write(b'{"partial')
    pseudonymize(tmp_path, timedelta(days=1), now=NOW + timedelta(days=400))
    assert last.read_bytes().endswith(b'{"partial')
    ChainWriter(tmp_path).close()
    assert verify([tmp_path]).ok
