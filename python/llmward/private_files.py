"""Owner-only state files (key store, GDPR store): 0700 directories holding 0600 files, none
of them symbolic links, and new files written completely before they appear under their
name. Each store passes its own error class, so callers see one error type per store."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

ErrorType = type[Exception]


def private_dir(path: Path, error: ErrorType) -> None:
    """Create `path` with mode 0700, or check that an existing one is not open to others."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    owner_only(path, error)


def private_file(path: Path, error: ErrorType) -> None:
    """Create an empty 0600 file unless there is one (before SQLite creates it with the
    umask's mode); refuse an existing one that others may read or write."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except FileExistsError:
        pass
    owner_only(path, error)


def create_once(path: Path, data: bytes) -> None:
    """Write `data` to a 0600 file at `path` unless one exists. Concurrent creators agree:
    each writes and fsyncs a complete temporary file and links it into place; one link
    wins and the others keep the winner's file."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        fsync_dir(path.parent)
    finally:
        tmp.unlink()


def read_private(path: Path, limit: int, error: ErrorType) -> bytes:
    """At most `limit` + 1 bytes of an owner-only regular file (never through a link)."""
    owner_only(path, error)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as file:
        return file.read(limit + 1)


def owner_only(path: Path, error: ErrorType) -> None:
    mode = path.lstat()
    if stat.S_ISLNK(mode.st_mode):
        raise error(f"{path}: is a symbolic link")
    if stat.S_IMODE(mode.st_mode) & 0o077:
        raise error(f"{path}: mode {stat.S_IMODE(mode.st_mode):o} lets other users in; "
                    "chmod it to 0600 (files) or 0700 (directories)")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
