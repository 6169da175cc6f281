"""aiohttp middleware: one audit record per API request, and one per refused credential.

Installed outermost, so it sees every outcome: the auth middleware's 401/403 (which it
marks with `REFUSAL_KEY`), the rate limiter's 429, handler errors, 404s. Each request
gets a server-chosen id (`X-Request-Id` on the response; a client's own header is not
trusted as an id). The record is written before the response leaves: with the default
per-record fsync policy, a request was never answered without a durable record of it.
When the record cannot be written the client gets 503 (fail closed), unless the response
had already started streaming; either way the failure is logged and counted.

Liveness and readiness probes (public routes) are not recorded: an orchestrator polls
them every few seconds and they reveal nothing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from llmward.audit.events import Event, api_request, auth_failure
from llmward.audit.writer import AuditLog, AuditWriteError
from llmward.auth.middleware import REFUSAL_KEY
from llmward.ratelimit.config import IPNetwork
from llmward.ratelimit.middleware import PRINCIPAL_KEY
from llmward.ratelimit.policy import client_address
from llmward.server.openai_errors import openai_error
from llmward.server.request_body import CLIENT_CLOSED  # client-disconnected requests
from llmward.server.routes import PUBLIC, declared

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_KEY = web.RequestKey("llmward.request_id", str)


@dataclass(frozen=True, slots=True)
class GuardSummary:
    """What the guard decided about a request, for its audit record (set by handlers)."""

    decision: str  # "allowed", "blocked", "redacted", ...
    rule_ids: tuple[str, ...] = ()
    prompt: str | None = None  # recorded only when the audit log is set to include prompts


GUARD_SUMMARY_KEY = web.RequestKey("llmward.guard_summary", GuardSummary)


class AuditMetrics:
    def __init__(self) -> None:
        self.records = 0
        self.write_failures = 0


def audit_middleware(audit: AuditLog, *, trusted_proxies: tuple[IPNetwork, ...] = (),
                     metrics: AuditMetrics | None = None) -> Middleware:
    counters = metrics or AuditMetrics()

    @web.middleware
    async def record_request(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = declared(request)
        if route is not None and route.permission is PUBLIC:
            return await handler(request)
        request_id = "req_" + secrets.token_hex(12)
        request[REQUEST_ID_KEY] = request_id
        started = time.perf_counter_ns()

        async def record(status: int) -> bool:
            events = _events(request, request_id, status, started, trusted_proxies)
            return await _write(audit, events, counters)

        try:
            response = await handler(request)
        except web.HTTPException as error:  # 404, 405, 413 and the like
            error.headers[REQUEST_ID_HEADER] = request_id
            await record(error.status)
            raise
        except asyncio.CancelledError:
            await record(CLIENT_CLOSED)
            raise
        except BaseException:
            await record(500)
            raise
        written = await record(response.status)
        if not written and not response.prepared:
            return openai_error(503, "The request could not be recorded in the audit log; "
                                "try again later.", type="server_error",
                                code="audit_unavailable",
                                headers={REQUEST_ID_HEADER: request_id})
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response

    return record_request


def _events(request: web.Request, request_id: str, status: int, started: int,
            trusted_proxies: tuple[IPNetwork, ...]) -> list[Event]:
    latency_us = (time.perf_counter_ns() - started) // 1000
    client = client_address(request.remote, request.headers.getall("X-Forwarded-For", ()),
                            trusted_proxies)
    principal = request.get(PRINCIPAL_KEY)
    refusal = request.get(REFUSAL_KEY)
    if principal is None and refusal is not None:
        principal = refusal.principal  # a 403: the key was valid
    summary = request.get(GUARD_SUMMARY_KEY)
    events = [api_request(
        request_id=request_id, method=request.method, path=_recorded_path(request),
        status=status,
        latency_us=latency_us, client=client,
        key_id=principal.key_id if principal else None,
        user=principal.user if principal else None,
        role=principal.role if principal else None,
        decision=summary.decision if summary else None,
        rule_ids=summary.rule_ids if summary else (),
        prompt=summary.prompt if summary else None)]
    if refusal is not None:
        reason = refusal.reason if refusal.permission is None else (
            f"{refusal.reason}: {refusal.permission}")
        events.append(auth_failure(
            reason=reason, method=request.method, path=request.path, request_id=request_id,
            key_id=principal.key_id if principal else refusal.claimed_key_id, client=client))
    return events


def _recorded_path(request: web.Request) -> str:
    """The route's template for a matched route (`/v1/admin/users/{user_id}`): the path is
    hashed in clear, so a user id in it could never be erased. Unmatched paths (404) are
    recorded as sent, bounded by the event's size limit."""
    resource = request.match_info.route.resource
    if resource is not None and request.match_info.http_exception is None:
        return resource.canonical
    return request.path


async def _write(audit: AuditLog, events: list[Event], metrics: AuditMetrics) -> bool:
    """Write the records even if the caller is being cancelled (a disconnect must
    not erase the request from the log)."""
    try:
        for event in events:
            await asyncio.shield(audit.log(event))
            metrics.records += 1
        return True
    except (AuditWriteError, RuntimeError) as error:
        metrics.write_failures += 1
        log.error("audit record not written: %s", error)
        return False
