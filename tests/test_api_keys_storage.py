"""What the key store writes to disk: only digests, private file modes, WAL, a versioned
schema, a pepper file; refuses files others can read."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
from pathlib import Path

import pytest

from llmward.auth import KeyStoreError, SqliteKeyStore, open_key_store
from llmward.auth.keys import SCHEMA_VERSION


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_only_digests_are_stored(tmp_path: Path) -> None:
    store = open_key_store(tmp_path)
    created = [store.create("alice", "user")[0] for _ in range(20)]
    for plaintext in created:
        store.authenticate(plaintext)
    store.close()
    directory = tmp_path / "keys"
    blob = b"".join(p.read_bytes() for p in directory.iterdir())
    assert blob  # the database, its WAL and the pepper
    for plaintext in created:
        secret = plaintext[28:].encode()
        assert secret not in blob and plaintext.encode() not in blob
        assert hashlib.sha256(secret).digest() not in blob  # keyed hash, not a bare one
        assert hashlib.sha256(secret).hexdigest().encode() not in blob


def test_file_modes(tmp_path: Path) -> None:
    store = open_key_store(tmp_path)
    store.authenticate(store.create("alice", "user")[0])
    directory = tmp_path / "keys"
    assert _mode(directory) == 0o700
    files = sorted(p.name for p in directory.iterdir())
    assert files == ["keys.sqlite3", "keys.sqlite3-shm", "keys.sqlite3-wal",
                     "keys.sqlite3.pepper"]
    for path in directory.iterdir():
        assert _mode(path) == 0o600, path.name


def test_mode_holds_under_a_permissive_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0)
    try:
        open_key_store(tmp_path).create("alice", "user")
    finally:
        os.umask(old)
    assert all(_mode(p) == 0o600 for p in (tmp_path / "keys").iterdir())


@pytest.mark.parametrize("name,mode", [("keys.sqlite3", 0o644), ("keys.sqlite3.pepper", 0o640),
                                       ("", 0o755)])
def test_refuses_files_open_to_others(tmp_path: Path, name: str, mode: int) -> None:
    open_key_store(tmp_path).close()
    (tmp_path / "keys" / name).chmod(mode)
    with pytest.raises(KeyStoreError, match="chmod"):
        open_key_store(tmp_path)


def test_wal_and_schema_version(tmp_path: Path) -> None:
    open_key_store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "keys" / "keys.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1
    db.close()


def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    open_key_store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "keys" / "keys.sqlite3")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(KeyStoreError, match="newer"):
        open_key_store(tmp_path)


def test_keys_survive_reopening(tmp_path: Path) -> None:
    with open_key_store(tmp_path) as store:
        plaintext, record = store.create("alice", "developer")
    with open_key_store(tmp_path) as store:
        found = store.authenticate(plaintext)
    assert found is not None and found.key_id == record.key_id


def test_pepper_is_random_per_store_and_required(tmp_path: Path) -> None:
    one = SqliteKeyStore(tmp_path / "a" / "k.sqlite3")
    two = SqliteKeyStore(tmp_path / "b" / "k.sqlite3")
    assert (tmp_path / "a" / "k.sqlite3.pepper").read_bytes() != \
        (tmp_path / "b" / "k.sqlite3.pepper").read_bytes()
    plaintext, _ = one.create("alice", "user")
    one.close()
    two.close()
    # A database copied next to another pepper validates nothing.
    (tmp_path / "b" / "k.sqlite3").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / "b" / f"k.sqlite3{suffix}").unlink(missing_ok=True)
    (tmp_path / "b" / "k.sqlite3").write_bytes((tmp_path / "a" / "k.sqlite3").read_bytes())
    (tmp_path / "b" / "k.sqlite3").chmod(0o600)
    # The WAL of `a` holds the row until a checkpoint; copy it too.
    wal = tmp_path / "a" / "k.sqlite3-wal"
    if wal.exists():
        (tmp_path / "b" / "k.sqlite3-wal").write_bytes(wal.read_bytes())
        (tmp_path / "b" / "k.sqlite3-wal").chmod(0o600)
    moved = SqliteKeyStore(tmp_path / "b" / "k.sqlite3")
    assert len(moved.list()) == 1 and moved.authenticate(plaintext) is None


def test_truncated_pepper_is_an_error(tmp_path: Path) -> None:
    open_key_store(tmp_path).close()
    (tmp_path / "keys" / "keys.sqlite3.pepper").write_bytes(b"short")
    with pytest.raises(KeyStoreError, match="pepper"):
        open_key_store(tmp_path)
