"""`llmward hash FILE|DIR`: SHA-256 and BLAKE3 digests in one read per file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from llmward.cli import EXIT_OK, CliError
from llmward.cli.integrity_report import input_errors, progress_bar
from llmward.integrity.hashing import ALGORITHMS, hash_directory, hash_file


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "hash", help="digest a file or every file of a directory",
        description="Digest a file, or every file under a directory, reading each once.")
    parser.add_argument("path", metavar="FILE|DIR")
    parser.add_argument("--algo", default=",".join(ALGORITHMS),
                        help="comma-separated algorithms (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0,
                        help="worker threads, 0 = one per core (default)")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (it is shown only when stderr is a terminal)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    algorithms = [name.strip() for name in args.algo.split(",") if name.strip()]
    if args.threads < 0:
        raise CliError("--threads must be 0 (one per core) or more")
    path = Path(args.path)
    with input_errors(), progress_bar(f"hashing {path.name}", args.no_progress) as bar:
        if path.is_dir():
            digests = hash_directory(path, algorithms, threads=args.threads, progress=bar)
            results = {(path / rel).as_posix(): d for rel, d in digests.items()}
        else:
            results = {path.as_posix(): hash_file(path, algorithms, threads=args.threads,
                                                  progress=bar)}
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        for name, digests_of_file in results.items():
            for algorithm, hexdigest in digests_of_file.items():
                print(f"{algorithm}:{hexdigest}  {name}")
    return EXIT_OK
