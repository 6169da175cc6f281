"""Secrets from files: Docker secrets (``/run/secrets/<name>``), Kubernetes secret volumes, or
any configured directory. The file's content, less one trailing newline, is the value.

Changes are picked up on the next lookup. Kubernetes updates a secret volume by writing a new
timestamped directory and atomically swapping the ``..data`` symlink, so the visible file's
mtime may not move in a way we can trust; the cache key is the (device, inode, size, mtime_ns) of
the file the path resolves to, which changes on any swap, rewrite or replacement.

Permissions: a world-writable file is refused (anyone could substitute the secret). A file
readable by group or others is logged as a warning once, and refused when ``strict_permissions``
is on; it is not refused by default because Docker (0444) and Kubernetes (0644 unless
``defaultMode`` is set) create secret files that way.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Miss
from .value import SecretValue

log = logging.getLogger(__name__)

DOCKER_SECRETS_DIR = Path("/run/secrets")
MAX_SECRET_FILE_BYTES = 64 * 1024
# A name is one path component: no separators, no "..", no leading dot (Kubernetes keeps its
# own ..data and ..<timestamp> entries in the same directory).
_VALID_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")

_Identity = tuple[int, int, int, int, int]


def _identity(st: os.stat_result) -> _Identity:
    # The mode too, so a chmod that makes a cached file unacceptable is noticed.
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode


def _strip_one_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


class FileSource:
    def __init__(
        self,
        directories: Sequence[str | os.PathLike[str]] = (DOCKER_SECRETS_DIR,),
        *,
        strict_permissions: bool = False,
        max_bytes: int = MAX_SECRET_FILE_BYTES,
    ) -> None:
        self._directories = [Path(d) for d in directories]
        self._strict = strict_permissions
        self._max_bytes = max_bytes
        self._cache: dict[Path, tuple[_Identity, str]] = {}
        self._warned: set[Path] = set()
        self._lock = threading.Lock()

    def lookup(self, name: str) -> SecretValue | Miss:
        if not self._directories:
            return Miss("files", "no secret directories configured")
        if not _VALID_NAME.fullmatch(name) or ".." in name:
            return Miss("files", "name is not a valid file name")
        reasons = []
        for directory in self._directories:
            found = self._read(directory / name)
            if isinstance(found, _Found):
                return SecretValue(name, found.value, "file")
            reasons.append(f"{directory / name}: {found}")
        return Miss("files", "; ".join(reasons))

    def _read(self, path: Path) -> _Found | str:
        """The value, or the reason there is none."""
        try:
            st = os.stat(path)  # follows the ..data symlink chain to the current file
        except FileNotFoundError:
            return "no such file"
        except OSError as e:
            return f"cannot stat ({e.strerror})"
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"  # checked before open: opening a FIFO would block
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == _identity(st):
            return _Found(cached[1])
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as e:
            return f"cannot open ({e.strerror})"
        with os.fdopen(fd, "rb") as f:
            # Check and key the cache on the file actually opened, not on the earlier stat,
            # so a swap between the two cannot pair one file's identity with another's bytes.
            st = os.fstat(f.fileno())
            problem = self._check_mode(path, st)
            if problem:
                return problem
            data = f.read(self._max_bytes + 1)
        if len(data) > self._max_bytes:
            return f"larger than {self._max_bytes} bytes"
        try:
            value = _strip_one_newline(data.decode("utf-8"))
        except UnicodeDecodeError:
            return "not UTF-8 text"
        if value == "":
            return "empty"
        with self._lock:
            self._cache[path] = (_identity(st), value)
        return _Found(value)

    def _check_mode(self, path: Path, st: os.stat_result) -> str | None:
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_mode & stat.S_IWOTH:
            return "refused: writable by others"
        if st.st_mode & (stat.S_IRGRP | stat.S_IROTH):
            if self._strict:
                return f"refused: readable by group or others (mode {st.st_mode & 0o777:o})"
            if path not in self._warned:
                self._warned.add(path)
                log.warning(
                    "secret file %s is readable by group or others (mode %o)",
                    path,
                    st.st_mode & 0o777,
                )
        return None


@dataclass(frozen=True)
class _Found:
    value: str = field(repr=False)
