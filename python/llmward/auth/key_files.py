"""The key store's files: a 0700 directory, a 0600 database file, a 0600 pepper file
(owner-only, see llmward.private_files)."""

from __future__ import annotations

import secrets
from pathlib import Path

from llmward import private_files

PEPPER_BYTES = 32


class KeyStoreError(Exception):
    """The key store's files are missing, unreadable, or readable by others."""


def private_dir(path: Path) -> None:
    private_files.private_dir(path, KeyStoreError)


def private_file(path: Path) -> None:
    private_files.private_file(path, KeyStoreError)


def load_pepper(path: Path) -> bytes:
    """The store's pepper, created on first use; concurrent first uses agree on one."""
    if not path.exists():
        private_files.create_once(path, secrets.token_bytes(PEPPER_BYTES))
    pepper = private_files.read_private(path, PEPPER_BYTES, KeyStoreError)
    if len(pepper) != PEPPER_BYTES:
        raise KeyStoreError(f"{path}: expected {PEPPER_BYTES} bytes of pepper")
    return pepper
