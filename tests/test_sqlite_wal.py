"""enable_wal: the switch to WAL mode waits out another connection's lock (SQLite itself
answers "database is locked" at once there), and gives up after its timeout."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from llmward.sqlite_wal import enable_wal


def _locked_by_another(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_waits_for_the_lock_then_switches(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    holder = _locked_by_another(path)
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    db = sqlite3.connect(path, timeout=0, isolation_level=None)  # SQLite alone would not wait
    try:
        assert enable_wal(db, 5.0) == "wal"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        release.join()
        db.close()
        holder.close()


def test_gives_up_after_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    holder = _locked_by_another(path)
    db = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            enable_wal(db, 0.2)
    finally:
        db.close()
        holder.execute("COMMIT")
        holder.close()
