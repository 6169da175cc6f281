"""The server's aiohttp application: middlewares in order (auth, then rate limits)
and every route through the routes table. Issue 7 adds the inference routes and
makes /ready report the model and the queue."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from llmward.auth.keys import KeyStore
from llmward.auth.middleware import OnRefusal, auth_middleware
from llmward.auth.rbac import Rbac
from llmward.ratelimit.middleware import setup_ratelimit
from llmward.ratelimit.policy import RateLimitPolicy
from llmward.server import admin_keys
from llmward.server.admin_keys import RBAC_KEY, STORE_KEY
from llmward.server.routes import RouteId, register, undeclared_routes


async def health(request: web.Request) -> web.Response:
    """Liveness: the event loop answers."""
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Readiness; until issue 7 there is no model or queue to wait for."""
    return web.json_response({"status": "ready"})


def build_app(key_store: KeyStore, rbac: Rbac, *, ratelimit: RateLimitPolicy | None = None,
              on_refusal: OnRefusal | None = None,
              extra_handlers: dict[RouteId, Any] | None = None) -> web.Application:
    """The application. The key store should know the same roles as `rbac`
    (`open_key_store(data_dir, roles=rbac.roles)`). `extra_handlers` must be declared
    in the routes table too."""
    app = web.Application(middlewares=[auth_middleware(key_store, rbac, on_refusal=on_refusal)])
    if ratelimit is not None:
        setup_ratelimit(app, ratelimit)  # after auth: it limits by the principal auth set
    app[STORE_KEY] = key_store
    app[RBAC_KEY] = rbac
    register(app, {("GET", "/health"): health, ("GET", "/ready"): ready,
                   **admin_keys.handlers(), **(extra_handlers or {})})
    missing = undeclared_routes(app)
    if missing:  # unreachable through `register`; a guard against future shortcuts
        raise RuntimeError(f"routes without a declared permission: {missing}")
    return app
