"""Shared entry point of the atheris harnesses (tests/fuzz/fuzz_*.py): writes the
harness's generated seeds into the corpus directory it is given, then hands the
command line (libFuzzer's flags) to atheris. Any exception a harness lets escape is a
crash: atheris prints it and saves the input."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import atheris


def write_seeds(seeds: Iterable[bytes], argv: list[str]) -> None:
    """Each seed into every corpus directory on the command line (named by content,
    so reruns add nothing)."""
    for arg in argv[1:]:
        directory = Path(arg)
        if arg.startswith("-") or not directory.is_dir():
            continue
        for seed in seeds:
            path = directory / ("seed-" + hashlib.sha256(seed).hexdigest()[:16])
            if not path.exists():
                path.write_bytes(seed)


def run(test_one_input: Callable[[bytes], None], seeds: Callable[[], Iterable[bytes]]) -> None:
    write_seeds(list(seeds()), sys.argv)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
