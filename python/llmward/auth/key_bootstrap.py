"""The first admin key, created on first start so a fresh install can be administered."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

BOOTSTRAP_USER = "bootstrap-admin"
ADMIN_ROLE = "admin"


class _Record(Protocol):
    @property
    def created_at(self) -> datetime: ...


class BootstrapStore(Protocol):
    def create_first(self, user: str, role: str, secret_key: str | None = None
                     ) -> tuple[str, _Record] | None: ...


def bootstrap_admin_key(store: BootstrapStore, secret_value: str | None = None) -> str | None:
    """Create the admin key if the store has never had one.

    Returns the new plaintext key, for the caller to show the operator once (on the
    terminal, never through a logger); None when an admin key already exists (even revoked
    or expired: recovery is `llmward keys create --role admin` on the host) or when the key
    was `secret_value` (e.g. from `secret("bootstrap_admin_key")`), which the operator
    already holds. A `secret_value` not of the key format raises KeyInputError without
    quoting it. Safe to call on every start, from several processes at once."""
    created = store.create_first(BOOTSTRAP_USER, ADMIN_ROLE, secret_value)
    if created is None or secret_value is not None:
        return None
    return created[0]
