"""The HTTP transport for Vault: one request, bounded in time and size, TLS verified.

Built on http.client rather than urllib so that redirects are never followed (urllib would
resend the X-Vault-Token header to wherever a redirect points). Errors carry the status and
Vault's own error strings, never the token or the response body's data.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from .errors import VaultError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
MAX_RESPONSE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class VaultResponse:
    status: int
    body: dict[str, Any]

    def errors(self) -> str:
        errs = self.body.get("errors")
        if isinstance(errs, list) and errs:
            return "; ".join(str(e)[:200] for e in errs[:5])
        return "no detail"


class VaultHttp:
    def __init__(
        self,
        addr: str,
        *,
        namespace: str | None = None,
        ca_file: str | None = None,
        verify_tls: bool = True,
        allow_http: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        url = urlsplit(addr)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError(f"Vault address must be an http(s) URL, got {addr!r}")
        if url.scheme == "http" and not allow_http:
            # Plain HTTP sends the token in clear; it takes an explicit opt-in.
            raise ValueError("Vault address uses http://; set allow_http to permit it")
        self._https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if self._https else 80)
        self._base = url.path.rstrip("/")
        self._namespace = namespace
        self._timeout = timeout_s
        self._max = max_response_bytes
        self._ssl: ssl.SSLContext | None = None
        if self._https:
            self._ssl = ssl.create_default_context(cafile=ca_file)
            if not verify_tls:
                log.warning("Vault TLS certificate verification is OFF; do not use in production")
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE

    @property
    def address(self) -> str:
        return f"{'https' if self._https else 'http'}://{self._host}:{self._port}{self._base}"

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
    ) -> VaultResponse:
        """Send one request; raise VaultError for transport failures and malformed answers.
        HTTP error statuses are returned, not raised: callers decide what 403 or 404 means."""
        target = self._base + "/v1/" + quote(path.lstrip("/"), safe="/")
        if query:
            target += "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["X-Vault-Token"] = token
        if self._namespace:
            headers["X-Vault-Namespace"] = self._namespace
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=self._ssl
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        deadline = time.monotonic() + self._timeout
        where = f"{method} {self.address}/v1/{path.lstrip('/')}"
        try:
            conn.request(method, target, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = self._read_bounded(resp, deadline, where)
            status = resp.status
        except ssl.SSLError as e:
            reason = e.reason or e.__class__.__name__
            raise VaultError(0, f"{where}: TLS failure ({reason})") from None
        except TimeoutError:
            raise VaultError(0, f"{where}: timed out after {self._timeout:g}s") from None
        except (OSError, http.client.HTTPException) as e:
            raise VaultError(0, f"{where}: {e.__class__.__name__}: {e}") from None
        finally:
            conn.close()
        if not raw:
            return VaultResponse(status, {})
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise VaultError(status, f"{where}: response is not JSON (HTTP {status})") from None
        if not isinstance(parsed, dict):
            raise VaultError(status, f"{where}: response is not a JSON object (HTTP {status})")
        return VaultResponse(status, parsed)

    def _read_bounded(self, resp: http.client.HTTPResponse, deadline: float, where: str) -> bytes:
        length = resp.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > self._max:
            raise VaultError(resp.status, f"{where}: response larger than {self._max} bytes")
        chunks: list[bytes] = []
        total = 0
        while True:
            # The socket timeout bounds each read; the deadline bounds a server that drips.
            if time.monotonic() > deadline:
                raise TimeoutError
            chunk = resp.read1(65536)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > self._max:
                raise VaultError(resp.status, f"{where}: response larger than {self._max} bytes")
            chunks.append(chunk)
