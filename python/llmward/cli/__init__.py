"""The ``llmward`` command line: one subcommand module per area.

Each module in ``COMMANDS`` exposes ``register(subparsers)``, which adds its
subcommand(s) and sets ``handler`` (a function taking the parsed arguments and
returning the exit code) on each parser.

Exit codes (shared by every subcommand, documented in README.md):
  0  success
  1  integrity failure: a digest mismatch, a bad or missing signature, a refused file;
     for `scan`, a finding outside the allowlist
  2  usage or input error: bad arguments, unreadable files, malformed keys or bundles
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_INTEGRITY = 1
EXIT_USAGE = 2

# Subcommand modules, in the order `llmward --help` lists them.
COMMANDS = (
    "llmward.cli.hash_cmd",
    "llmward.cli.manifest_cmd",
    "llmward.cli.sign_cmd",
    "llmward.cli.inspect_cmd",
    "llmward.cli.keys_cmd",
    "llmward.cli.audit_cmd",
    "llmward.cli.gdpr_cmd",
    "llmward.cli.scan_cmd",
    "llmward.cli.serve_cmd",
)


class CliError(Exception):
    """An input or usage error: printed as `llmward: error: ...`, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmward", description="Security guard for LLM inference."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except CliError as error:
        print(f"llmward: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
