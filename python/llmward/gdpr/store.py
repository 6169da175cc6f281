"""`GdprStore`: the processing log and the (opt-in) encrypted store of prompts and
responses, in one SQLite file, `<data dir>/gdpr/gdpr.sqlite` (mode 0600, in a 0700
directory next to the master key file).

Everything about a user is encrypted under that user's data key (see `crypto`) and found
by the user's lookup tag, so the file never holds a user id or a text in clear. Erasure
deletes the user's stored messages and the wrapped data key and unlinks the user's
processing entries (the entries stay, as the record that processing happened, without
the person). `secure_delete` makes SQLite overwrite deleted content with zeros, and a
TRUNCATE checkpoint afterwards empties the write-ahead log, so neither the database nor
its -wal file keeps a copy of what was erased.

The methods are synchronous and thread-safe (one connection behind a lock); the server
calls them through `asyncio.to_thread`. Other processes (the CLI) may use the same file
at once: SQLite's WAL mode and busy timeout serialize the writers, and each operation
that needs a data key reads it inside the same transaction that uses it, so an erasure
in another process can never leave rows under a destroyed key.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from hmac import compare_digest
from pathlib import Path
from typing import Any

from llmward.gdpr.config import CONVERSATION_STORAGE, GdprConfig, Purpose
from llmward.gdpr.crypto import (
    DecryptionFailed,
    MasterKey,
    decrypt_record,
    encrypt_record,
    new_data_key,
)
from llmward.gdpr.files import GdprStoreError, private_dir, private_file
from llmward.gdpr.inputs import check_detail, check_request_id, check_text, check_user
from llmward.gdpr.master_key import load_master_key
from llmward.gdpr.records import (
    ErasureReport,
    ProcessingEntry,
    StoredMessage,
    from_us,
    to_us,
)
from llmward.gdpr.schema import migrate
from llmward.secrets import SecretResolver
from llmward.sqlite_wal import enable_wal

__all__ = ["GdprStore", "GdprStoreError", "open_gdpr_store", "store_path"]

STORE_DIR = "gdpr"
STORE_FILE = "gdpr.sqlite"
BUSY_TIMEOUT_S = 5.0
CHECKPOINT_ATTEMPTS = 5
_KEY_CHECK = "master_key_check"
_USER_KIND = "processing.user"
_DETAIL_KIND = "processing.detail"
_MESSAGES = ("SELECT id, created_at, kind, request_id, purpose, ciphertext FROM conversations "
             "WHERE user_tag = ? ORDER BY created_at, rowid")
_ENTRIES = ("SELECT id, created_at, user_ref, purpose, legal_basis, data_categories, "
            "request_id, detail FROM processing WHERE user_tag = ? ORDER BY created_at, rowid")


def store_path(data_dir: Path) -> Path:
    return Path(data_dir) / STORE_DIR / STORE_FILE


def open_gdpr_store(data_dir: Path, config: GdprConfig | None = None, *,
                    secrets: SecretResolver | None = None,
                    clock: Callable[[], datetime] | None = None) -> GdprStore:
    """The store under the data directory, created (with a master key file, unless the
    `gdpr_master_key` secret is set) on first use."""
    path = store_path(data_dir)
    private_dir(path.parent)
    new = not path.exists() or path.stat().st_size == 0
    master = load_master_key(path.parent, create=new, resolver=secrets)
    return GdprStore(path, master, config or GdprConfig(), clock=clock)


class GdprStore:
    def __init__(self, path: Path | str, master: MasterKey, config: GdprConfig, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path(path)
        self.config = config
        self._master = master
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._lock = threading.Lock()
        private_dir(self.path.parent)
        private_file(self.path)  # SQLite gives the -wal and -shm files the same mode
        self._db: sqlite3.Connection | None = self._connect()
        try:
            migrate(self._db, self.path)
            self._check_master_key()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"GdprStore({str(self.path)!r})"

    # -- the processing log -----------------------------------------------------------------
    def record_processing(self, user: str, purpose: str, *, request_id: str | None = None,
                          detail: str | None = None) -> str:
        """Log that `user`'s data was processed for `purpose` (a configured purpose, whose
        legal basis and data categories are copied into the entry); returns the entry id."""
        user, spec = check_user(user), self.config.purpose(purpose)
        request_id = None if request_id is None else check_request_id(request_id)
        detail_bytes = None if detail is None else check_detail(detail)
        with self._transaction() as db:
            key = self._created_data_key(db, user)
            return self._insert_entry(db, key, user, spec, request_id, detail_bytes)

    def processing(self, user: str) -> list[ProcessingEntry]:
        user = check_user(user)
        with self._transaction("DEFERRED") as db:
            return self._entries(db, user, self._data_key(db, user, create=False))

    # -- stored conversations ---------------------------------------------------------------
    def store_conversation(self, user: str, request_id: str, prompt: str,
                           response: str | None = None) -> bool:
        """Keep `prompt` (and `response`, when there is one) encrypted under the user's data
        key and log the processing, if `store_conversations` is on; False, storing nothing,
        when it is off (the default). Inputs are checked either way."""
        user, request_id = check_user(user), check_request_id(request_id)
        texts = [("prompt", check_text("prompt", prompt))]
        if response is not None:
            texts.append(("response", check_text("response", response)))
        if not self.config.store_conversations:
            return False
        spec = self.config.purpose(CONVERSATION_STORAGE)
        now = to_us(self._clock())
        with self._transaction() as db:
            key = self._created_data_key(db, user)
            tag = self._master.user_tag(user)
            for kind, text in texts:
                record_id = secrets.token_hex(16)
                db.execute("INSERT INTO conversations (id, user_tag, created_at, kind, "
                           "request_id, purpose, ciphertext) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (record_id, tag, now, kind, request_id, spec.name,
                            encrypt_record(key, user, record_id, kind, text)))
            self._insert_entry(db, key, user, spec, request_id, None)
        return True

    def conversations(self, user: str) -> list[StoredMessage]:
        """The user's stored prompts and responses, decrypted, oldest first."""
        user = check_user(user)
        with self._transaction("DEFERRED") as db:
            return self._messages(db, user, self._data_key(db, user, create=False))

    def expire(self, now: datetime | None = None, *,
               older_than: timedelta | None = None) -> int:
        """Delete stored prompts and responses older than `older_than` (default: the
        configured `conversation_retention_days`); return how many were deleted."""
        if older_than is None:
            days = self.config.conversation_retention_days
            if days is None:
                return 0
            older_than = timedelta(days=days)
        if older_than < timedelta(0):
            raise ValueError("older_than: expected a duration of 0 or more")
        cutoff = to_us((now or self._clock()) - older_than)
        with self._transaction() as db:
            deleted: int = db.execute("DELETE FROM conversations WHERE created_at < ?",
                                      (cutoff,)).rowcount
        if deleted:
            self._truncate_wal()
        return deleted

    # -- the data subject's rights ----------------------------------------------------------
    def erase(self, user: str) -> ErasureReport:
        """Delete the user's stored messages, destroy their data key (whatever remains
        encrypted under it, in this file's history or elsewhere, becomes unreadable) and
        unlink their processing entries. Idempotent."""
        user = check_user(user)
        tag = self._master.user_tag(user)
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM conversations WHERE user_tag = ?",
                                 (tag,)).rowcount
            destroyed = db.execute("DELETE FROM data_keys WHERE user_tag = ?",
                                   (tag,)).rowcount == 1
            unlinked = db.execute(
                "UPDATE processing SET user_tag = NULL, user_ref = NULL, detail = NULL, "
                "erased_at = ? WHERE user_tag = ?", (to_us(self._clock()), tag)).rowcount
        return ErasureReport(deleted, destroyed, unlinked, self._truncate_wal())

    def export(self, user: str) -> dict[str, Any]:
        """Everything this store holds about `user`, decrypted, as JSON-ready values."""
        user = check_user(user)
        with self._transaction("DEFERRED") as db:
            row = db.execute("SELECT created_at FROM data_keys WHERE user_tag = ?",
                             (self._master.user_tag(user),)).fetchone()
            key = self._data_key(db, user, create=False)
            messages = self._messages(db, user, key)
            entries = self._entries(db, user, key)
        used = sorted({e.purpose for e in entries} | {m.purpose for m in messages})
        return {
            "data_key_created_at": None if row is None else from_us(row[0]).isoformat(),
            "conversations": [m.as_dict() for m in messages],
            "processing": [e.as_dict() for e in entries],
            "purposes": [self.config.purposes[name].as_dict() for name in used
                         if name in self.config.purposes],
            "retention": {"conversation_retention_days":
                          self.config.conversation_retention_days},
        }

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> GdprStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions only where _transaction opens them.
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                             check_same_thread=False)
        try:
            mode = enable_wal(db, BUSY_TIMEOUT_S)
            if mode != "wal":
                raise GdprStoreError(f"{self.path}: cannot use WAL mode (got {mode})")
            db.execute("PRAGMA secure_delete = ON")  # erased rows are overwritten with zeros
            if db.execute("PRAGMA secure_delete").fetchone()[0] != 1:
                raise GdprStoreError(f"{self.path}: this SQLite cannot secure_delete")
            db.execute("PRAGMA synchronous = FULL")  # an erasure survives power loss
        except BaseException:
            db.close()
            raise
        return db

    @contextlib.contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None:
                raise RuntimeError("the GDPR store is closed")
            db = self._db
            db.execute(f"BEGIN {mode}")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _check_master_key(self) -> None:
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE name = ?", (_KEY_CHECK,)).fetchone()
            if row is None:
                db.execute("INSERT INTO meta (name, value) VALUES (?, ?)",
                           (_KEY_CHECK, self._master.check_value))
            elif not compare_digest(row[0], self._master.check_value):
                raise GdprStoreError(
                    f"{self.path}: the master key from {self._master.source} is not the one "
                    "this store was created with; its data cannot be read with it")

    def _truncate_wal(self) -> bool:
        """Checkpoint and empty the -wal file; a reader in another process may hold it."""
        with self._lock:
            if self._db is None:
                raise RuntimeError("the GDPR store is closed")
            for attempt in range(CHECKPOINT_ATTEMPTS):
                busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if busy == 0:
                    return True
                time.sleep(0.05 * (attempt + 1))
        return False

    def _data_key(self, db: sqlite3.Connection, user: str, *, create: bool) -> bytes | None:
        tag = self._master.user_tag(user)
        row = db.execute("SELECT wrapped FROM data_keys WHERE user_tag = ?", (tag,)).fetchone()
        if row is not None:
            try:
                return self._master.unwrap(user, row[0])
            except DecryptionFailed:
                raise GdprStoreError(f"{self.path}: a data key does not unwrap (altered "
                                     "row or another master key)") from None
        if not create:
            return None
        key = new_data_key()
        db.execute("INSERT INTO data_keys (user_tag, wrapped, created_at) VALUES (?, ?, ?)",
                   (tag, self._master.wrap(user, key), to_us(self._clock())))
        return key

    def _created_data_key(self, db: sqlite3.Connection, user: str) -> bytes:
        """The user's data key, created if there is none yet."""
        key = self._data_key(db, user, create=True)
        if key is None:  # unreachable: create=True returns a key or raises (checked, not
            raise GdprStoreError(f"{self.path}: no data key for the user")  # asserted: -O)
        return key

    def _insert_entry(self, db: sqlite3.Connection, key: bytes, user: str, spec: Purpose,
                      request_id: str | None, detail: bytes | None) -> str:
        entry_id = secrets.token_hex(16)
        db.execute(
            "INSERT INTO processing (id, created_at, user_tag, user_ref, purpose, legal_basis, "
            "data_categories, request_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry_id, to_us(self._clock()), self._master.user_tag(user),
             encrypt_record(key, user, entry_id, _USER_KIND, user.encode("utf-8")),
             spec.name, spec.legal_basis, json.dumps(list(spec.data_categories)), request_id,
             None if detail is None else encrypt_record(key, user, entry_id, _DETAIL_KIND,
                                                        detail)))
        return entry_id

    def _messages(self, db: sqlite3.Connection, user: str,
                  key: bytes | None) -> list[StoredMessage]:
        if key is None:
            return []
        out = []
        for record_id, created_at, kind, request_id, purpose, blob in db.execute(
                _MESSAGES, (self._master.user_tag(user),)):
            text = self._open(key, user, record_id, kind, blob)
            out.append(StoredMessage(record_id, from_us(created_at), kind, request_id, purpose,
                                     text))
        return out

    def _entries(self, db: sqlite3.Connection, user: str,
                 key: bytes | None) -> list[ProcessingEntry]:
        if key is None:
            return []
        out = []
        for (entry_id, created_at, user_ref, purpose, basis, categories, request_id,
             detail) in db.execute(_ENTRIES, (self._master.user_tag(user),)):
            if self._open(key, user, entry_id, _USER_KIND, user_ref) != user:
                raise GdprStoreError(f"{self.path}: processing entry {entry_id} names "
                                     "another user")
            out.append(ProcessingEntry(
                entry_id, from_us(created_at), purpose, basis, tuple(json.loads(categories)),
                request_id,
                None if detail is None else self._open(key, user, entry_id, _DETAIL_KIND,
                                                       detail)))
        return out

    def _open(self, key: bytes, user: str, record_id: str, kind: str, blob: bytes) -> str:
        try:
            return decrypt_record(key, user, record_id, kind, blob).decode("utf-8")
        except (DecryptionFailed, UnicodeDecodeError):
            raise GdprStoreError(f"{self.path}: record {record_id} does not decrypt "
                                 "(altered, or moved from another user or row)") from None
