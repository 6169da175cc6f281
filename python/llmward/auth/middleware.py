"""aiohttp middleware: who is calling (API key) and may they (RBAC).

The key is read from `Authorization: Bearer lw_...` only, the header OpenAI's
clients send. `X-API-Key` is deliberately not read: one header means one place a
proxy must strip or redact, and no rule for which wins when both are sent.

Public routes (`llmward.server.routes.PUBLIC`) read no credentials. Every other
request, including one no route matches, needs a valid key: 401 otherwise, with
the same message and headers whether the key was missing, malformed, unknown,
wrong, revoked or expired, so a caller learns nothing about which. A valid key
whose role lacks the route's permission gets 403. The key is checked by the key
store on a worker thread (SQLite must not block the event loop); the caller is
then `request[PRINCIPAL_KEY]` for the rate limiter and the audit log, and the
key's record `request[KEY_RECORD_KEY]`. The presented key is never logged.
Install this middleware before the rate limiter's, so it runs first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from llmward.auth.key_format import is_key_id
from llmward.auth.rbac import Rbac
from llmward.ratelimit.config import LimitOverrides
from llmward.ratelimit.middleware import PRINCIPAL_KEY
from llmward.ratelimit.policy import Principal
from llmward.server.openai_errors import openai_error
from llmward.server.routes import PUBLIC, declared

log = logging.getLogger(__name__)

# Keys are about 90 characters; anything much longer is not one and is refused
# before it reaches the store.
MAX_AUTHORIZATION_CHARS = 512


class Credential(Protocol):
    """What the middleware needs of a key store's record."""

    @property
    def key_id(self) -> str: ...

    @property
    def user(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def limits(self) -> Mapping[str, int | float] | None: ...


class Authenticator(Protocol):
    """The key store's `authenticate`: None for any key that is not valid now."""

    def authenticate(self, presented: str) -> Credential | None: ...


KEY_RECORD_KEY = web.RequestKey("llmward.key_record", object)

RefusalReason = Literal["missing", "malformed", "rejected", "forbidden", "undeclared_route"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused request, for the audit log. `principal` is set for 403s only;
    `claimed_key_id` is the id part of a rejected `lw_<id>_<secret>` (never the
    secret), when it looks like one."""

    status: int
    reason: RefusalReason
    permission: str | None = None
    principal: Principal | None = None
    claimed_key_id: str | None = None


OnRefusal = Callable[[web.Request, Refusal], None]
# Set on every refused request, for the audit middleware (which runs outside this one).
REFUSAL_KEY = web.RequestKey("llmward.refusal", Refusal)

_UNAUTHORIZED = ("Incorrect or missing API key. Provide your llmward API key as "
                 "'Authorization: Bearer lw_...'.")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="llmward"'}


def auth_middleware(store: Authenticator, rbac: Rbac, *,
                    on_refusal: OnRefusal | None = None) -> Middleware:
    """The middleware; `on_refusal` (sync, must not raise) sees every 401 and 403."""

    def refuse(request: web.Request, refusal: Refusal) -> web.Response:
        request[REFUSAL_KEY] = refusal
        if on_refusal is not None:
            on_refusal(request, refusal)
        if refusal.status == 401:
            return openai_error(401, _UNAUTHORIZED, type="invalid_request_error",
                                code="invalid_api_key", headers=_CHALLENGE)
        permission = f" ({refusal.permission!r})" if refusal.permission else ""
        return openai_error(403, "You have insufficient permissions for this operation: the "
                            f"API key's role does not grant the permission it needs{permission}.",
                            type="invalid_request_error", code="insufficient_permissions")

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = declared(request)
        if route is not None and route.permission is PUBLIC:
            return await handler(request)
        presented = _bearer(request)
        if isinstance(presented, Refusal):
            return refuse(request, presented)
        record = await asyncio.to_thread(store.authenticate, presented)
        if record is None:
            return refuse(request, Refusal(401, "rejected", claimed_key_id=_claimed(presented)))
        principal = Principal(key_id=record.key_id, user=record.user, role=record.role,
                              limits=_overrides(record.limits))
        if route is None:
            if request.match_info.http_exception is None:
                # Matched, but added around `routes.register`: deny rather than guess.
                log.error("refusing %s %r: route has no permission declared in "
                          "llmward.server.routes", request.method, request.path)
                return refuse(request, Refusal(403, "undeclared_route", principal=principal))
            # 404 / 405: authenticated callers may learn that a path does not exist.
        elif not rbac.allows(record.role, str(route.permission)):
            return refuse(request, Refusal(403, "forbidden", str(route.permission), principal))
        request[PRINCIPAL_KEY] = principal
        request[KEY_RECORD_KEY] = record
        return await handler(request)

    return authenticate


def _overrides(limits: Mapping[str, int | float] | None) -> LimitOverrides | None:
    """The key's stored limits (validated by the key store when the key was created)."""
    return LimitOverrides(**limits) if limits else None  # type: ignore[arg-type]


def _claimed(token: str) -> str | None:
    prefix, _, rest = token.partition("_")
    key_id, separator, _ = rest.partition("_")
    if prefix != "lw" or not separator or not is_key_id(key_id):
        return None
    return key_id


def _bearer(request: web.Request) -> str | Refusal:
    values = request.headers.getall(hdrs.AUTHORIZATION, ())
    if not values:
        return Refusal(401, "missing")
    if len(values) > 1:  # which one would a proxy have checked?
        return Refusal(401, "malformed")
    value = values[0]
    if len(value) > MAX_AUTHORIZATION_CHARS or not value.isascii():
        return Refusal(401, "malformed")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or not token.isprintable() or " " in token:
        return Refusal(401, "malformed")
    return token
