"""Whole-user erasure and export across the real stores of a data directory: the SQLite
key store, the GDPR store and a hash-chained audit log. After erasure the user's keys are
revoked and no longer name them, their stored data is shredded, the audit log no longer
holds their id in clear and still verifies; the export holds everything, as JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmward.audit import AuditLogBusy, ChainWriter, api_request, erase_user, verify
from llmward.audit.files import log_files
from llmward.auth.keys import SqliteKeyStore, open_key_store
from llmward.gdpr import (
    ErasureIncomplete,
    GdprConfig,
    GdprStore,
    erase_user_everywhere,
    export_user_everywhere,
    open_gdpr_store,
)
from llmward.gdpr.erasure import erasure_counts
from llmward.gdpr.key_owner import PSEUDONYM_PREFIX
from llmward.secrets import EnvSource, SecretResolver

ALICE = "alice@example.org"
BOB = "bob@example.org"
NOW = datetime.now(timezone.utc)


class Stores:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys: SqliteKeyStore = open_key_store(root)
        self.gdpr: GdprStore = open_gdpr_store(
            root, GdprConfig(store_conversations=True),
            secrets=SecretResolver([EnvSource(environ={})]))
        self.audit = root / "audit"
        self.audit.mkdir(mode=0o700)

    def close(self) -> None:
        self.keys.close()
        self.gdpr.close()


@pytest.fixture
def stores(tmp_path: Path):
    stores = Stores(tmp_path / "data")
    yield stores
    stores.close()


def seed(stores: Stores) -> dict[str, str]:
    """Keys, stored conversations, processing entries and audit records for alice and bob;
    returns the plaintext keys."""
    plaintext = {}
    for user, role in ((ALICE, "user"), (ALICE, "developer"), (BOB, "user")):
        plaintext[f"{user}/{role}"] = stores.keys.create(user, role)[0]
    for user in (ALICE, BOB):
        stores.gdpr.store_conversation(user, f"req-{user}", f"PROMPT of {user}",
                                       f"RESPONSE to {user}")
        stores.gdpr.record_processing(user, "inference", request_id=f"req-{user}")
    with ChainWriter(stores.audit, max_file_bytes=4096) as writer:
        for day in range(12):  # rotates across several files
            for user in (ALICE, BOB):
                writer.append(api_request(
                    request_id=f"req-{day}", method="POST", path="/v1/chat/completions",
                    status=200, latency_us=1, user=user, client="192.0.2.1",
                    prompt=f"audit prompt of {user}", when=NOW - timedelta(days=day)))
    return plaintext


def audit_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in log_files(directory))


def clear_users(directory: Path) -> list[str]:
    users = []
    for path in log_files(directory):
        for line in path.read_bytes().splitlines():
            user = json.loads(line).get("clear", {}).get("user")
            if user:
                users.append(user["value"])
    return users


def test_erasure_everywhere(stores: Stores) -> None:
    plaintext = seed(stores)
    assert len(log_files(stores.audit)) > 1
    report = erase_user_everywhere(ALICE, key_store=stores.keys, gdpr=stores.gdpr,
                                   audit_erase=lambda user: erase_user(stores.audit, user))
    assert report == {
        "object": "user_erasure", "user": ALICE,
        "api_keys": {"keys": 2, "revoked": 2, "owner_unlinked": True},
        "stored_data": {"conversations_deleted": 2, "data_key_destroyed": True,
                        "processing_entries_unlinked": 2, "wal_truncated": True},
        "audit": {"records_redacted": 12},
    }
    assert erasure_counts(report)["api_keys.revoked"] == 2

    # API keys: refused, and their records no longer name alice (one shared pseudonym).
    for name in (f"{ALICE}/user", f"{ALICE}/developer"):
        assert stores.keys.authenticate(plaintext[name]) is None
    owners = {r.user for r in stores.keys.list()}
    assert ALICE not in owners and BOB in owners
    pseudonyms = [r for r in stores.keys.list() if r.user.startswith(PSEUDONYM_PREFIX)]
    assert len(pseudonyms) == 2 and len({r.user for r in pseudonyms}) == 1
    assert all(r.revoked_at is not None for r in pseudonyms)
    assert stores.keys.authenticate(plaintext[f"{BOB}/user"]) is not None
    key_file = stores.keys.path
    raw_keys = key_file.read_bytes() + Path(str(key_file) + "-wal").read_bytes()
    assert ALICE.encode() not in raw_keys and BOB.encode() in raw_keys

    # The GDPR store.
    assert stores.gdpr.conversations(ALICE) == [] and stores.gdpr.processing(ALICE) == []
    assert [m.text for m in stores.gdpr.conversations(BOB)] == [f"PROMPT of {BOB}",
                                                                f"RESPONSE to {BOB}"]

    # The audit log: still verifies, no longer holds alice's id (nor her prompts) in clear.
    result = verify([stores.audit])
    assert result.ok, result.problems
    assert result.redacted == 12
    raw = audit_bytes(stores.audit)
    assert ALICE.encode() not in raw and b"audit prompt of " + ALICE.encode() not in raw
    assert clear_users(stores.audit).count(BOB) == 12 and ALICE not in clear_users(stores.audit)

    # Again: nothing left to do, nothing fails.
    again = erase_user_everywhere(ALICE, key_store=stores.keys, gdpr=stores.gdpr,
                                  audit_erase=lambda user: erase_user(stores.audit, user))
    assert again["api_keys"] == {"keys": 0, "revoked": 0, "owner_unlinked": True}
    assert again["stored_data"]["conversations_deleted"] == 0
    assert again["audit"] == {"records_redacted": 0}


def test_a_failed_step_says_which_and_a_rerun_completes(stores: Stores) -> None:
    seed(stores)
    with ChainWriter(stores.audit):  # another writer holds the audit log
        with pytest.raises(ErasureIncomplete) as caught:
            erase_user_everywhere(ALICE, key_store=stores.keys, gdpr=stores.gdpr,
                                  audit_erase=lambda user: erase_user(stores.audit, user))
    error = caught.value
    assert error.step == "audit" and isinstance(error.__cause__, AuditLogBusy)
    assert error.report["api_keys"]["revoked"] == 2
    assert error.report["stored_data"]["data_key_destroyed"] is True
    assert error.report["audit"] is None and ALICE in clear_users(stores.audit)
    report = erase_user_everywhere(ALICE, key_store=stores.keys, gdpr=stores.gdpr,
                                   audit_erase=lambda user: erase_user(stores.audit, user))
    assert report["audit"] == {"records_redacted": 12}
    assert verify([stores.audit]).ok


def test_stores_not_in_use_are_skipped(stores: Stores) -> None:
    report = erase_user_everywhere(ALICE, key_store=None, gdpr=None, audit_erase=None)
    assert report["api_keys"] is None and report["stored_data"] is None
    assert report["audit"] is None
    with pytest.raises(ValueError, match="user"):
        erase_user_everywhere("", key_store=None, gdpr=None, audit_erase=None)


def test_export_holds_everything_as_json(stores: Stores) -> None:
    plaintext = seed(stores)
    export = export_user_everywhere(ALICE, key_store=stores.keys, gdpr=stores.gdpr,
                                    audit_dir=stores.audit)
    text = json.dumps(export)
    assert json.loads(text) == export
    assert export["object"] == "user_export" and export["user"] == ALICE
    # API keys: the records, never a secret or a digest.
    assert sorted(k["role"] for k in export["api_keys"]) == ["developer", "user"]
    assert set(export["api_keys"][0]) == {"id", "user", "role", "created_at", "expires_at",
                                          "last_used_at", "revoked_at", "limits"}
    for key in plaintext.values():
        assert key.split("_", 2)[2] not in text
    # Stored data, decrypted; the processing log with purposes and legal bases.
    stored = export["stored_data"]
    assert [m["text"] for m in stored["conversations"]] == [f"PROMPT of {ALICE}",
                                                            f"RESPONSE to {ALICE}"]
    assert [(e["purpose"], e["legal_basis"]) for e in stored["processing"]] == [
        ("conversation_storage", "consent"), ("inference", "contract")]
    # Audit records naming alice, and only those.
    records = export["audit_records"]
    assert len(records) == 12
    assert {r["personal"]["user"] for r in records} == {ALICE}
    assert records[0]["personal"]["prompt"] == f"audit prompt of {ALICE}"
    assert records[0]["kind"] == "api_request" and records[0]["data"]["path"]
    assert BOB not in text

    erase_user_everywhere(ALICE, key_store=stores.keys, gdpr=stores.gdpr,
                          audit_erase=lambda user: erase_user(stores.audit, user))
    after = export_user_everywhere(ALICE, key_store=stores.keys, gdpr=stores.gdpr,
                                   audit_dir=stores.audit)
    assert after["api_keys"] == [] and after["audit_records"] == []
    assert after["stored_data"]["conversations"] == []
    assert after["stored_data"]["processing"] == []
    assert after["stored_data"]["data_key_created_at"] is None


def test_export_skips_a_record_being_written(stores: Stores) -> None:
    seed(stores)
    newest = log_files(stores.audit)[-1]
    with newest.open("ab") as f:
        f.write(b'{"clear":{"user":{"salt":"00","value":"' + ALICE.encode() + b'"}}')  # no \n
    export = export_user_everywhere(ALICE, key_store=None, gdpr=None, audit_dir=stores.audit)
    assert len(export["audit_records"]) == 12
