"""The GDPR store on real SQLite files: storage off by default, nothing in clear on disk,
ciphertexts bound to their user and row, erasure by crypto-shredding (checked in the raw
bytes of the database and its -wal file), retention, the master key's sources, and the
strict `[gdpr]` configuration."""

from __future__ import annotations

import base64
import os
import sqlite3
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmward.gdpr import GdprConfig, GdprStore, GdprStoreError, open_gdpr_store, store_path
from llmward.gdpr.crypto import (
    DecryptionFailed,
    MasterKey,
    decrypt_record,
    encrypt_record,
    new_data_key,
)
from llmward.gdpr.inputs import MAX_TEXT_BYTES
from llmward.gdpr.master_key import KEY_FILE
from llmward.secrets import EnvSource, SecretResolver

START = datetime(2026, 3, 1, tzinfo=timezone.utc)
ALICE = "alice-5f1c9e"
BOB = "bob-08d2aa"
ON = GdprConfig(store_conversations=True)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def no_secrets() -> SecretResolver:
    return SecretResolver([EnvSource(environ={})])


def secret_resolver(value: str) -> SecretResolver:
    return SecretResolver([EnvSource(environ={"LLMWARD_SECRET_GDPR_MASTER_KEY": value})])


def open_store(data: Path, config: GdprConfig = ON, clock: Clock | None = None,
               secrets: SecretResolver | None = None) -> GdprStore:
    return open_gdpr_store(data, config, secrets=secrets or no_secrets(), clock=clock)


def raw_bytes(store: GdprStore) -> bytes:
    """The database file and its -wal file, as they are on disk now."""
    out = b""
    for suffix in ("", "-wal"):
        path = Path(str(store.path) + suffix)
        if path.exists():
            out += path.read_bytes()
    return out


