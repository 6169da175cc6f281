"""Errors of secret resolution. Messages name secrets and sources, never values or tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Miss:
    """Why one source did not supply a secret."""

    source: str  # e.g. "environment (LLMWARD_SECRET_DB_PASSWORD)"
    reason: str  # e.g. "not set"


class SecretNotFound(LookupError):
    """No source supplied a secret. Raised at startup; the message lists every source tried and
    why each did not have it, so the operator can fix the configuration without guessing."""

    def __init__(self, name: str, misses: Sequence[Miss]) -> None:
        self.name = name
        self.misses = tuple(misses)
        tried = "\n".join(f"  - {m.source}: {m.reason}" for m in self.misses) or "  (no sources)"
        super().__init__(f"secret {name!r} not found; sources tried, in order:\n{tried}")


class SecretsMissing(LookupError):
    """Several required secrets are missing (reported together so one restart fixes them all)."""

    def __init__(self, errors: Sequence[SecretNotFound]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


class VaultError(Exception):
    """A Vault request failed. ``status`` is the HTTP status (0 when no response came)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)
