"""Administrative CLI commands are recorded in the audit log like the HTTP API's, and refuse
to act (doing nothing) while a running server holds the log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmward import cli
from llmward.audit import ChainWriter, verify
from llmward.audit.files import log_files
from llmward.auth import open_key_store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def admin_records(data: Path) -> list[dict[str, object]]:
    lines = [json.loads(line) for p in log_files(data / "audit")
             for line in p.read_text().splitlines()]
    return [r["data"] for r in lines if r["kind"] == "admin"]


def test_key_create_and_revoke_are_recorded(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d"
    code, out, _ = run(capsys, "keys", "create", "--user", "alice", "--role", "user",
                       "--json", "--data-dir", str(data))
    assert code == 0
    created = json.loads(out)
    assert run(capsys, "keys", "revoke", created["id"], "--data-dir", str(data))[0] == 0
    assert run(capsys, "keys", "revoke", created["id"], "--data-dir", str(data))[0] == 0
    records = admin_records(data)
    assert [(r["action"], r["result"], r["target"]) for r in records] == [
        ("key.create", "ok", created["id"]), ("key.revoke", "ok", created["id"]),
        ("key.revoke", "already revoked", created["id"])]
    assert all(r["role"] == "host" for r in records)
    raw = b"".join(p.read_bytes() for p in log_files(data / "audit"))
    assert created["key"].encode() not in raw and b"alice" not in raw
    assert verify([data / "audit"]).ok


def test_busy_log_refuses_before_acting(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d"
    (data / "audit").mkdir(parents=True, mode=0o700)
    with ChainWriter(data / "audit"):  # what a running server holds
        code, out, err = run(capsys, "keys", "create", "--user", "alice", "--role", "user",
                             "--data-dir", str(data))
    assert code == 2 and out == ""
    assert "held by a running llmward server" in err and "POST /v1/admin/keys" in err
    with open_key_store(data) as store:
        assert store.list() == []  # nothing was done unrecorded
