"""The server's metrics fed from the request path: per-route counts and latency, refusals
by the auth middleware, and audit records that could not be written."""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from llmward.auth.middleware import REFUSAL_KEY
from llmward.server.audit_middleware import AuditMetrics
from llmward.server.metrics import Counter, ServerMetrics
from llmward.server.routes import declared


def request_metrics_middleware(metrics: ServerMetrics) -> Middleware:
    """Outermost: every answered request by route template (never the raw path, which
    would give an attacker unbounded label values) and status class."""

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            route = declared(request)
            metrics.observe_request(route.path if route is not None else "other", status,
                                    time.perf_counter() - started)
            refusal = request.get(REFUSAL_KEY)
            if refusal is not None:
                metrics.reject("auth" if refusal.status == 401 else "forbidden")

    return observe


class ForwardingAuditMetrics(AuditMetrics):
    """The audit middleware's counters, failures also counted in Prometheus."""

    def __init__(self, failures: Counter) -> None:
        self._failures_total = failures
        self._failures = 0
        super().__init__()

    @property
    def write_failures(self) -> int:
        return self._failures

    @write_failures.setter
    def write_failures(self, value: int) -> None:
        self._failures_total.inc(value - self._failures)
        self._failures = value
