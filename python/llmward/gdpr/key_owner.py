"""Erasure's step in the API key store: revoke the user's keys and unlink them from the user.

Revocation goes through the `KeyStore` interface. The interface has no way to change a
key's owner, so for the SQLite store this module rewrites the `user` column itself: each
of the user's keys gets the same random pseudonym (`erased-<hex>`), so the keys stay listed
(revoked, with their timestamps, for the audit trail) but no longer name the person. The
statement also revokes any key created for the user after the listing (a race with an
admin), and runs with `secure_delete` and a TRUNCATE checkpoint so the old value is not
left in free space or in the -wal file. This belongs in `SqliteKeyStore` itself
(`pseudonymize_owner`); until then it is kept here, narrow and tested.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from llmward.auth.keys import BUSY_TIMEOUT_S, KeyRecord, KeyStore, SqliteKeyStore
from llmward.gdpr.records import to_us

PSEUDONYM_PREFIX = "erased-"


@dataclass(frozen=True)
class KeyErasure:
    keys: int  # the user's keys found
    revoked: int  # of those, active until now
    owner_unlinked: bool  # the records no longer name the user (SQLite store only)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def keys_of(store: KeyStore, user: str) -> list[KeyRecord]:
    return [record for record in store.list() if record.user == user]


def erase_key_owner(store: KeyStore, user: str) -> KeyErasure:
    found = keys_of(store, user)
    revoked = sum(store.revoke(record.key_id) for record in found)
    unlinked = False
    if isinstance(store, SqliteKeyStore):
        _pseudonymize_owner(store, user)
        unlinked = True
    return KeyErasure(len(found), revoked, unlinked)


def _pseudonymize_owner(store: SqliteKeyStore, user: str) -> None:
    pseudonym = PSEUDONYM_PREFIX + secrets.token_hex(12)
    now = to_us(datetime.now(timezone.utc))
    db = sqlite3.connect(store.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    with contextlib.closing(db):
        db.execute("PRAGMA secure_delete = ON")  # per connection: the old owner is zeroed
        db.execute("PRAGMA synchronous = FULL")
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("UPDATE api_keys SET user = ?, revoked_at = coalesce(revoked_at, ?) "
                       "WHERE user = ?", (pseudonym, now, user))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        # Best effort: a reader in another process may keep old frames in the -wal file
        # until its next checkpoint.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
