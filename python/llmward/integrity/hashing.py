"""File and directory digests (SHA-256 and BLAKE3), each file read once.

The native core reads a file in large aligned buffers and feeds every
requested digest from the same buffers on its own thread, with the GIL
released; BLAKE3 hashes large subtrees on the remaining cores. BLAKE3 alone
on one thread hashes the page cache through a guarded read-only mapping
instead (no copy). A directory's files are hashed several at a time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from llmward import _core

ALGORITHMS = ("sha256", "blake3")
Progress = Callable[[int, int], None]  # (bytes done, bytes total)

Hasher = _core.Hasher


def hash_file(path: str | os.PathLike[str], algorithms: Sequence[str] = ALGORITHMS, *,
              threads: int = 0, progress: Progress | None = None) -> dict[str, str]:
    """Hex digests of one file, every algorithm from the same single read.

    threads: 0 uses every core (SHA-256 takes one, BLAKE3 the rest).
    progress: called as progress(bytes_done, file_size) after each 8 MiB read;
    an exception it raises stops hashing and propagates.
    Raises OSError("file shrank while being hashed") when another process
    truncates the file while it is read: no digest of a partial read is returned.
    LLMWARD_HASH_READ=mmap: BLAKE3 alone on one thread reads through a mapping.
    """
    names = _check_algorithms(algorithms)
    if threads < 0:
        raise ValueError("threads must be 0 (all cores) or more")
    sha256, blake3, _ = _core.hash_file(os.fsencode(path), "sha256" in names,
                                        "blake3" in names, threads, progress)
    digests = {"sha256": sha256, "blake3": blake3}
    return {name: bytes(digests[name] or b"").hex() for name in names}


def hash_directory(path: str | os.PathLike[str], algorithms: Sequence[str] = ALGORITHMS, *,
                   threads: int = 0, progress: Progress | None = None
                   ) -> dict[str, dict[str, str]]:
    """Digests of every regular file under `path`, keyed by POSIX path relative
    to it, sorted. Symlinks are followed only when they resolve inside `path`
    (one that leaves it raises ValueError). Files are hashed in parallel: up to
    one per core, each with its share of the threads.

    progress: called as progress(bytes_done, bytes_total) over the whole directory.
    """
    root = Path(path)
    files = list_files(root)
    return hash_files(root, files, algorithms, threads=threads, progress=progress)


def hash_files(root: str | os.PathLike[str], files: Sequence[str],
               algorithms: Sequence[str] | Callable[[str], Sequence[str]] = ALGORITHMS, *,
               threads: int = 0, progress: Progress | None = None) -> dict[str, dict[str, str]]:
    """Digests of the given files (POSIX paths relative to root), in parallel.
    `algorithms` may be a function of the file name (each file's own set)."""
    def algorithms_for(rel: str) -> Sequence[str]:
        return algorithms(rel) if callable(algorithms) else algorithms

    for rel in files:
        _check_algorithms(algorithms_for(rel))
    base = Path(root)
    cores = threads or os.cpu_count() or 1
    workers = max(1, min(cores, len(files)))
    per_file = max(1, cores // workers)
    sizes = {rel: (base / rel).stat().st_size for rel in files}
    total = sum(sizes.values())
    # Workers report from their own threads: the running total and the calls
    # to `progress` are serialized.
    lock = threading.Lock()
    finished = 0
    in_flight: dict[str, int] = {}

    def report(rel: str, done: int, file_finished: bool) -> None:
        nonlocal finished
        if progress is None:
            return
        with lock:
            if file_finished:
                in_flight.pop(rel, None)
                finished += sizes[rel]
            else:
                in_flight[rel] = done
            progress(finished + sum(in_flight.values()), total)

    def one(rel: str) -> tuple[str, dict[str, str]]:
        digests = hash_file(base / rel, algorithms_for(rel), threads=per_file,
                            progress=(lambda done, _size: report(rel, done, False))
                            if progress is not None else None)
        report(rel, sizes[rel], True)
        return rel, digests

    if workers == 1:
        results = dict(one(rel) for rel in files)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = dict(pool.map(one, files))
    return {rel: results[rel] for rel in sorted(results)}


def list_files(root: Path) -> list[str]:
    """Regular files under root (relative POSIX paths, sorted). A symlinked
    file inside root is listed; symlinked directories are not descended (what
    they hold inside root is listed under its real path); any symlink that
    leaves root raises ValueError."""
    resolved_root = root.resolve(strict=True)
    if not resolved_root.is_dir():
        raise NotADirectoryError(f"not a directory: {root}")

    def inside(link: Path) -> Path:
        target = link.resolve(strict=True)
        if not target.is_relative_to(resolved_root):
            raise ValueError(f"{link}: symlink points outside {root}")
        return target

    out = []
    for dirpath, dirs, files in os.walk(root, followlinks=False):
        for name in dirs:
            if (Path(dirpath) / name).is_symlink():
                inside(Path(dirpath) / name)
        for name in files:
            full = Path(dirpath) / name
            if inside(full).is_file():
                out.append(full.relative_to(root).as_posix())
    return sorted(out)


def _check_algorithms(algorithms: Iterable[str]) -> list[str]:
    if isinstance(algorithms, str):
        raise TypeError("algorithms is a sequence of names, e.g. ('sha256',)")
    names = list(dict.fromkeys(algorithms))
    if not names:
        raise ValueError("no algorithm requested")
    for name in names:
        if name not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {name!r} (use {', '.join(ALGORITHMS)})")
    return names
