"""The two kinds of integrity error, which the CLI maps to different exit codes.

IntegrityError: the artifact is not what was signed or recorded (exit code 1).
FormatError: an input (key, bundle, manifest) cannot be used at all (exit code 2).
"""

from __future__ import annotations


class IntegrityError(Exception):
    """A bad, missing or foreign signature, or an inconsistent signed statement."""


class FormatError(ValueError):
    """A malformed or unsupported key, bundle or manifest file."""
