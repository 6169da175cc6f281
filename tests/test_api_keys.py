"""SqliteKeyStore on a real SQLite file: create, authenticate, revoke, expire, limits,
input bounds, last-used bookkeeping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmward.auth import KeyInputError, SqliteKeyStore, open_key_store
from llmward.auth.keys import LAST_USED_RESOLUTION


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> SqliteKeyStore:
    return SqliteKeyStore(tmp_path / "keys" / "keys.sqlite3", clock=clock)


def test_create_then_authenticate(store: SqliteKeyStore, clock: Clock) -> None:
    plaintext, record = store.create("alice", "developer")
    assert plaintext.startswith(f"lw_{record.key_id}_")
    assert (record.user, record.role, record.created_at) == ("alice", "developer", clock.now)
    assert record.expires_at is record.revoked_at is record.last_used_at is None
    found = store.authenticate(plaintext)
    assert found is not None and found.key_id == record.key_id and found.role == "developer"
    assert store.get(record.key_id) == found


def test_keys_are_distinct_and_long(store: SqliteKeyStore) -> None:
    keys = [store.create("u", "user")[0] for _ in range(50)]
    assert len(set(keys)) == 50 and len({k[3:27] for k in keys}) == 50
    assert all(len(k) == 71 for k in keys)  # 43 base64url characters: 256 bits


def test_key_of_one_id_with_secret_of_another_is_refused(store: SqliteKeyStore) -> None:
    first, _ = store.create("a", "user")
    second, _ = store.create("b", "user")
    assert store.authenticate(first[:28] + second[28:]) is None


def test_revoke(store: SqliteKeyStore, clock: Clock) -> None:
    plaintext, record = store.create("alice", "user")
    assert store.authenticate(plaintext) is not None
    assert store.revoke(record.key_id) is True
    assert store.authenticate(plaintext) is None  # refused on the very next request
    assert store.revoke(record.key_id) is False  # idempotent
    assert store.revoke("0" * 24) is False
    revoked = store.get(record.key_id)
    assert revoked is not None and revoked.revoked_at == clock.now


def test_expiry(store: SqliteKeyStore, clock: Clock) -> None:
    plaintext, record = store.create("alice", "user", expires_in=timedelta(days=90))
    assert record.expires_at == clock.now + timedelta(days=90)
    clock.now += timedelta(days=90) - timedelta(microseconds=1)
    assert store.authenticate(plaintext) is not None
    clock.now += timedelta(microseconds=1)
    assert store.authenticate(plaintext) is None


def test_revocation_seen_by_another_store_instance(tmp_path: Path) -> None:
    one = open_key_store(tmp_path)
    other = open_key_store(tmp_path)
    plaintext, record = one.create("alice", "user")
    assert other.authenticate(plaintext) is not None
    one.revoke(record.key_id)
    assert other.authenticate(plaintext) is None


def test_last_used_written_at_most_once_per_resolution(store: SqliteKeyStore,
                                                       clock: Clock) -> None:
    plaintext, record = store.create("alice", "user")
    first = clock.now
    assert store.authenticate(plaintext).last_used_at == first  # type: ignore[union-attr]
    clock.now += LAST_USED_RESOLUTION - timedelta(seconds=1)
    assert store.authenticate(plaintext).last_used_at == first  # type: ignore[union-attr]
    assert store.get(record.key_id).last_used_at == first  # type: ignore[union-attr]
    clock.now += timedelta(seconds=1)
    assert store.authenticate(plaintext).last_used_at == clock.now  # type: ignore[union-attr]
    assert store.get(record.key_id).last_used_at == clock.now  # type: ignore[union-attr]


def test_failed_authentication_does_not_touch_last_used(store: SqliteKeyStore) -> None:
    plaintext, record = store.create("alice", "user")
    store.authenticate(plaintext[:-2] + ("AA" if plaintext[-2:] != "AA" else "BB"))
    assert store.get(record.key_id).last_used_at is None  # type: ignore[union-attr]


def test_limits_round_trip(store: SqliteKeyStore) -> None:
    limits = {"requests_per_minute": 30.5, "concurrent_requests": 2}
    plaintext, record = store.create("alice", "user", limits=limits)
    assert dict(record.limits or {}) == limits
    found = store.authenticate(plaintext)
    assert found is not None and dict(found.limits or {}) == limits
    assert isinstance(found.limits["concurrent_requests"], int)  # type: ignore[index]


def test_list_in_creation_order(store: SqliteKeyStore, clock: Clock) -> None:
    ids = []
    for user in ("a", "b", "c"):
        ids.append(store.create(user, "viewer")[1].key_id)
        clock.now += timedelta(seconds=1)
    assert [r.key_id for r in store.list()] == ids


@pytest.mark.parametrize("user", ["", " alice", "alice ", "a\nb", "a\x00b", "x" * 257, 5])
def test_bad_user_refused(store: SqliteKeyStore, user: object) -> None:
    with pytest.raises(KeyInputError, match="user"):
        store.create(user, "user")  # type: ignore[arg-type]
    assert store.list() == []


@pytest.mark.parametrize("role", ["", "root", "Admin", "admin ", "a" * 65, None])
def test_bad_role_refused(store: SqliteKeyStore, role: object) -> None:
    with pytest.raises(KeyInputError, match="role"):
        store.create("alice", role)  # type: ignore[arg-type]


def test_roles_can_be_extended(tmp_path: Path) -> None:
    store = SqliteKeyStore(tmp_path / "k.sqlite3", roles={"admin", "auditor"})
    assert store.create("alice", "auditor")[1].role == "auditor"
    with pytest.raises(KeyInputError):
        store.create("alice", "developer")


@pytest.mark.parametrize("expires_in", [timedelta(0), timedelta(seconds=-1),
                                        timedelta(days=3651), 90])
def test_bad_expiry_refused(store: SqliteKeyStore, expires_in: object) -> None:
    with pytest.raises(KeyInputError, match="expires_in"):
        store.create("alice", "user", expires_in=expires_in)  # type: ignore[arg-type]


@pytest.mark.parametrize("limits", [
    {}, {"bogus": 1}, {"requests_per_minute": 0}, {"requests_per_minute": -1},
    {"requests_per_minute": float("nan")}, {"requests_per_minute": float("inf")},
    {"requests_burst": 1.5}, {"requests_burst": True}, {"concurrent_requests": 10**9},
    {"requests_per_minute": "5"}, {"requests_per_minute": 1, "requests_burst": 10**9}, [1],
])
def test_bad_limits_refused(store: SqliteKeyStore, limits: object) -> None:
    with pytest.raises(KeyInputError, match="limits"):
        store.create("alice", "user", limits=limits)  # type: ignore[arg-type]
    assert store.list() == []


def test_errors_and_repr_hold_no_secret(store: SqliteKeyStore) -> None:
    plaintext, record = store.create("alice", "user")
    assert plaintext not in repr(store) and plaintext not in repr(record)
    assert plaintext.split("_", 2)[2] not in repr(record)  # the secret (may hold "_")
