"""The one table of the server's HTTP routes and the permission each needs.

Handlers are registered only through `register`, which refuses a route the table
does not declare, and the auth middleware enforces the permission found here for
the route aiohttp matched (so authorization and routing can never disagree about
the path). `undeclared_routes` lists any route added some other way; the tests
fail on one, and the middleware refuses every request to it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from llmward.auth.rbac import PERMISSIONS


class Access(enum.Enum):
    PUBLIC = "public"  # no credentials read: liveness and readiness probes


PUBLIC = Access.PUBLIC


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # as registered with aiohttp; `{name}` for a path parameter
    permission: str | Access
    summary: str


ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", PUBLIC, "liveness"),
    Route("GET", "/ready", PUBLIC, "readiness"),
    Route("POST", "/v1/chat/completions", "inference:basic", "chat completion (OpenAI)"),
    Route("POST", "/v1/completions", "inference:basic", "text completion (OpenAI)"),
    Route("GET", "/v1/models", "model:list", "the model served (never its path)"),
    Route("POST", "/v1/models/load", "model:load",
          "load a model from the models directory after verifying it"),
    Route("POST", "/v1/models/unload", "model:unload", "unload the model"),
    Route("GET", "/metrics", "system:monitor", "Prometheus metrics"),
    Route("POST", "/v1/admin/keys", "user:manage", "create an API key"),
    Route("GET", "/v1/admin/keys", "user:manage", "list API keys (never their secrets)"),
    Route("DELETE", "/v1/admin/keys/{key_id}", "user:manage", "revoke an API key"),
    Route("DELETE", "/v1/admin/users/{user_id}", "user:manage",
          "GDPR erasure of everything held about a user"),
    Route("GET", "/v1/admin/users/{user_id}/export", "user:manage",
          "GDPR export (JSON) of everything held about a user"),
)

RouteId = tuple[str, str]  # (method, path)


def _index(routes: tuple[Route, ...]) -> dict[RouteId, Route]:
    index: dict[RouteId, Route] = {}
    for route in routes:
        key = (route.method, route.path)
        if key in index:
            raise ValueError(f"route {route.method} {route.path} declared twice")
        if not isinstance(route.permission, Access) and route.permission not in PERMISSIONS:
            raise ValueError(f"route {route.method} {route.path}: unknown permission "
                             f"{route.permission!r}")
        index[key] = route
    return index


TABLE: Mapping[RouteId, Route] = _index(ROUTES)


class UndeclaredRoute(ValueError):
    """A handler for a route missing from `ROUTES`."""


def register(app: web.Application, handlers: Mapping[RouteId, Handler]) -> None:
    """Add `handlers` (by (method, path)) to `app`'s router; every one must be
    declared in the table. No implicit HEAD routes: each method is declared."""
    for method, path in handlers:
        if (method, path) not in TABLE:
            raise UndeclaredRoute(f"{method} {path} is not declared in llmward.server.routes")
    for (method, path), handler in handlers.items():
        app.router.add_route(method, path, handler)


def declared(request: web.Request) -> Route | None:
    """The table's entry for the route aiohttp matched; None when nothing matched
    (404, 405) or the matched route is undeclared."""
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return None
    return TABLE.get((route.method, resource.canonical))


def undeclared_routes(app: web.Application) -> list[RouteId]:
    """The routes of `app` that the table does not declare."""
    found = []
    for route in app.router.routes():
        resource = route.resource
        key = (route.method, resource.canonical if resource is not None else "")
        if key not in TABLE:
            found.append(key)
    return found
