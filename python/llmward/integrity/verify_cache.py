"""Remembers which files already matched, so re-verifying an unchanged model only
stats its files instead of reading them.

A cache entry says: the file at this relative path, while it had this
(device, inode, size, mtime_ns, ctime_ns), had these digests. It is trusted only
when all five still hold. ctime is in the key because user space cannot set it:
a tamperer who restores mtime with `touch -d` or os.utime still moves ctime.

One cache file per model directory, bound to a `binding` string (the digest of
the manifest, or of the signed statement): a cache written against one manifest
is never read against another. The cache is only as trustworthy as the data
directory holding it, so it is ignored when that directory is not private.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat as stat_mode
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CACHE_VERSION = 1
# A file changed within the filesystem's timestamp granularity after we hashed it
# could keep the same stat key ("racy clean", as git calls it). Files modified
# this recently are therefore hashed every time until they age past the window.
RACY_WINDOW_NS = 2_000_000_000

StatKey = tuple[int, int, int, int, int]


def stat_key(st: os.stat_result) -> StatKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class VerifyCache:
    """Load with `open`, ask `vouches`, tell `record`, then `save`."""

    def __init__(self, path: Path | None, directory: str, binding: str,
                 entries: dict[str, Any], disabled_reason: str | None = None) -> None:
        self._path = path
        self._directory = directory
        self._binding = binding
        self._old = entries
        self._new: dict[str, Any] = {}
        self.disabled_reason = disabled_reason

    @classmethod
    def open(cls, data_dir: Path, model_dir: Path, binding: str, *,
             trust_existing: bool = True) -> VerifyCache:
        """The cache for `model_dir` under `binding`; with trust_existing=False (a
        full verification) nothing is vouched for, but matches are still recorded."""
        directory = str(model_dir.resolve())
        cache_dir = data_dir / "verify-cache"
        cache_dir.mkdir(mode=0o700, exist_ok=True)
        reason = _untrusted_reason(data_dir) or _untrusted_reason(cache_dir)
        if reason is not None:
            return cls(None, directory, binding, {}, disabled_reason=reason)
        name = hashlib.sha256(os.fsencode(directory)).hexdigest()[:32] + ".json"
        path = cache_dir / name
        entries = _read_entries(path, directory, binding) if trust_existing else {}
        return cls(path, directory, binding, entries)

    def vouches(self, name: str, st: os.stat_result, expected: Mapping[str, str]) -> bool:
        """Whether `name`, as `st` describes it now, was seen with the `expected` digests."""
        entry = self._old.get(name)
        if not isinstance(entry, dict) or entry.get("stat") != list(stat_key(st)):
            return False
        seen = entry.get("digests")
        if not isinstance(seen, dict) or not expected:
            return False
        for algorithm, hexdigest in expected.items():
            value = seen.get(algorithm)
            if not isinstance(value, str) or not hmac.compare_digest(value, hexdigest.lower()):
                return False
        self._new[name] = entry
        return True

    def record(self, name: str, before: os.stat_result, after: os.stat_result,
               digests: Mapping[str, str]) -> None:
        """Remember a file that matched, unless it changed while being read or is too
        recent for its timestamps to prove it has not changed since."""
        if stat_key(before) != stat_key(after):
            return
        newest = max(after.st_mtime_ns, after.st_ctime_ns)
        if time.time_ns() - newest < RACY_WINDOW_NS:
            return
        self._new[name] = {"stat": list(stat_key(after)), "digests": dict(digests)}

    def save(self) -> None:
        """Write the entries vouched for or recorded in this run (others are stale).
        A cache that cannot be written only costs speed, so errors are swallowed."""
        if self._path is None:
            return
        body = {"version": CACHE_VERSION, "directory": self._directory,
                "binding": self._binding, "entries": self._new}
        with contextlib.suppress(OSError):
            fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".tmp-")  # mode 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(body, out, sort_keys=True)
                os.replace(tmp, self._path)
            except BaseException:
                os.unlink(tmp)
                raise


def _read_entries(path: Path, directory: str, binding: str) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if (not isinstance(body, dict) or body.get("version") != CACHE_VERSION
            or body.get("directory") != directory
            or not hmac.compare_digest(str(body.get("binding", "")), binding)
            or not isinstance(body.get("entries"), dict)):
        return {}
    entries: dict[str, Any] = body["entries"]
    return entries


def _untrusted_reason(path: Path) -> str | None:
    """Why a directory cannot hold a cache we trust: someone else could write it."""
    st = path.stat()
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"{path} is not owned by the current user"
    if st.st_mode & (stat_mode.S_IWGRP | stat_mode.S_IWOTH):
        return f"{path} is writable by other users"
    return None
