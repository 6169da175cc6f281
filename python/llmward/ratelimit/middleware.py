"""aiohttp middleware enforcing the rate-limit policy.

Before the handler: one request against the requests-per-minute limit, then a
slot among the principal's requests in flight (given back on every exit:
return, exception, cancellation when the client disconnects). In the handler,
once the token count is known: `charge_tokens`. Refusals are 429 with
`Retry-After` and `RateLimit-*` headers and an OpenAI-style body; a backend that
cannot decide (`RateLimiterUnavailable`) is 503. Every response of a limited
request carries the `RateLimit-*` headers of the request limit, streamed ones
too (they are added when the response is prepared).

    metrics = setup_ratelimit(app, RateLimitPolicy(RateLimitConfig.from_file(path)))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from llmward._core import Decision
from llmward.ratelimit.config import Limits, Rate
from llmward.ratelimit.errors import RateLimiterUnavailable
from llmward.ratelimit.policy import (
    ANONYMOUS_PRINCIPAL,
    Principal,
    RateLimitPolicy,
    client_address,
    subject_of,
)
from llmward.server.openai_errors import openai_error

RejectReason = Literal["requests", "tokens", "concurrency", "backend_unavailable"]
REJECT_REASONS: tuple[RejectReason, ...] = get_args(RejectReason)

# Where an auth middleware (issue 6) puts the caller; the plain string key is read too.
PRINCIPAL_KEY = web.RequestKey("llmward.principal", Principal)
_PRINCIPAL_NAME = "llmward.principal"


class RateLimitMetrics:
    """Refusals by reason, for the server's metrics endpoint."""

    def __init__(self) -> None:
        self._rejections = dict.fromkeys(REJECT_REASONS, 0)

    def reject(self, reason: RejectReason) -> None:
        self._rejections[reason] += 1

    @property
    def rejections(self) -> dict[str, int]:
        return {reason: count for reason, count in self._rejections.items()}


@dataclass(frozen=True, slots=True)
class _RequestState:
    policy: RateLimitPolicy
    metrics: RateLimitMetrics
    subject: str
    limits: Limits
    decision: Decision  # the request limit's, advertised on the response


_STATE_KEY = web.RequestKey("llmward.ratelimit", _RequestState)


