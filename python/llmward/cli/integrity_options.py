"""Options shared by the integrity subcommands, so they read and mean the same."""

from __future__ import annotations

import argparse
from pathlib import Path

from llmward.cli import CliError


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=0,
                        help="hashing threads, 0 = one per core (default)")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (it is shown only when stderr is a terminal)")


def add_verify_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--full", action="store_true",
                        help="re-read every file, ignoring the verify cache")
    parser.add_argument("--allow-extra", action="store_true",
                        help="report files that are not recorded, but do not fail on them")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="llmward data directory holding the verify cache (default: "
                             "$LLMWARD_DATA_DIR, else $XDG_DATA_HOME/llmward, else "
                             "~/.local/share/llmward)")


def check_threads(args: argparse.Namespace) -> int:
    threads: int = args.threads
    if threads < 0:
        raise CliError("--threads must be 0 (one per core) or more")
    return threads


def existing_directory(name: str) -> Path:
    root = Path(name)
    if not root.is_dir():
        raise CliError(f"{name}: not a directory")
    return root
