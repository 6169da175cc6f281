"""`llmward gdpr erase|export|retention|processing` on a real data directory (key store,
GDPR store, audit log), run in-process through the CLI's `main`."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmward.audit import ChainWriter, api_request, verify
from llmward.audit.files import log_files
from llmward.auth.keys import open_key_store
from llmward.cli import main
from llmward.gdpr import GdprConfig, open_gdpr_store

ALICE = "alice-3c7d"
BOB = "bob-e19a"
NOW = datetime.now(timezone.utc)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data directory with keys, stored conversations (one 40 days old), processing
    entries and audit records (some 100 days old) for alice and bob."""
    root = tmp_path / "data"
    with open_key_store(root) as keys:
        for user in (ALICE, BOB):
            keys.create(user, "user")
    when = [NOW - timedelta(days=40)]
    config = GdprConfig(store_conversations=True)
    with open_gdpr_store(root, config, clock=lambda: when[0]) as store:
        store.store_conversation(ALICE, "req-old", "OLD prompt of alice")
        when[0] = NOW
        for user in (ALICE, BOB):
            store.store_conversation(user, f"req-{user}", f"PROMPT of {user}", "RESPONSE")
    audit = root / "audit"
    audit.mkdir(mode=0o700)
    with ChainWriter(audit) as writer:
        for days in (100, 1):
            for user in (ALICE, BOB):
                writer.append(api_request(request_id=f"r{days}", method="GET", path="/v1/x",
                                          status=200, latency_us=5, user=user,
                                          when=NOW - timedelta(days=days)))
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_erase_needs_yes(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "gdpr", "erase", ALICE, "--data-dir", str(data))
    assert code == 2 and "--yes" in err
    with open_key_store(data) as keys:
        assert ALICE in {r.user for r in keys.list()}


def test_erase(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "gdpr", "erase", ALICE, "--yes", "--json", "--data-dir",
                       str(data))
    assert code == 0
    report = json.loads(out)
    assert report["api_keys"] == {"keys": 1, "revoked": 1, "owner_unlinked": True}
    assert report["stored_data"]["conversations_deleted"] == 3
    assert report["stored_data"]["data_key_destroyed"] is True
    assert report["audit"] == {"records_redacted": 2}
    audit = data / "audit"
    result = verify([audit])
    assert result.ok, result.problems
    raw = b"".join(p.read_bytes() for p in log_files(audit))
    assert ALICE.encode() not in raw and BOB.encode() in raw
    # The erasure itself is in the log, with counts and without the id.
    last = json.loads(log_files(audit)[-1].read_bytes().splitlines()[-1])
    assert last["kind"] == "admin" and last["data"]["action"] == "user.erase"
    assert last["data"]["detail"]["via"] == "cli"
    assert last["data"]["detail"]["stored_data.conversations_deleted"] == 3
    # Human-readable output.
    code, out, _ = run(capsys, "gdpr", "erase", ALICE, "--yes", "--data-dir", str(data))
    assert code == 0 and "0 found" in out and "0 records redacted" in out


