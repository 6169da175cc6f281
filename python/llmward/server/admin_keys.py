"""`/v1/admin/keys`: create, list and revoke API keys over HTTP (permission
`user:manage`, enforced by the auth middleware from `llmward.server.routes`).

Bodies are read up to MAX_BODY_BYTES, within BODY_READ_SECONDS, and validated strictly: a
JSON object (nested within the parser's recursion limit), no duplicate or unknown fields,
exact types, bounded strings and numbers, a role the RBAC table knows. The plaintext key
is in the creation response only (with `Cache-Control: no-store`); listings carry
records, never secrets. Key store calls run on a worker thread: SQLite must not block the
event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from llmward.auth.key_format import is_key_id
from llmward.auth.key_validate import (
    MAX_EXPIRES_IN,
    KeyInputError,
    check_limits,
    check_role,
    check_user,
)
from llmward.auth.keys import KeyRecord
from llmward.auth.rbac import Rbac
from llmward.server.audit_hooks import audit_admin
from llmward.server.openai_errors import openai_error
from llmward.server.request_body import BodyRefused, read_body
from llmward.server.routes import RouteId
from llmward.server.state import RBAC_KEY, STORE_KEY

MAX_BODY_BYTES = 16 * 1024
MAX_EXPIRES_IN_DAYS = MAX_EXPIRES_IN.days
CREATE_FIELDS = frozenset({"user", "role", "expires_in_days", "limits"})



class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.param, self.status = message, param, status


def handlers() -> dict[RouteId, Any]:
    return {
        ("POST", "/v1/admin/keys"): create_key,
        ("GET", "/v1/admin/keys"): list_keys,
        ("DELETE", "/v1/admin/keys/{key_id}"): revoke_key,
    }


async def create_key(request: web.Request) -> web.Response:
    store, rbac = request.app[STORE_KEY], request.app[RBAC_KEY]
    try:
        body = await _json_object(request)
        user, role, expires_in, limits = _create_args(body, rbac)
    except BadRequest as error:
        return _bad(error)
    try:
        plaintext, record = await asyncio.to_thread(
            store.create, user, role, expires_in=expires_in, limits=limits)
    except KeyInputError as error:  # the store's own roles differ from the RBAC table's
        return _bad(_input_error(error))
    await audit_admin(request, "key.create", "ok", target=record.key_id,
                      detail={"role": record.role,
                              "expires": _time(record.expires_at) or "never"})
    body = {"key": plaintext, **record_json(record)}
    return web.json_response(body, status=201, headers={"Cache-Control": "no-store"})


async def list_keys(request: web.Request) -> web.Response:
    records = await asyncio.to_thread(request.app[STORE_KEY].list)
    return web.json_response({"object": "list", "data": [record_json(r) for r in records]})


async def revoke_key(request: web.Request) -> web.Response:
    key_id = request.match_info["key_id"]
    if not is_key_id(key_id):
        return _bad(BadRequest("key_id: not a key id", "key_id"))
    store = request.app[STORE_KEY]

    def revoke() -> KeyRecord | None:
        store.revoke(key_id)  # False when unknown or already revoked: idempotent
        return store.get(key_id)

    record = await asyncio.to_thread(revoke)
    await audit_admin(request, "key.revoke", "ok" if record is not None else "not found",
                      target=key_id)
    if record is None:
        return openai_error(404, f"No API key with id {key_id!r}.",
                            type="invalid_request_error", code="key_not_found", param="key_id")
    return web.json_response(record_json(record))


def record_json(record: KeyRecord) -> dict[str, Any]:
    """A record for a response: everything but the secret, which the store never has."""
    return {
        "object": "api_key",
        "id": record.key_id,
        "user": record.user,
        "role": record.role,
        "created_at": _time(record.created_at),
        "expires_at": _time(record.expires_at),
        "last_used_at": _time(record.last_used_at),
        "revoked_at": _time(record.revoked_at),
        "limits": dict(record.limits) if record.limits is not None else None,
    }


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _bad(error: BadRequest) -> web.Response:
    return openai_error(error.status, error.message, type="invalid_request_error",
                        param=error.param)


async def _json_object(request: web.Request) -> Mapping[str, Any]:
    try:  # bounded in size (413) and time (408)
        data = await read_body(request, MAX_BODY_BYTES)
    except BodyRefused as refused:
        raise BadRequest(refused.message, status=refused.status) from None
    try:
        body = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_no_constant)
    except RecursionError:  # "[[[[..." within the byte limit
        raise BadRequest("request body is not valid JSON: nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate field")
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _create_args(body: Mapping[str, Any], rbac: Rbac
                 ) -> tuple[str, str, timedelta | None, dict[str, int | float] | None]:
    """The same bounds as `llmward keys create` and the store (`key_validate`)."""
    unknown = sorted(set(body) - CREATE_FIELDS)
    if unknown:
        name = unknown[0][:64]  # echoed back: bounded
        raise BadRequest(f"unknown field {name!r}; allowed: {sorted(CREATE_FIELDS)}", name)
    days = body.get("expires_in_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                             or not 0 < days <= MAX_EXPIRES_IN_DAYS):
        raise BadRequest(f"expires_in_days: expected an integer between 1 and "
                         f"{MAX_EXPIRES_IN_DAYS}", "expires_in_days")
    try:
        return (check_user(body.get("user")), check_role(body.get("role"), rbac.roles),
                None if days is None else timedelta(days=days),
                check_limits(body.get("limits")))
    except KeyInputError as error:
        raise _input_error(error) from None


def _input_error(error: KeyInputError) -> BadRequest:
    """`key_validate`'s messages start with the argument: `user: ...`, `limits.x: ...`."""
    message = str(error)
    param = message.split(":", 1)[0].split(".", 1)[0]
    return BadRequest(message, param if param in CREATE_FIELDS else None)