def rows(store: GdprStore, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(store.path) as db:
        return db.execute(sql).fetchall()


def test_storage_is_off_by_default(tmp_path: Path) -> None:
    with open_store(tmp_path, GdprConfig()) as store:
        assert GdprConfig().store_conversations is False
        assert store.store_conversation(ALICE, "req-1", "my secret prompt", "reply") is False
        assert store.conversations(ALICE) == []
        assert store.processing(ALICE) == []
        assert rows(store, "SELECT count(*) FROM conversations") == [(0,)]
        assert rows(store, "SELECT count(*) FROM data_keys") == [(0,)]
        assert b"my secret prompt" not in raw_bytes(store)
        # Inputs are checked whether or not storage is on.
        with pytest.raises(ValueError, match="prompt"):
            store.store_conversation(ALICE, "req-1", "x" * (MAX_TEXT_BYTES + 1))


def test_round_trip_and_nothing_in_clear_on_disk(tmp_path: Path) -> None:
    clock = Clock()
    with open_store(tmp_path, clock=clock) as store:
        assert store.store_conversation(ALICE, "req-1", "PROMPT-alpha-93b1", "RESPONSE-beta-55d0")
        clock.now += timedelta(seconds=1)
        assert store.store_conversation(ALICE, "req-2", "PROMPT-gamma-0c4e")  # no response
        store.record_processing(ALICE, "inference", request_id="req-2", detail="DETAIL-x81")
        messages = store.conversations(ALICE)
        assert [(m.kind, m.request_id, m.text) for m in messages] == [
            ("prompt", "req-1", "PROMPT-alpha-93b1"),
            ("response", "req-1", "RESPONSE-beta-55d0"),
            ("prompt", "req-2", "PROMPT-gamma-0c4e"),
        ]
        assert messages[0].created_at == START and messages[0].purpose == "conversation_storage"
        entries = store.processing(ALICE)
        assert [(e.purpose, e.legal_basis, e.request_id, e.detail) for e in entries] == [
            ("conversation_storage", "consent", "req-1", None),
            ("conversation_storage", "consent", "req-2", None),
            ("inference", "contract", "req-2", "DETAIL-x81"),
        ]
        assert entries[2].data_categories == ("user id", "prompts", "responses")
        assert store.conversations(BOB) == [] and store.processing(BOB) == []
        # Neither the texts nor the user id are anywhere in the files, WAL included.
        raw = raw_bytes(store)
        assert Path(str(store.path) + "-wal").stat().st_size > 0  # the test reads real frames
        for clear in (b"PROMPT-alpha", b"RESPONSE-beta", b"PROMPT-gamma", b"DETAIL-x81",
                      ALICE.encode()):
            assert clear not in raw
    raw = store.path.read_bytes()
    assert b"PROMPT-alpha" not in raw and ALICE.encode() not in raw


def test_files_are_private(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.store_conversation(ALICE, "req-1", "p")
        directory = store.path.parent
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        for path in (store.path, directory / KEY_FILE, Path(str(store.path) + "-wal")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_ciphertexts_are_bound_to_user_row_and_kind(tmp_path: Path) -> None:
    key = new_data_key()
    blob = encrypt_record(key, ALICE, "row-1", "prompt", b"text")
    assert decrypt_record(key, ALICE, "row-1", "prompt", blob) == b"text"
    for user, row, kind in ((BOB, "row-1", "prompt"), (ALICE, "row-2", "prompt"),
                            (ALICE, "row-1", "response")):
        with pytest.raises(DecryptionFailed):
            decrypt_record(key, user, row, kind, blob)
    with pytest.raises(DecryptionFailed):
        decrypt_record(new_data_key(), ALICE, "row-1", "prompt", blob)

    with open_store(tmp_path) as store:
        store.store_conversation(ALICE, "req-a", "alice's prompt", "alice's response")
        store.store_conversation(BOB, "req-b", "bob's prompt")
        with sqlite3.connect(store.path) as db:
            # Swap alice's prompt and response ciphertexts (same user, other rows).
            (p_id, p_ct), (r_id, r_ct) = db.execute(
                "SELECT id, ciphertext FROM conversations WHERE request_id = 'req-a' "
                "ORDER BY kind").fetchall()
            db.execute("UPDATE conversations SET ciphertext = ? WHERE id = ?", (r_ct, p_id))
            db.execute("UPDATE conversations SET ciphertext = ? WHERE id = ?", (p_ct, r_id))
        with pytest.raises(GdprStoreError, match="does not decrypt"):
            store.conversations(ALICE)
        with sqlite3.connect(store.path) as db:
            db.execute("UPDATE conversations SET ciphertext = ? WHERE id = ?", (p_ct, p_id))
            db.execute("UPDATE conversations SET ciphertext = ? WHERE id = ?", (r_ct, r_id))
            # Move bob's row under alice's tag: alice's key does not open it.
            alice_tag = db.execute("SELECT user_tag FROM conversations WHERE request_id = "
                                   "'req-a'").fetchone()[0]
            db.execute("UPDATE conversations SET user_tag = ? WHERE request_id = 'req-b'",
                       (alice_tag,))
        with pytest.raises(GdprStoreError, match="does not decrypt"):
            store.conversations(ALICE)
        # Give bob's wrapped data key to alice: it is bound to bob's id.
        with sqlite3.connect(store.path) as db:
            db.execute("DELETE FROM conversations WHERE request_id = 'req-b'")
            bob_key = db.execute("SELECT wrapped FROM data_keys WHERE user_tag != ?",
                                 (alice_tag,)).fetchone()[0]
            db.execute("UPDATE data_keys SET wrapped = ? WHERE user_tag = ?",
                       (bob_key, alice_tag))
        with pytest.raises(GdprStoreError, match="does not unwrap"):
            store.conversations(ALICE)


def test_erasure_shreds_the_user_and_spares_the_others(tmp_path: Path) -> None:
    big = "BIGPROMPT-" + os.urandom(150_000).hex()  # overflow pages, not only leaf cells
    with open_store(tmp_path) as store:
        store.store_conversation(ALICE, "req-1", "PROMPT-alice-6e2f", "RESPONSE-alice-77ab")
        store.store_conversation(ALICE, "req-2", big)
        store.record_processing(ALICE, "security", request_id="req-3", detail="DETAIL-alice-1")
        store.store_conversation(BOB, "req-4", "PROMPT-bob-4410", "RESPONSE-bob-9e0c")
        wrapped = rows(store, "SELECT wrapped FROM data_keys")
        ciphertexts = [ct for (ct,) in rows(store, "SELECT ciphertext FROM conversations")]
        alice_tag = rows(store, "SELECT user_tag FROM conversations WHERE request_id = "
                                "'req-1'")[0][0]
        with sqlite3.connect(store.path) as db:
            refs = [r for (r,) in db.execute("SELECT user_ref FROM processing WHERE "
                                             "user_tag = ?", (alice_tag,))]
        assert len(refs) == 3

        report = store.erase(ALICE)
        assert report.as_dict() == {"conversations_deleted": 3, "data_key_destroyed": True,
                                    "processing_entries_unlinked": 3, "wal_truncated": True}
        assert store.conversations(ALICE) == [] and store.processing(ALICE) == []
        assert rows(store, "SELECT count(*) FROM data_keys") == [(1,)]  # bob's
        assert [m.text for m in store.conversations(BOB)] == ["PROMPT-bob-4410",
                                                              "RESPONSE-bob-9e0c"]
        assert len(store.processing(BOB)) == 1
        # The processing entries stay, as the record that processing happened, unlinked.
        unlinked = rows(store, "SELECT purpose, legal_basis, request_id, user_tag, user_ref, "
                               "detail, erased_at IS NOT NULL FROM processing "
                               "WHERE user_tag IS NULL ORDER BY request_id")
        assert unlinked == [("conversation_storage", "consent", "req-1", None, None, None, 1),
                            ("conversation_storage", "consent", "req-2", None, None, None, 1),
                            ("security", "legitimate_interests", "req-3", None, None, None, 1)]
        # Crypto-shredding, in the raw bytes: alice's wrapped key, ciphertexts, lookup tag
        # and user refs are overwritten in the database and gone from the -wal file.
        assert Path(str(store.path) + "-wal").stat().st_size == 0
        raw = raw_bytes(store)
        bob_wrapped = rows(store, "SELECT wrapped FROM data_keys")[0][0]
        for (blob,) in wrapped:
            assert (blob in raw) == (blob == bob_wrapped)
        bob_cts = {ct for (ct,) in rows(store, "SELECT ciphertext FROM conversations")}
        for ct in ciphertexts:
            assert (ct[:48] in raw) == (ct in bob_cts)
        for ref in refs:
            assert ref[:32] not in raw
        assert alice_tag not in raw
        for clear in (b"PROMPT-alice", b"RESPONSE-alice", b"BIGPROMPT", b"DETAIL-alice",
                      ALICE.encode()):
            assert clear not in raw
        # Idempotent.
        assert store.erase(ALICE).as_dict() == {
            "conversations_deleted": 0, "data_key_destroyed": False,
            "processing_entries_unlinked": 0, "wal_truncated": True}


def test_export_holds_everything_about_the_user(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.store_conversation(ALICE, "req-1", "hello", "hi")
        store.record_processing(ALICE, "inference", request_id="req-1")
        store.store_conversation(BOB, "req-2", "bob's")
        export = store.export(ALICE)
    assert [m["text"] for m in export["conversations"]] == ["hello", "hi"]
    assert [e["purpose"] for e in export["processing"]] == ["conversation_storage", "inference"]
    assert [p["name"] for p in export["purposes"]] == ["conversation_storage", "inference"]
    assert export["purposes"][1]["legal_basis"] == "contract"
    assert export["data_key_created_at"] is not None
    assert export["retention"] == {"conversation_retention_days": 30}


def test_processing_needs_a_configured_purpose(tmp_path: Path) -> None:
    config = GdprConfig.from_dict({"purposes": {"support": {
        "legal_basis": "contract", "description": "Support tickets",
        "data_categories": ["user id", "prompts"]}}})
    with open_store(tmp_path, config) as store:
        with pytest.raises(ValueError, match="'marketing' is not a configured purpose"):
            store.record_processing(ALICE, "marketing")
        store.record_processing(ALICE, "support", detail="ticket 12")
        store.record_processing(ALICE, "inference")  # built-ins stay
        entries = store.processing(ALICE)
    assert [(e.purpose, e.legal_basis, e.data_categories, e.detail) for e in entries] == [
        ("support", "contract", ("user id", "prompts"), "ticket 12"),
        ("inference", "contract", ("user id", "prompts", "responses"), None)]


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: s.store_conversation("", "r", "p"), "user"),
    (lambda s: s.store_conversation("x" * 257, "r", "p"), "user"),
    (lambda s: s.store_conversation(" alice", "r", "p"), "user"),
    (lambda s: s.store_conversation("al\nice", "r", "p"), "user"),
    (lambda s: s.store_conversation(ALICE, "", "p"), "request_id"),
    (lambda s: s.store_conversation(ALICE, "r" * 129, "p"), "request_id"),
    (lambda s: s.store_conversation(ALICE, "r", "\ud800"), "prompt"),
    (lambda s: s.store_conversation(ALICE, "r", "p", "é" * (MAX_TEXT_BYTES // 2 + 1)),
     "response"),
    (lambda s: s.record_processing(ALICE, "inference", detail="d" * 4097), "detail"),
    (lambda s: s.erase(""), "user"),
    (lambda s: s.export(None), "user"),
])
def test_inputs_are_bounded(tmp_path: Path, call, message: str) -> None:
    with open_store(tmp_path) as store:
        with pytest.raises(ValueError, match=message):
            call(store)
        assert rows(store, "SELECT count(*) FROM conversations") == [(0,)]


def test_retention_deletes_old_conversations(tmp_path: Path) -> None:
    clock = Clock()
    with open_store(tmp_path, clock=clock) as store:
        store.store_conversation(ALICE, "old", "old prompt", "old response")
        clock.now = START + timedelta(days=20)
        store.store_conversation(ALICE, "recent", "recent prompt")
        store.store_conversation(BOB, "recent-bob", "bob prompt")
        clock.now = START + timedelta(days=31)
        assert store.expire() == 2  # the configured 30 days
        assert [m.request_id for m in store.conversations(ALICE)] == ["recent"]
        assert store.expire(older_than=timedelta(days=5)) == 2
        assert store.conversations(ALICE) == [] and store.conversations(BOB) == []
        assert b"old prompt" not in raw_bytes(store)
        with pytest.raises(ValueError):
            store.expire(older_than=timedelta(days=-1))
    never = GdprConfig(store_conversations=True, conversation_retention_days=None)
    with open_store(tmp_path, never, clock=clock) as store:
        store.store_conversation(ALICE, "r", "p")
        assert store.expire(now=START + timedelta(days=10_000)) == 0


def test_master_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.store_conversation(ALICE, "req-1", "kept across restarts")
    key_file = tmp_path / "gdpr" / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_bytes()
    assert len(content.strip()) == 64 and int(content, 16) >= 0
    with open_store(tmp_path) as store:
        assert [m.text for m in store.conversations(ALICE)] == ["kept across restarts"]
    assert key_file.read_bytes() == content
    # An existing store whose key file is gone: an error, never a fresh key.
    key_file.unlink()
    with pytest.raises(GdprStoreError, match="no master key"):
        open_store(tmp_path)
    assert not key_file.exists()
    # Another key: refused before anything is written under it.
    key_file.write_bytes(os.urandom(32).hex().encode())
    key_file.chmod(0o600)
    with pytest.raises(GdprStoreError, match="not the one this store was created with"):
        open_store(tmp_path)
    key_file.write_bytes(content)
    key_file.chmod(0o644)
    with pytest.raises(GdprStoreError, match="mode 644"):
        open_store(tmp_path)


def test_master_key_from_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = os.urandom(32)
    with open_store(tmp_path, secrets=secret_resolver(key.hex())) as store:
        store.store_conversation(ALICE, "req-1", "under the secret")
    assert not (tmp_path / "gdpr" / KEY_FILE).exists()
    # The same key in base64 (standard and URL-safe) opens it; so does the default
    # resolver reading the environment.
    for text in (base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()
                 .rstrip("=")):
        with open_store(tmp_path, secrets=secret_resolver(text)) as store:
            assert [m.text for m in store.conversations(ALICE)] == ["under the secret"]
    monkeypatch.setenv("LLMWARD_SECRET_GDPR_MASTER_KEY", key.hex())
    with open_gdpr_store(tmp_path, ON) as store:
        assert [m.text for m in store.conversations(ALICE)] == ["under the secret"]
    # Another key, a malformed one, or none at all: refused, never quoting the value.
    with pytest.raises(GdprStoreError, match="not the one"):
        open_store(tmp_path, secrets=secret_resolver(os.urandom(32).hex()))
    for bad in ("00" * 31, "not a key at all", base64.b64encode(os.urandom(31)).decode()):
        with pytest.raises(GdprStoreError, match="expected 32 bytes") as caught:
            open_store(tmp_path, secrets=secret_resolver(bad))
        assert bad not in str(caught.value)
    with pytest.raises(GdprStoreError, match="no master key"):
        open_store(tmp_path)
    assert key.hex() not in repr(MasterKey(key, "test")) and "****" in repr(MasterKey(key, "t"))


def test_store_path_and_closed_store(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store.path == store_path(tmp_path) == tmp_path / "gdpr" / "gdpr.sqlite"
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.conversations(ALICE)


@pytest.mark.parametrize(("table", "message"), [
    ({"store_conversations": "yes"}, "gdpr.store_conversations"),
    ({"store_conversations": 1}, "gdpr.store_conversations"),
    ({"conversation_retention_days": -1}, "gdpr.conversation_retention_days"),
    ({"conversation_retention_days": True}, "gdpr.conversation_retention_days"),
    ({"audit_retention_days": 1.5}, "gdpr.audit_retention_days"),
    ({"audit_retention_days": 36_501}, "gdpr.audit_retention_days"),
    ({"store_conversation": True}, r"unknown keys \['store_conversation'\]"),
    ({"purposes": []}, "gdpr.purposes"),
    ({"purposes": {"Bad Name": {}}}, "not a purpose name"),
    ({"purposes": {"x": {"legal_basis": "because", "description": "d",
                         "data_categories": ["a"]}}}, "gdpr.purposes.x.legal_basis"),
    ({"purposes": {"x": {"legal_basis": "consent", "description": "",
                         "data_categories": ["a"]}}}, "gdpr.purposes.x.description"),
    ({"purposes": {"x": {"legal_basis": "consent", "description": "d",
                         "data_categories": "a"}}}, "gdpr.purposes.x.data_categories"),
    ({"purposes": {"x": {"legal_basis": "consent", "description": "d",
                         "data_categories": ["a"], "retention": 3}}},
     r"gdpr.purposes.x: unknown keys \['retention'\]"),
])
def test_bad_config_is_rejected_naming_the_setting(table: dict[str, object],
                                                   message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GdprConfig.from_dict(table)


def test_config_from_file(tmp_path: Path) -> None:
    assert GdprConfig.from_dict({}) == GdprConfig()
    config_file = tmp_path / "llmward.toml"
    config_file.write_text('[gdpr]\nstore_conversations = true\naudit_retention_days = 90\n'
                           '[gdpr.purposes.inference]\nlegal_basis = "legitimate_interests"\n'
                           'description = "Serving requests"\ndata_categories = ["prompts"]\n'
                           '[ratelimit]\nanything = 1\n')
    config = GdprConfig.from_file(config_file)
    assert config.store_conversations and config.audit_retention_days == 90
    assert config.conversation_retention_days == 30
    assert config.purpose("inference").legal_basis == "legitimate_interests"
    assert config.purpose("conversation_storage").legal_basis == "consent"
    config_file.write_text("[gdpr]\naudit_retention_days = -3\n")
    with pytest.raises(ValueError, match=f"{config_file}: gdpr.audit_retention_days"):
        GdprConfig.from_file(config_file)