def test_erase_refuses_while_the_server_holds_the_audit_log(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ChainWriter(data / "audit"):
        code, _, err = run(capsys, "gdpr", "erase", ALICE, "--yes", "--data-dir", str(data))
    assert code == 2
    assert "stop the server" in err and "DELETE /v1/admin/users/{id}" in err
    # Nothing was changed.
    with open_key_store(data) as keys:
        assert all(r.revoked_at is None for r in keys.list())
    with open_gdpr_store(data) as store:
        assert len(store.conversations(ALICE)) == 3


def test_export(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "gdpr", "export", ALICE, "--data-dir", str(data))
    assert code == 0
    export = json.loads(out)
    assert [k["user"] for k in export["api_keys"]] == [ALICE]
    assert [m["text"] for m in export["stored_data"]["conversations"]] == [
        "OLD prompt of alice", f"PROMPT of {ALICE}", "RESPONSE"]
    assert len(export["stored_data"]["processing"]) == 2
    assert len(export["audit_records"]) == 2 and BOB not in out

    target = tmp_path / "export.json"
    code, out, _ = run(capsys, "gdpr", "export", ALICE, "--data-dir", str(data),
                       "--output", str(target))
    assert code == 0 and out == ""
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["user"] == ALICE
    code, _, err = run(capsys, "gdpr", "export", ALICE, "--data-dir", str(data),
                       "--output", str(target))
    assert code == 2 and "already exists" in err


def test_export_of_an_empty_data_dir_creates_nothing(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "empty"
    code, out, _ = run(capsys, "gdpr", "export", ALICE, "--data-dir", str(root))
    assert code == 0
    assert json.loads(out)["stored_data"] is None
    assert os.listdir(root) == []


def test_retention(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "llmward.toml"
    config.write_text("[gdpr]\naudit_retention_days = 30\nconversation_retention_days = 7\n")
    code, out, _ = run(capsys, "gdpr", "retention", "--config", str(config), "--json",
                       "--data-dir", str(data))
    assert code == 0
    assert json.loads(out) == {"audit_days": 30, "audit_pseudonymized": 2,
                               "conversation_days": 7, "conversations_deleted": 1}
    audit = data / "audit"
    assert verify([audit]).ok
    records = [json.loads(line) for p in log_files(audit) for line in p.read_bytes().splitlines()]
    old = [r for r in records if r["data"].get("request_id") == "r100"]
    assert all("clear" not in r and r["redacted"]["reason"] == "retention" for r in old)
    recent = [r for r in records if r["data"].get("request_id") == "r1"]
    assert {r["clear"]["user"]["value"] for r in recent} == {ALICE, BOB}
    with open_gdpr_store(data) as store:
        assert [m.request_id for m in store.conversations(ALICE)] == [f"req-{ALICE}"] * 2
    # Options override the file; without either, the audit log is left alone.
    code, out, _ = run(capsys, "gdpr", "retention", "--conversation-days", "0", "--json",
                       "--data-dir", str(data))
    assert json.loads(out) == {"audit_days": None, "audit_pseudonymized": None,
                               "conversation_days": 0, "conversations_deleted": 4}
    code, out, _ = run(capsys, "gdpr", "retention", "--audit-days", "0", "--data-dir",
                       str(data))
    assert code == 0 and "audit records pseudonymized (older than 0 days): 2" in out


def test_retention_rejects_bad_settings(data: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[gdpr]\nconversation_retention_days = \"a week\"\n")
    code, _, err = run(capsys, "gdpr", "retention", "--config", str(config), "--data-dir",
                       str(data))
    assert code == 2 and "gdpr.conversation_retention_days" in err
    code, _, err = run(capsys, "gdpr", "retention", "--audit-days", "-1", "--data-dir",
                       str(data))
    assert code == 2 and "--audit-days" in err
    with ChainWriter(data / "audit"):
        code, _, err = run(capsys, "gdpr", "retention", "--audit-days", "1", "--data-dir",
                           str(data))
    assert code == 2 and "stop the server" in err


def test_processing(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "gdpr", "processing", ALICE, "--json", "--data-dir", str(data))
    assert code == 0
    entries = json.loads(out)
    assert [(e["purpose"], e["legal_basis"]) for e in entries] == [
        ("conversation_storage", "consent")] * 2
    code, out, _ = run(capsys, "gdpr", "processing", ALICE, "--data-dir", str(data))
    assert code == 0 and out.count("conversation_storage") == 2


@pytest.mark.parametrize("user", ["", " alice", "x" * 257, "a\tb"])
def test_bad_user_ids_are_usage_errors(data: Path, capsys: pytest.CaptureFixture[str],
                                       user: str) -> None:
    for command in (["erase", user, "--yes"], ["export", user], ["processing", user]):
        code, _, err = run(capsys, "gdpr", *command, "--data-dir", str(data))
        assert code == 2 and "user:" in err
