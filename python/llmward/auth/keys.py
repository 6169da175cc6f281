"""API keys: the `KeyStore` interface and its SQLite implementation.

A key is `lw_<key id>_<secret>` (see `key_format`); the store keeps the key id, an
HMAC-SHA-256 digest of the secret, and the key's owner, role, limits and timestamps (UTC).
The plaintext exists only in the return value of `create`.

`authenticate` runs the same steps for every presented string: parse on a fixed-size
buffer, one lookup by key id that returns one row whether the id exists or not, one digest
comparison (against a random dummy digest when the id is unknown or the key malformed);
the verdicts are combined without short-circuits. Only a valid key then does more (reading
its full record, the last-used update), which tells its holder nothing new.

SQLite runs in WAL mode (readers do not block the writer), with one connection per thread
and a busy timeout, so several threads and processes may share a store.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from hmac import compare_digest
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from llmward.auth.key_files import KeyStoreError, load_pepper, private_dir, private_file
from llmward.auth.key_format import DIGEST_BYTES, digest, new_key, new_key_id, parse
from llmward.auth.key_validate import (
    DEFAULT_ROLES,
    KeyInputError,
    check_expires_in,
    check_limits,
    check_role,
    check_user,
)
from llmward.sqlite_wal import enable_wal

__all__ = ["KeyRecord", "KeyStore", "SqliteKeyStore", "open_key_store", "KeyStoreError",
           "KeyInputError", "DEFAULT_ROLES", "LAST_USED_RESOLUTION"]

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 5.0
# last_used_at is written at most once per this interval per key: a write per request
# would serialize every request on SQLite's single writer for a figure nobody needs to
# the second.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_MIGRATIONS = (
    # version 1
    """
    CREATE TABLE api_keys (
        key_id TEXT PRIMARY KEY NOT NULL,
        digest BLOB NOT NULL,           -- HMAC-SHA-256(pepper, secret)
        user TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at INTEGER NOT NULL,    -- microseconds since the Unix epoch, UTC
        expires_at INTEGER,
        last_used_at INTEGER,
        revoked_at INTEGER,
        limits TEXT                     -- JSON object of per-key limit overrides
    ) WITHOUT ROWID;                    -- one B-tree search per lookup, found or not
    CREATE INDEX api_keys_role ON api_keys (role);
    """,
)
_SELECT = ("SELECT key_id, digest, user, role, created_at, expires_at, last_used_at, "
           "revoked_at, limits FROM api_keys")
# Always one row: (found, digest or the dummy ?2, expires_at, revoked_at, then the rest of
# the record in _SELECT's order, NULLs for an unknown id): one lookup for every key, valid
# or not, so a valid key costs no second query.
_CHECK = ("SELECT k.key_id IS NOT NULL, coalesce(k.digest, ?2), k.expires_at, k.revoked_at, "
          "k.key_id, k.digest, k.user, k.role, k.created_at, k.expires_at, k.last_used_at, "
          "k.revoked_at, k.limits FROM (SELECT 1) LEFT JOIN api_keys AS k ON k.key_id = ?1")
_INSERT = ("INSERT INTO api_keys (key_id, digest, user, role, created_at, expires_at, "
           "last_used_at, revoked_at, limits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


@dataclass(frozen=True)
class KeyRecord:
    """One API key, without its secret."""

    key_id: str
    user: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    limits: Mapping[str, int | float] | None  # per-key limit overrides

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class KeyStore(Protocol):
    def create(self, user: str, role: str, *, expires_in: timedelta | None = None,
               limits: Mapping[str, int | float] | None = None) -> tuple[str, KeyRecord]:
        """A new key: (plaintext key, shown once; its record)."""
        ...

    def authenticate(self, presented: str) -> KeyRecord | None:
        """The record of a valid key, else None (malformed, unknown, wrong secret, revoked,
        expired), in constant time; updates last_used_at."""
        ...

    def get(self, key_id: str) -> KeyRecord | None: ...

    def list(self) -> list[KeyRecord]: ...

    def revoke(self, key_id: str) -> bool:
        """True if the key was active and is now revoked; False if unknown or revoked."""
        ...


def open_key_store(data_dir: Path, *, roles: Collection[str] = DEFAULT_ROLES) -> SqliteKeyStore:
    """The key store under the data directory (`llmward.paths.data_dir()`)."""
    return SqliteKeyStore(Path(data_dir) / "keys" / "keys.sqlite3", roles=roles)


class SqliteKeyStore:
    """`KeyStore` in one SQLite file; its pepper lives next to it in `<name>.pepper`."""

    def __init__(self, path: Path | str, *, roles: Collection[str] = DEFAULT_ROLES,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path(path)
        self.roles = frozenset(roles)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        private_dir(self.path.parent)
        private_file(self.path)
        self._pepper = load_pepper(self.path.with_name(self.path.name + ".pepper"))
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._migrate()
        # Compared against when no real digest is at hand; random, so nothing matches it.
        self._dummy_digest = secrets.token_bytes(DIGEST_BYTES)

    def __repr__(self) -> str:
        return f"SqliteKeyStore({str(self.path)!r})"

    # -- KeyStore --

    def create(self, user: str, role: str, *, expires_in: timedelta | None = None,
               limits: Mapping[str, int | float] | None = None) -> tuple[str, KeyRecord]:
        user, role = check_user(user), check_role(role, self.roles)
        expires_in, checked_limits = check_expires_in(expires_in), check_limits(limits)
        for _ in range(3):  # a 96-bit id collides in theory only
            key_id = new_key_id()
            plaintext, secret = new_key(key_id)
            try:
                record = self._insert(key_id, secret, user, role, expires_in, checked_limits)
            except sqlite3.IntegrityError:
                continue
            return plaintext, record
        raise KeyStoreError("could not allocate a unique key id")

    def authenticate(self, presented: str) -> KeyRecord | None:
        parsed = parse(presented if isinstance(presented, str) else "")
        # One row whether or not the id exists (the dummy digest stands in), so the lookup
        # and the decoding cost the same for unknown ids as for known ones.
        row = self._db().execute(_CHECK, (parsed.key_id, self._dummy_digest)).fetchone()
        found, stored, expires_at, revoked_at = row[:4]
        now = self._clock()
        matches = compare_digest(digest(self._pepper, parsed.secret), stored)
        not_expired = expires_at is None or _us(now) < expires_at
        # `&` rather than `and`: every verdict is computed, none skips the others.
        if not (matches & bool(found) & parsed.well_formed & (revoked_at is None) & not_expired):
            return None
        record = _record(row[4:])
        if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
            try:  # one statement: autocommitted
                self._db().execute("UPDATE api_keys SET last_used_at = ? WHERE key_id = ?",
                                   (_us(now), record.key_id))
                record = replace(record, last_used_at=now)
            except sqlite3.OperationalError:
                pass  # busy past the timeout: a bookkeeping write must not refuse a valid key
        return record

    def get(self, key_id: str) -> KeyRecord | None:
        return self._fetch(key_id)

    def list(self) -> list[KeyRecord]:
        rows = self._db().execute(_SELECT + " ORDER BY created_at, key_id")
        return [_record(row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        cursor = self._db().execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (_us(self._clock()), key_id))
        return cursor.rowcount == 1

    # -- bootstrap --

    def create_first(self, user: str, role: str, secret_key: str | None = None
                     ) -> tuple[str, KeyRecord] | None:
        """Create a key for `role` unless one (even revoked or expired) exists, atomically
        across processes. `secret_key`: install this plaintext key instead of a new one."""
        user, role = check_user(user), check_role(role, self.roles)
        if secret_key is None:
            key_id = new_key_id()
            plaintext, secret = new_key(key_id)
        else:
            parsed = parse(secret_key)
            if not parsed.well_formed:  # the message never quotes the value
                raise KeyInputError("bootstrap key: expected lw_<24 hex digits>_<43 base64url "
                                    "characters>, e.g. from `llmward keys create --json`")
            plaintext, key_id, secret = secret_key, parsed.key_id, parsed.secret.decode()
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM api_keys WHERE role = ? LIMIT 1", (role,)).fetchone():
                db.execute("ROLLBACK")
                return None
            record = self._insert(key_id, secret, user, role, None, None)
            db.execute("COMMIT")
        except sqlite3.IntegrityError:
            db.execute("ROLLBACK")
            raise KeyInputError("bootstrap key: its key id is already in use") from None
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return plaintext, record

    def close(self) -> None:
        """Close every thread's connection; call once no thread uses the store any more."""
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> SqliteKeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --

    def _fetch(self, key_id: str) -> KeyRecord | None:
        row = self._db().execute(_SELECT + " WHERE key_id = ?", (key_id,)).fetchone()
        return None if row is None else _record(row)

    def _insert(self, key_id: str, secret: str, user: str, role: str,
                expires_in: timedelta | None, limits: dict[str, int | float] | None
                ) -> KeyRecord:
        now = self._clock()
        expires_at = None if expires_in is None else now + expires_in
        row = (key_id, digest(self._pepper, secret.encode()), user, role, _us(now),
               None if expires_at is None else _us(expires_at), None, None,
               None if limits is None else json.dumps(limits, sort_keys=True))
        db = self._db()
        db.execute(_INSERT, row)  # autocommitted unless in the caller's transaction
        return _record(row)

    def _db(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            # isolation_level=None: no implicit transactions; `with db` and BEGIN IMMEDIATE
            # mark them. check_same_thread=False only so close() may close every thread's.
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S,
                                         isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA synchronous = FULL")  # a revocation survives power loss
            connection.execute("PRAGMA foreign_keys = ON")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _migrate(self) -> None:
        db = self._db()
        mode = enable_wal(db, BUSY_TIMEOUT_S)
        if mode != "wal":
            raise KeyStoreError(f"{self.path}: cannot use WAL mode (got {mode})")
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise KeyStoreError(f"{self.path}: schema version {version} is newer than "
                                    f"this llmward's ({SCHEMA_VERSION}); upgrade llmward")
            for number in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


def _time(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + value * _US


def _record(row: tuple[Any, ...]) -> KeyRecord:
    limits = None if row[8] is None else MappingProxyType(json.loads(row[8]))
    return KeyRecord(key_id=row[0], user=row[2], role=row[3], created_at=_EPOCH + row[4] * _US,
                     expires_at=_time(row[5]), last_used_at=_time(row[6]),
                     revoked_at=_time(row[7]), limits=limits)
