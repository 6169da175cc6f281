"""Switching a SQLite store to WAL mode when other processes may open it at the same time
(key store, GDPR store).

The switch needs the database to itself, and SQLite answers "database is locked" at once,
without waiting for its busy timeout, when another connection is opening or switching the
same new file. The switch is made once per file (the mode persists), so the retry below only
ever runs while several processes create a store together."""

from __future__ import annotations

import sqlite3
import time

_RETRY_PAUSE_S = 0.01


def enable_wal(db: sqlite3.Connection, timeout_s: float) -> str:
    """`PRAGMA journal_mode = WAL`, retried while the database is locked, for up to
    `timeout_s`; returns the journal mode SQLite reports (callers check it is "wal")."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return str(db.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(_RETRY_PAUSE_S)
