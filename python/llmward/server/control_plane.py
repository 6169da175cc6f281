"""Opening the server's control plane from one configuration file and the data directory:
RBAC, rate limits, the key store with its bootstrap admin key, the audit log and the
GDPR store. `llmward serve` opens it, shows the bootstrap key once, and builds the app.

    async with await open_control_plane(data_dir, settings) as plane:
        if plane.bootstrap_key:           # only on the first start, and never logged
            print(plane.bootstrap_key)
        app = plane.build_app()
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from llmward.audit.config import AuditConfig
from llmward.audit.events import admin_action
from llmward.audit.writer import AuditLog
from llmward.auth.key_bootstrap import ADMIN_ROLE, BOOTSTRAP_USER
from llmward.auth.keys import SqliteKeyStore, open_key_store
from llmward.auth.rbac import Rbac
from llmward.config_file import load_toml
from llmward.gdpr.config import GdprConfig
from llmward.gdpr.store import GdprStore, open_gdpr_store
from llmward.ratelimit.config import RateLimitConfig
from llmward.ratelimit.policy import RateLimitPolicy
from llmward.secrets import SecretNotFound, SecretResolver, default_resolver
from llmward.server.app import build_app
from llmward.server.metrics import ServerMetrics
from llmward.server.routes import RouteId

# Tables of the server configuration file; anything else is a typo, and an error.
TABLES = ("rbac", "ratelimit", "audit", "gdpr")
BOOTSTRAP_SECRET = "bootstrap_admin_key"  # noqa: S105 -- the secret's name, not a value  # nosec B105


@dataclass(frozen=True)
class ServerSettings:
    rbac: Rbac = field(default_factory=Rbac)
    ratelimit: RateLimitConfig = field(default_factory=RateLimitConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    gdpr: GdprConfig = field(default_factory=GdprConfig)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ServerSettings:
        unknown = set(document) - set(TABLES)
        if unknown:
            raise ValueError(f"unknown tables {sorted(unknown)}; known: {list(TABLES)}")
        rbac = Rbac.from_dict(document.get("rbac", {}))
        return cls(
            rbac=rbac,
            # Roles added in [rbac] may be given limits in [ratelimit].
            ratelimit=RateLimitConfig.from_dict(document.get("ratelimit", {}), roles=rbac.roles),
            audit=AuditConfig.from_dict(document.get("audit", {})),
            gdpr=GdprConfig.from_dict(document.get("gdpr", {})),
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | None) -> ServerSettings:
        """From a TOML file; the built-in defaults when `path` is None."""
        if path is None:
            return cls()
        document = load_toml(path)
        try:
            return cls.from_dict(document)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None


@dataclass
class ControlPlane:
    data_dir: Path
    settings: ServerSettings
    key_store: SqliteKeyStore
    audit: AuditLog
    gdpr: GdprStore
    ratelimit: RateLimitPolicy
    # The plaintext bootstrap admin key on the first start (for the terminal, once);
    # None afterwards, or when it came from the `bootstrap_admin_key` secret.
    bootstrap_key: str | None = field(default=None, repr=False)

    def build_app(self, extra_handlers: dict[RouteId, Any] | None = None,
                  metrics: ServerMetrics | None = None) -> web.Application:
        return build_app(self.key_store, self.settings.rbac, ratelimit=self.ratelimit,
                         audit=self.audit, gdpr=self.gdpr, extra_handlers=extra_handlers,
                         metrics=metrics)

    async def close(self) -> None:
        await self.audit.close()
        await asyncio.to_thread(self.gdpr.close)
        await asyncio.to_thread(self.key_store.close)

    async def __aenter__(self) -> ControlPlane:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_control_plane(data_dir: Path, settings: ServerSettings, *,
                             secrets: SecretResolver | None = None) -> ControlPlane:
    """Open every store under `data_dir` and start the audit writer. The first start
    creates the admin key: from the `bootstrap_admin_key` secret when one is set, else a
    fresh key returned in `bootstrap_key`; its creation is audited either way."""
    key_store = await asyncio.to_thread(open_key_store, data_dir, roles=settings.rbac.roles)
    audit: AuditLog | None = None
    gdpr: GdprStore | None = None
    try:
        audit = await AuditLog(data_dir / "audit", fsync=settings.audit.fsync,
                               queue_size=settings.audit.queue_size,
                               max_file_bytes=settings.audit.max_file_bytes,
                               include_prompt=settings.audit.include_prompt).start()
        gdpr = await asyncio.to_thread(open_gdpr_store, data_dir, settings.gdpr)
        preset = _bootstrap_secret(secrets or default_resolver())
        # create_first is atomic across processes: exactly one start creates the key.
        created = await asyncio.to_thread(key_store.create_first, BOOTSTRAP_USER, ADMIN_ROLE,
                                          preset)
        if created is not None:
            await audit.log(admin_action(
                action="key.bootstrap", result="ok", target=created[1].key_id,
                role=ADMIN_ROLE, detail={"source": "secret" if preset else "generated"}))
        plaintext = created[0] if created is not None and preset is None else None
        return ControlPlane(data_dir, settings, key_store, audit, gdpr,
                            RateLimitPolicy(settings.ratelimit), plaintext)
    except BaseException:
        if audit is not None:
            await audit.close()
        if gdpr is not None:
            gdpr.close()
        key_store.close()
        raise


def _bootstrap_secret(resolver: SecretResolver) -> str | None:
    try:
        return resolver.get(BOOTSTRAP_SECRET).reveal()
    except SecretNotFound:
        return None
