"""The two kinds of integrity error, which the CLI maps to different exit codes.

IntegrityError: the artifact is not what was signed or recorded (exit code 1).
FormatError: an input (key, bundle, manifest) cannot be used at all (exit code 2).
"""

from __future__ import annotations

from pathlib import Path


class IntegrityError(Exception):
    """A bad, missing or foreign signature, or an inconsistent signed statement."""


class FormatError(ValueError):
    """A malformed or unsupported key, bundle or manifest file."""


def read_signature_file(path: Path, max_bytes: int, too_large: type[Exception],
                        what: str) -> bytes:
    """The bytes of a signature file: IntegrityError when it does not exist (a
    model without its signature fails verification), `too_large` when it is
    bigger than any `what` can be (the wrong file: not read into memory)."""
    try:
        if path.stat().st_size > max_bytes:
            raise too_large(f"{path}: too large to be {what}")
        return path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"no signature: {path} does not exist") from None
