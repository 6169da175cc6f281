"""The key store's files: a 0700 directory, a 0600 database file, a 0600 pepper file."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

PEPPER_BYTES = 32


class KeyStoreError(Exception):
    """The key store's files are missing, unreadable, or readable by others."""


def private_dir(path: Path) -> None:
    """Create `path` with mode 0700, or check that an existing one is not open to others."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _owner_only(path)


def private_file(path: Path) -> None:
    """Create an empty file with mode 0600 if there is none (before SQLite does, with the
    umask's mode); refuse an existing one that others may read or write."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except FileExistsError:
        pass
    _owner_only(path)


def load_pepper(path: Path) -> bytes:
    """The store's pepper, created on first use. Concurrent first uses agree: each writes a
    complete temporary file and links it into place; the link succeeds for one of them."""
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(secrets.token_bytes(PEPPER_BYTES))
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            tmp.unlink()
    _owner_only(path)
    with open(path, "rb") as file:
        pepper = file.read(PEPPER_BYTES + 1)
    if len(pepper) != PEPPER_BYTES:
        raise KeyStoreError(f"{path}: expected {PEPPER_BYTES} bytes of pepper")
    return pepper


def _owner_only(path: Path) -> None:
    mode = path.lstat()
    if stat.S_ISLNK(mode.st_mode):
        raise KeyStoreError(f"{path}: is a symbolic link")
    if stat.S_IMODE(mode.st_mode) & 0o077:
        raise KeyStoreError(f"{path}: mode {stat.S_IMODE(mode.st_mode):o} lets other users "
                            "in; chmod it to 0600 (files) or 0700 (directories)")
