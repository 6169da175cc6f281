"""The GDPR store's SQLite schema and its migrations.

No table holds a user id in clear: rows are found by the user's lookup tag (an HMAC of
the id under a key derived from the master key), and the id itself, where a row needs it,
is encrypted under the user's data key. Times are microseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llmward.gdpr.files import GdprStoreError

SCHEMA_VERSION = 1
_MIGRATIONS = (
    # version 1
    """
    CREATE TABLE meta (
        name TEXT PRIMARY KEY NOT NULL,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE data_keys (
        user_tag BLOB PRIMARY KEY NOT NULL,   -- HMAC-SHA-256(lookup key, user id)
        wrapped BLOB NOT NULL,                -- nonce || AES-256-GCM(wrap key, data key)
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY NOT NULL,         -- random, bound into the ciphertext
        user_tag BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('prompt', 'response')),
        request_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        ciphertext BLOB NOT NULL              -- nonce || AES-256-GCM(data key, text)
    );  -- rowid: insertion order breaks timestamp ties
    CREATE INDEX conversations_user ON conversations (user_tag, created_at);
    CREATE INDEX conversations_time ON conversations (created_at);
    CREATE TABLE processing (
        id TEXT PRIMARY KEY NOT NULL,
        created_at INTEGER NOT NULL,
        user_tag BLOB,                        -- NULL once the user is erased
        user_ref BLOB,                        -- the user id under the data key, NULL once erased
        purpose TEXT NOT NULL,
        legal_basis TEXT NOT NULL,            -- as configured when the entry was made
        data_categories TEXT NOT NULL,        -- JSON array, as configured then
        request_id TEXT,
        detail BLOB,                          -- under the data key, NULL once erased
        erased_at INTEGER
    );  -- rowid: insertion order breaks timestamp ties
    CREATE INDEX processing_user ON processing (user_tag, created_at);
    """,
)


def _statements(script: str) -> list[str]:
    """Split on the semicolons SQLite's own tokenizer sees (not those in comments)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement: {pending.strip()[:64]!r}")
    return statements


def migrate(db: sqlite3.Connection, path: Path) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise GdprStoreError(f"{path}: schema version {version} is newer than this "
                                 f"llmward's ({SCHEMA_VERSION}); upgrade llmward")
        for number in range(version, SCHEMA_VERSION):
            for statement in _statements(_MIGRATIONS[number]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number + 1}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
