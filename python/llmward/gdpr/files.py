"""The GDPR store's files (owner-only, see llmward.private_files) and its error."""

from __future__ import annotations

from pathlib import Path

from llmward import private_files


class GdprStoreError(RuntimeError):
    """The store cannot be used safely: unsafe files, a missing or different master key,
    a schema from a newer llmward."""


def private_dir(path: Path) -> None:
    private_files.private_dir(path, GdprStoreError)


def private_file(path: Path) -> None:
    private_files.private_file(path, GdprStoreError)


def read_private(path: Path, limit: int) -> bytes:
    return private_files.read_private(path, limit, GdprStoreError)


create_once = private_files.create_once
fsync_dir = private_files.fsync_dir
