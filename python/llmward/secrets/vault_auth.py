"""Ways to get a Vault token: a fixed token (or a token file kept fresh by Vault Agent), or
Kubernetes auth (the pod's service-account JWT exchanged for a token at
``POST /v1/auth/<mount>/login``). Tokens are never logged and never appear in errors."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .errors import VaultError
from .vault_http import VaultHttp

K8S_JWT_PATH = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
MAX_JWT_BYTES = 64 * 1024
# Log in again this long before the token's lease ends, so a read never races its expiry.
RENEW_MARGIN_S = 30.0


@dataclass(frozen=True)
class VaultToken:
    value: str = field(repr=False)
    expires_at: float | None  # time.monotonic() deadline; None: no expiry known

    def fresh(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at - RENEW_MARGIN_S


class VaultAuth(Protocol):
    description: str

    def login(self, http: VaultHttp) -> VaultToken:
        """A token to use now. Called at first use, before a known expiry, and after a 403."""
        ...


def _read_small(path: Path, what: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_JWT_BYTES + 1)
    except OSError as e:
        raise VaultError(0, f"cannot read {what} file {path} ({e.strerror})") from None
    if len(data) > MAX_JWT_BYTES:
        raise VaultError(0, f"{what} file {path} is larger than {MAX_JWT_BYTES} bytes")
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        raise VaultError(0, f"{what} file {path} is empty")
    return text


class TokenAuth:
    """A fixed token, or one read from a file each time a login is needed (a 403 makes the
    resolver call login again, which picks up a token Vault Agent has rotated)."""

    def __init__(self, token: str | None = None, *, token_file: str | Path | None = None) -> None:
        if (token is None) == (token_file is None):
            raise ValueError("give exactly one of token and token_file")
        self._token = token
        self._file = Path(token_file) if token_file is not None else None
        self.description = f"token file {self._file}" if self._file else "token"

    def login(self, http: VaultHttp) -> VaultToken:
        if self._file is not None:
            return VaultToken(_read_small(self._file, "Vault token"), None)
        if self._token is None:  # unreachable: __init__ requires a token or a file
            raise VaultError(0, "no Vault token configured")
        return VaultToken(self._token, None)


class KubernetesAuth:
    def __init__(
        self, role: str, *, jwt_path: str | Path = K8S_JWT_PATH, mount: str = "kubernetes"
    ) -> None:
        self._role = role
        self._jwt_path = Path(jwt_path)
        self._mount = mount.strip("/")
        self.description = f"kubernetes auth (mount {self._mount!r}, role {role!r})"

    def login(self, http: VaultHttp) -> VaultToken:
        # Re-read every time: the kubelet rotates projected service-account tokens.
        jwt = _read_small(self._jwt_path, "service account token")
        resp = http.request(
            "POST", f"auth/{self._mount}/login", body={"role": self._role, "jwt": jwt}
        )
        if resp.status != 200:
            raise VaultError(
                resp.status,
                f"Vault {self.description} login failed: HTTP {resp.status} ({resp.errors()})",
            )
        auth = resp.body.get("auth")
        token = auth.get("client_token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise VaultError(resp.status, f"Vault {self.description} login: no client_token")
        lease = auth.get("lease_duration") if isinstance(auth, dict) else None
        expires = time.monotonic() + lease if isinstance(lease, int) and lease > 0 else None
        return VaultToken(token, expires)
