"""The server's aiohttp application: middlewares in order (auth, then rate limits)
and every route through the routes table. Issue 7 adds the inference routes and
makes /ready report the model and the queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from llmward.audit.writer import AuditLog
from llmward.auth.keys import KeyStore
from llmward.auth.middleware import OnRefusal, auth_middleware
from llmward.auth.rbac import Rbac
from llmward.ratelimit.middleware import setup_ratelimit
from llmward.ratelimit.policy import RateLimitPolicy
from llmward.server import admin_keys, admin_users
from llmward.server.audit_middleware import audit_middleware
from llmward.server.metrics import ServerMetrics
from llmward.server.observability import ForwardingAuditMetrics, request_metrics_middleware
from llmward.server.routes import RouteId, register, undeclared_routes
from llmward.server.state import AUDIT_KEY, GDPR_KEY, RBAC_KEY, STORE_KEY

if TYPE_CHECKING:
    from llmward.gdpr.store import GdprStore


async def health(request: web.Request) -> web.Response:
    """Liveness: the event loop answers."""
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Readiness; until issue 7 there is no model or queue to wait for."""
    return web.json_response({"status": "ready"})


def build_app(key_store: KeyStore, rbac: Rbac, *, ratelimit: RateLimitPolicy | None = None,
              audit: AuditLog | None = None, gdpr: GdprStore | None = None,
              on_refusal: OnRefusal | None = None,
              extra_handlers: dict[RouteId, Any] | None = None,
              metrics: ServerMetrics | None = None) -> web.Application:
    """The application. The key store should know the same roles as `rbac`
    (`open_key_store(data_dir, roles=rbac.roles)`). `audit` must be started (and is
    closed by its owner); with it, every request, refusal and admin action is recorded.
    `extra_handlers` must be declared in the routes table too."""
    middlewares = []
    if metrics is not None:  # outermost: it times everything below
        middlewares.append(request_metrics_middleware(metrics))
    if audit is not None:  # it records what every inner layer decided
        proxies = ratelimit.config.trusted_proxies if ratelimit is not None else ()
        middlewares.append(audit_middleware(
            audit, trusted_proxies=proxies,
            metrics=ForwardingAuditMetrics(metrics.audit_write_failures) if metrics else None))
    middlewares.append(auth_middleware(key_store, rbac, on_refusal=on_refusal))
    app = web.Application(middlewares=middlewares)
    if ratelimit is not None:  # after auth: it limits by the principal auth set
        setup_ratelimit(app, ratelimit,
                        metrics=metrics.ratelimit_metrics() if metrics is not None else None)
    app[STORE_KEY] = key_store
    app[RBAC_KEY] = rbac
    if audit is not None:
        app[AUDIT_KEY] = audit
    if gdpr is not None:
        app[GDPR_KEY] = gdpr
    register(app, {("GET", "/health"): health, ("GET", "/ready"): ready,
                   **admin_keys.handlers(), **admin_users.handlers(),
                   **(extra_handlers or {})})
    missing = undeclared_routes(app)
    if missing:  # unreachable through `register`; a guard against future shortcuts
        raise RuntimeError(f"routes without a declared permission: {missing}")
    return app
