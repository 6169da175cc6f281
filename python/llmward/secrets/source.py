"""The interface every secret source implements."""

from __future__ import annotations

from typing import Protocol

from .errors import Miss
from .value import SecretValue


class SecretSource(Protocol):
    def lookup(self, name: str) -> SecretValue | Miss:
        """The secret, or why this source does not have it. Never raises for a missing or
        unreachable secret: the resolver goes on to the next source and reports every miss."""
        ...
