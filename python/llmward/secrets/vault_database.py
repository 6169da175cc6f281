"""Dynamic database credentials from Vault's database secrets engine
(``GET /v1/<mount>/creds/<role>``), as the seed's ``get_database_credentials`` did.

Each read creates a new database user with a lease, so answers are reused until shortly before
the lease ends rather than fetched per call; the password comes back as a SecretValue.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .errors import VaultError
from .value import SecretValue
from .vault_session import VaultSession

# Fetch new credentials this long before the lease ends, so none is used as it expires.
LEASE_MARGIN_S = 60.0


@dataclass(frozen=True)
class DatabaseCredentials:
    username: str
    password: SecretValue
    lease_id: str
    lease_duration_s: int
    expires_at: float | None  # time.monotonic() deadline; None: the lease has no end


class VaultDatabaseCredentials:
    def __init__(self, session: VaultSession, *, mount: str = "database") -> None:
        self._session = session
        self._mount = mount.strip("/")
        self._cache: dict[str, DatabaseCredentials] = {}
        self._lock = threading.Lock()

    def get(self, role: str) -> DatabaseCredentials:
        """Credentials for ``role``; raises VaultError (naming the role, never the password)."""
        with self._lock:
            now = time.monotonic()
            cached = self._cache.get(role)
            if cached is not None and (
                cached.expires_at is None or now < cached.expires_at - LEASE_MARGIN_S
            ):
                return cached
            creds = self._fetch(role, now)
            self._cache[role] = creds
            return creds

    def _fetch(self, role: str, now: float) -> DatabaseCredentials:
        where = f"Vault {self._mount}/creds/{role}"
        resp = self._session.request("GET", f"{self._mount}/creds/{role}")
        if resp.status != 200:
            raise VaultError(resp.status, f"{where}: HTTP {resp.status} ({resp.errors()})")
        data = resp.body.get("data")
        username = data.get("username") if isinstance(data, dict) else None
        password = data.get("password") if isinstance(data, dict) else None
        if not isinstance(username, str) or not isinstance(password, str) or not password:
            raise VaultError(resp.status, f"{where}: response lacks username or password")
        lease = resp.body.get("lease_duration")
        lease_s = lease if isinstance(lease, int) and lease > 0 else 0
        lease_id = resp.body.get("lease_id")
        return DatabaseCredentials(
            username=username,
            password=SecretValue(f"{self._mount}/creds/{role}", password, "vault"),
            lease_id=lease_id if isinstance(lease_id, str) else "",
            lease_duration_s=lease_s,
            expires_at=now + lease_s if lease_s else None,
        )
