"""Secrets from HashiCorp Vault's KV version 2 engine: ``GET /v1/<mount>/data/<path>``, with
``?version=N`` for a pinned version.

A secret ``name`` maps to the field ``value`` at path ``<path_prefix>/<name>`` unless an explicit
:class:`VaultRef` names its path, field and version (``{"hf_token": VaultRef("llama/prod",
"api_key")}``). Answers are cached per (path, version) for ``cache_ttl_s`` (KV reads carry no
lease, so the TTL is ours). Tokens are managed by the :class:`VaultSession`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Miss, VaultError
from .value import SecretValue
from .vault_session import VaultSession

DEFAULT_CACHE_TTL_S = 300.0
_VALID_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")


@dataclass(frozen=True)
class VaultRef:
    path: str
    field: str = "value"
    version: int | None = None


class VaultSource:
    def __init__(
        self,
        session: VaultSession,
        *,
        mount: str = "secret",
        path_prefix: str = "llmward",
        field: str = "value",
        refs: Mapping[str, VaultRef] | None = None,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
    ) -> None:
        self._session = session
        self._address = session.http.address
        self._mount = mount.strip("/")
        self._prefix = path_prefix.strip("/")
        self._field = field
        self._refs = dict(refs or {})
        self._ttl = cache_ttl_s
        self._cache: dict[tuple[str, int | None], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()  # one fetch per cache miss, not one per thread

    def ref_for(self, name: str) -> VaultRef | None:
        if name in self._refs:
            return self._refs[name]
        if not _VALID_NAME.fullmatch(name) or ".." in name:
            return None
        return VaultRef(f"{self._prefix}/{name}" if self._prefix else name, self._field)

    def lookup(self, name: str) -> SecretValue | Miss:
        ref = self.ref_for(name)
        if ref is None:
            return Miss(f"vault ({self._address})", "name is not a valid Vault path")
        version = f", version {ref.version}" if ref.version else ""
        label = f"vault ({self._address}, {self._mount}/data/{ref.path}, field {ref.field!r}"
        label += version + ")"
        try:
            data = self._read(ref)
        except VaultError as e:
            return Miss(label, str(e))
        if data is None:
            return Miss(label, "no secret at this path (or deleted/destroyed)")
        value = data.get(ref.field)
        if value is None:
            return Miss(label, f"field {ref.field!r} not in the secret")
        if not isinstance(value, str) or value == "":
            return Miss(label, f"field {ref.field!r} is not a non-empty string")
        return SecretValue(name, value, "vault")

    def _read(self, ref: VaultRef) -> dict[str, Any] | None:
        key = (ref.path, ref.version)
        with self._lock:
            now = time.monotonic()
            hit = self._cache.get(key)
            if hit is not None and now < hit[0]:
                return hit[1]
            data = self._fetch(ref)
            if data is not None:
                self._cache[key] = (now + self._ttl, data)
            return data

    def _fetch(self, ref: VaultRef) -> dict[str, Any] | None:
        query = {"version": str(ref.version)} if ref.version else None
        resp = self._session.request("GET", f"{self._mount}/data/{ref.path}", query=query)
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise VaultError(resp.status, f"HTTP {resp.status} ({resp.errors()})")
        outer = resp.body.get("data")
        inner = outer.get("data") if isinstance(outer, dict) else None
        if inner is None:
            return None  # a deleted version answers 200/404 with "data": null
        if not isinstance(inner, dict):
            raise VaultError(resp.status, "malformed KV v2 response (data.data is not an object)")
        return inner
