"""A Vault client session: the transport plus a token, obtained from a VaultAuth on first use,
again before its lease ends, and once more after a 403 (expired or revoked), with the request
then retried. Shared by the KV v2 source and dynamic database credentials."""

from __future__ import annotations

import threading
import time
from typing import Any

from .vault_auth import VaultAuth, VaultToken
from .vault_http import VaultHttp, VaultResponse


class VaultSession:
    def __init__(self, http: VaultHttp, auth: VaultAuth) -> None:
        self.http = http
        self.auth = auth
        self._token: VaultToken | None = None
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
    ) -> VaultResponse:
        """Raises VaultError for transport and login failures; returns any HTTP status."""
        for attempt in (1, 2):
            token = self._current_token()
            resp = self.http.request(method, path, token=token, body=body, query=query)
            if resp.status == 403 and attempt == 1:
                with self._lock:
                    if self._token is not None and self._token.value == token:
                        self._token = None  # log in again, once
                continue
            break
        return resp

    def _current_token(self) -> str:
        with self._lock:
            if self._token is None or not self._token.fresh(time.monotonic()):
                self._token = self.auth.login(self.http)
            return self._token.value
