"""Compare a model directory with expected per-file digests: which files match,
which differ, which are missing and which are extra.

Shared by manifest verification and signature verification, so both apply the
same ignore rules, the same constant-time comparison and the same verify cache.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from llmward.integrity.errors import FormatError
from llmward.integrity.hashing import Progress, list_files
from llmward.integrity.hashing import hash_files as hash_files_in_parallel
from llmward.integrity.verify_cache import VerifyCache

# Ignored by default when recording a directory, as the OpenSSF model_signing tool
# does: git metadata changes on every fetch and is not part of the model.
GIT_PATHS = (".git", ".github", ".gitattributes", ".gitignore")

Digests = Mapping[str, str]  # algorithm -> lowercase hex


def check_relative_name(name: object) -> str:
    """`name` if it is a clean relative POSIX path inside the model, else FormatError.

    Recorded names come from files we did not write; one that climbs out of the
    directory or is absolute must not name a file to read.
    """
    if not isinstance(name, str) or not name:
        raise FormatError(f"file name {name!r} is not a non-empty string")
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or "\0" in name or any(
            part in ("", ".", "..") for part in parts):
        raise FormatError(f"file name {name!r} is not a plain relative path")
    return name


def usable_ignore_paths(paths: Iterable[str]) -> tuple[str, ...]:
    """The ignore entries that name something strictly inside the directory.

    An empty or "." entry would ignore the whole model (so any directory would
    match an empty signed list); absolute or climbing entries cannot match. All
    such entries are dropped rather than honoured.
    """
    kept = []
    for raw in paths:
        parts = PurePosixPath(raw).parts
        if parts and not PurePosixPath(raw).is_absolute() and ".." not in parts:
            kept.append(PurePosixPath(*parts).as_posix())
    return tuple(dict.fromkeys(kept))


def is_ignored(name: str, ignore_paths: Sequence[str]) -> bool:
    """Whether `name` is an ignore entry or lies under one (whole components only)."""
    parts = PurePosixPath(name).parts
    for entry in ignore_paths:
        entry_parts = PurePosixPath(entry).parts
        if entry_parts and parts[:len(entry_parts)] == entry_parts:
            return True
    return False


def relative_inside(root: Path, path: Path) -> str | None:
    """`path` relative to `root` (POSIX) when it lies inside it, else None.

    Used to leave a manifest or signature written into the model out of the model.
    """
    resolved_root = root.resolve()
    resolved = path.resolve()
    if resolved == resolved_root or not resolved.is_relative_to(resolved_root):
        return None
    return resolved.relative_to(resolved_root).as_posix()


def select_files(root: Path, ignore_paths: Sequence[str]) -> list[str]:
    """Regular files under `root` (relative POSIX paths, sorted), less the ignored."""
    return [name for name in list_files(root) if not is_ignored(name, ignore_paths)]


@dataclass(frozen=True)
class Mismatch:
    path: str
    algorithm: str
    expected: str
    actual: str


@dataclass
class TreeReport:
    matched: list[str] = field(default_factory=list)
    cached: int = 0  # of the matched, how many were trusted from the verify cache
    mismatched: list[Mismatch] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    extra_allowed: bool = False
    cache_disabled: str | None = None  # why the verify cache was not used, if it was not

    @property
    def ok(self) -> bool:
        return not self.mismatched and not self.missing and (
            self.extra_allowed or not self.extra)


def differing_algorithms(expected: Digests, actual: Digests) -> list[str]:
    """Algorithms of `expected` whose digest differs in `actual` (constant time)."""
    return [algorithm for algorithm, hexdigest in expected.items()
            if not hmac.compare_digest(hexdigest.lower(), actual.get(algorithm, "").lower())]


def check_tree(root: Path, expected: Mapping[str, Digests], *, ignore_paths: Sequence[str],
               cache: VerifyCache | None = None, allow_extra: bool = False, threads: int = 0,
               progress: Progress | None = None) -> TreeReport:
    """Hash the files of `root` that `expected` names (unless the cache vouches for
    them) and compare. Raises OSError / ValueError when the tree cannot be read."""
    present = set(select_files(root, ignore_paths))
    report = TreeReport(extra_allowed=allow_extra,
                        cache_disabled=cache.disabled_reason if cache is not None else None)
    report.extra = sorted(present - expected.keys())
    report.missing = sorted(expected.keys() - present)
    to_hash = []
    for name in sorted(expected.keys() & present):
        if cache is not None and cache.vouches(name, os.stat(root / name), expected[name]):
            report.matched.append(name)
            report.cached += 1
        else:
            to_hash.append(name)
    for name, actual, before in hash_files(root, to_hash, lambda n: tuple(expected[n]),
                                           threads=threads, progress=progress):
        wrong = differing_algorithms(expected[name], actual)
        for algorithm in wrong:
            report.mismatched.append(
                Mismatch(name, algorithm, expected[name][algorithm].lower(), actual[algorithm]))
        if not wrong:
            report.matched.append(name)
            if cache is not None:
                cache.record(name, before, os.stat(root / name), actual)
    if cache is not None:
        cache.save()
    report.matched.sort()
    return report


def hash_files(root: Path, names: Sequence[str],
               algorithms_for: Callable[[str], Sequence[str]], *, threads: int = 0,
               progress: Progress | None = None
               ) -> Iterator[tuple[str, dict[str, str], os.stat_result]]:
    """(name, digests, stat taken before reading) for each file, one read per file,
    several files at a time; `progress` sees the bytes of all the files as one total."""
    stats = {name: os.stat(root / name) for name in names}
    digests = hash_files_in_parallel(root, names, algorithms_for, threads=threads,
                                     progress=progress)
    for name in names:
        yield name, digests[name], stats[name]