class RateLimited(Exception):
    """Raised by `charge_tokens` when the token limit refuses; the middleware
    answers with `response` (429)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__("rate limit exceeded")
        self.response = response


def setup_ratelimit(app: web.Application, policy: RateLimitPolicy, *,
                    metrics: RateLimitMetrics | None = None) -> RateLimitMetrics:
    """Install the middleware and the header signal on `app`; returns the metrics."""
    metrics = metrics or RateLimitMetrics()
    app.middlewares.append(ratelimit_middleware(policy, metrics))
    app.on_response_prepare.append(add_ratelimit_headers)
    return metrics


def ratelimit_middleware(policy: RateLimitPolicy, metrics: RateLimitMetrics) -> Middleware:
    """The middleware alone; `add_ratelimit_headers` must be on the app's
    `on_response_prepare` too (`setup_ratelimit` does both)."""
    config = policy.config

    @web.middleware
    async def ratelimit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in config.exempt_paths:
            return await handler(request)
        principal = _principal(request)
        address = client_address(request.remote, request.headers.getall("X-Forwarded-For", ()),
                                 config.trusted_proxies)
        subject = subject_of(principal, address)
        limits = policy.limits_for(principal)
        try:
            decision = await policy.acquire_request(subject, limits)
        except RateLimiterUnavailable:
            metrics.reject("backend_unavailable")
            return _unavailable()
        if not decision.allowed:
            metrics.reject("requests")
            return _too_many("requests", decision, limits.requests, 1)
        if not policy.concurrency.try_acquire(subject, limits.concurrent_requests):
            metrics.reject("concurrency")
            return _too_many_in_flight(decision, limits.concurrent_requests)
        try:
            request[_STATE_KEY] = _RequestState(policy, metrics, subject, limits, decision)
            return await handler(request)
        except RateLimited as refused:
            return refused.response
        except RateLimiterUnavailable:  # from charge_tokens, which counted it
            return _unavailable()
        finally:
            policy.concurrency.release(subject)

    return ratelimit


async def add_ratelimit_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """`on_response_prepare`: the request limit's headers on every response of a
    limited request, unless the response has its own (a 429 for tokens)."""
    state: _RequestState | None = request.get(_STATE_KEY)
    if state is not None and "RateLimit-Limit" not in response.headers:
        response.headers.update(_limit_headers(state.decision))


async def charge_tokens(request: web.Request, prompt_tokens: int, max_tokens: int) -> Decision:
    """Charge `prompt_tokens + max_tokens` against the caller's tokens-per-minute
    limit, before the response is prepared. The completion's full allowance is
    charged up front (as OpenAI's own limiter estimates), so nothing is refunded
    and a long generation cannot overrun the budget. Raises `RateLimited` (the
    middleware answers 429) or `RateLimiterUnavailable` (503)."""
    state: _RequestState | None = request.get(_STATE_KEY)
    if state is None:
        raise RuntimeError("charge_tokens: the request did not pass the rate-limit middleware "
                           "(an exempt path, or setup_ratelimit was not called)")
    for name, value in (("prompt_tokens", prompt_tokens), ("max_tokens", max_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    requested = prompt_tokens + max_tokens
    try:
        decision = await state.policy.acquire_tokens(state.subject, state.limits, requested)
    except RateLimiterUnavailable:
        state.metrics.reject("backend_unavailable")
        raise
    if not decision.allowed:
        state.metrics.reject("tokens")
        raise RateLimited(_too_many("tokens", decision, state.limits.tokens, requested))
    return decision


def _principal(request: web.Request) -> Principal:
    principal: object = request.get(PRINCIPAL_KEY)
    if principal is None:
        principal = request.get(_PRINCIPAL_NAME)
    if principal is None:
        return ANONYMOUS_PRINCIPAL
    if not isinstance(principal, Principal):
        raise TypeError(f"request[{_PRINCIPAL_NAME!r}] must be a Principal, "
                        f"got {type(principal).__name__}")
    return principal


def _limit_headers(decision: Decision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(math.ceil(decision.reset_after)),
    }


_LIMIT_NAMES = {"requests": "requests per minute (RPM)", "tokens": "tokens per minute (TPM)"}


def _too_many(kind: Literal["requests", "tokens"], decision: Decision, rate: Rate,
              requested: int) -> web.Response:
    headers = _limit_headers(decision)
    limit = (f"{_LIMIT_NAMES[kind]}: limit {_number(rate.per_minute)} per minute, "
             f"burst {rate.burst}, requested {requested}")
    if math.isinf(decision.retry_after):
        # It will never fit: no Retry-After, which would invite a retry.
        message = (f"Request too large for {limit}. Reduce the prompt or max_tokens so that "
                   f"prompt tokens + max_tokens is at most {rate.burst}.")
    else:
        seconds = max(1, math.ceil(decision.retry_after))
        headers["Retry-After"] = str(seconds)
        message = f"Rate limit reached for {limit}. Please try again in {seconds}s."
    return openai_error(429, message, type=kind, code="rate_limit_exceeded", headers=headers)


def _too_many_in_flight(decision: Decision, maximum: int) -> web.Response:
    headers = _limit_headers(decision)
    headers["Retry-After"] = "1"  # a slot frees when any request ends: no better estimate
    message = (f"Too many concurrent requests: at most {maximum} in flight at once. "
               "Please try again when one of your requests has finished.")
    return openai_error(429, message, type="concurrent_requests", code="rate_limit_exceeded",
                        headers=headers)


def _unavailable() -> web.Response:
    return openai_error(503, "Rate limiting is temporarily unavailable. Please try again.",
                        type="server_error", code="service_unavailable",
                        headers={"Retry-After": "1"})


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"
