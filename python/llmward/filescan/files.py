"""Which files `llmward scan` reads, and how.

Paths named on the command line are used as given (a symlink is followed). In a
directory walk:

* folders named in ``SKIPPED_DIRS`` (VCS metadata, virtualenvs, caches, build
  output) and ``*.egg-info`` folders are not entered;
* symlinks and special files (FIFOs, sockets, devices) are passed over: a link
  may leave the tree or loop, and opening a FIFO blocks.

Every file, named or found, is then read up to ``max_bytes``: a larger one is
skipped with a note, and so is a binary one (a NUL byte in its first 8000
bytes, git's own test; UTF-16 text counts as binary). The rest is decoded as
UTF-8 with undecodable bytes replaced (U+FFFD), so a secret in Latin-1 text is
still found and line numbers stay right.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn",  # version control
    ".venv", "venv", ".tox", ".nox", ".eggs", "node_modules",  # installed dependencies
    "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
    ".benchmarks",  # caches
    "build", "dist", ".stamps",  # build output
})
SKIPPED_DIR_SUFFIXES = (".egg-info",)
BINARY_SNIFF_BYTES = 8000
DEFAULT_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file not scanned, and why ("binary", "over N bytes")."""

    path: Path
    reason: str


def check_named(path: Path) -> None:
    """Raises ValueError unless `path` is an existing file or directory."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file or directory") from None
    except OSError as error:
        raise ValueError(f"{path}: {error.strerror}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ValueError(f"{path}: not a regular file or directory")


def iter_files(paths: list[Path], errors: list[str]) -> Iterator[Path]:
    """The named files, and the files under the named directories (sorted, skipped
    folders pruned), in order. A folder that cannot be listed is added to `errors`:
    the scan is then incomplete, not clean."""
    for path in paths:
        if path.is_dir():
            yield from _walk(path, errors)
        else:
            yield path


def _walk(root: Path, errors: list[str]) -> Iterator[Path]:
    def unlisted(error: OSError) -> None:
        errors.append(f"{error.filename}: cannot list: {error.strerror}")

    for directory, dirs, files in os.walk(root, onerror=unlisted, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not _skipped_dir(d))
        base = Path(directory)
        for name in sorted(files):
            path = base / name
            try:
                mode = path.lstat().st_mode
            except OSError:
                yield path  # vanished or unreadable: read_text reports it
                continue
            if stat.S_ISREG(mode):
                yield path


def _skipped_dir(name: str) -> bool:
    return name in SKIPPED_DIRS or name.endswith(SKIPPED_DIR_SUFFIXES)


def read_text(path: Path, max_bytes: int) -> str | Skipped:
    """The file's text, or why it is skipped. OSError propagates (unreadable)."""
    with path.open("rb") as file:
        if os.fstat(file.fileno()).st_size > max_bytes:
            return Skipped(path, f"over {max_bytes} bytes")
        data = file.read(max_bytes + 1)  # the file may have grown since fstat
    if len(data) > max_bytes:
        return Skipped(path, f"over {max_bytes} bytes")
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return Skipped(path, "binary")
    return data.decode("utf-8", errors="replace")
