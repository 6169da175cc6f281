"""The rate-limit middleware through aiohttp's test server (loopback only): 429s
with their headers and OpenAI-style bodies, headers on allowed and streamed
responses, concurrency slots given back on every exit, token charging, 503 when
the backend cannot decide, exempt routes, identity."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from gcra_oracle import NS, GcraOracle
from llmward._core import Decision
from llmward.ratelimit.config import RateLimitConfig
from llmward.ratelimit.errors import RateLimiterUnavailable
from llmward.ratelimit.middleware import (
    PRINCIPAL_KEY,
    RateLimitMetrics,
    charge_tokens,
    setup_ratelimit,
)
from llmward.ratelimit.policy import Principal, RateLimitPolicy, local_backend_factory

pytest_plugins = ["redis_server"]

RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


class Clock:
    """Monotonic seconds for the native limiters, moved by the test."""

    def __init__(self) -> None:
        self.ns = 100 * NS

    def __call__(self) -> float:
        return self.ns / NS

    def advance(self, seconds: float) -> None:
        self.ns += round(seconds * NS)


class Harness:
    def __init__(self, client: TestClient[web.Request, web.Application], policy: RateLimitPolicy,
                 metrics: RateLimitMetrics, clock: Clock, state: dict[str, Any]) -> None:
        self.client, self.policy, self.metrics, self.clock, self.state = (
            client, policy, metrics, clock, state)

    @property
    def in_flight(self) -> int:
        return self.policy.concurrency.total()


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _app(policy: RateLimitPolicy, state: dict[str, Any],
         auth: Callable[[web.Request], Principal | None] | None) -> tuple[web.Application,
                                                                          RateLimitMetrics]:
    app = web.Application()
    if auth is not None:
        @web.middleware
        async def authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
            principal = auth(request)
            if principal is not None:
                request[PRINCIPAL_KEY] = principal
            return await handler(request)

        app.middlewares.append(authenticate)
    metrics = setup_ratelimit(app, policy)

    async def slow(request: web.Request) -> web.Response:
        state["started"].release()
        await state["gate"].wait()
        return web.json_response({"ok": True})

    async def hang(request: web.Request) -> web.Response:
        state["started"].release()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise
        return web.Response()

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("handler failed")

    async def bad_request(request: web.Request) -> web.Response:
        raise web.HTTPBadRequest(text="no")

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(int(request.query.get("chunks", "3"))):
            await response.write(f"data: {i}\n\n".encode())
            await asyncio.sleep(float(request.query.get("pause", "0")))
        await response.write_eof()
        return response

    async def complete(request: web.Request) -> web.Response:
        body = await request.json()
        decision = await charge_tokens(request, body["prompt_tokens"], body["max_tokens"])
        state["completed"] = state.get("completed", 0) + 1
        return web.json_response({"tokens_remaining": decision.remaining})

    async def bad_charge(request: web.Request) -> web.Response:
        try:
            await charge_tokens(request, int(request.query["p"]), int(request.query["m"]))
        except ValueError as error:
            return web.Response(status=400, text=str(error))
        return web.Response()

    for path, handler in [("/v1/x", _ok), ("/health", _ok), ("/ready", _ok), ("/metrics", _ok),
                          ("/slow", slow), ("/hang", hang), ("/boom", boom),
                          ("/bad", bad_request), ("/stream", stream), ("/bad_charge", bad_charge)]:
        app.router.add_get(path, handler)
    app.router.add_post("/v1/chat/completions", complete)
    return app, metrics


Factory = Callable[..., Awaitable[Harness]]


@pytest_asyncio.fixture
async def make() -> AsyncIterator[Factory]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def build(table: dict[str, Any] | None = None, *,
                    auth: Callable[[web.Request], Principal | None] | None = None,
                    backend_factory: Any = None) -> Harness:
        clock = Clock()
        policy = RateLimitPolicy(RateLimitConfig.from_dict(table or {}),
                                 backend_factory=backend_factory or local_backend_factory(clock))
        state: dict[str, Any] = {"started": asyncio.Semaphore(0), "gate": asyncio.Event()}
        app, metrics = _app(policy, state, auth)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return Harness(client, policy, metrics, clock, state)

    yield build
    for client in clients:
        await client.close()


def _anonymous(**limits: Any) -> dict[str, Any]:
    return {"roles": {"anonymous": limits}}


async def _wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


# ---- requests per minute ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_429_after_the_burst_with_exact_headers_and_body(make: Factory) -> None:
    h = await make(_anonymous(requests_per_minute=2))
    for remaining, reset in ((1, "30"), (0, "60")):
        response = await h.client.get("/v1/x")
        assert response.status == 200 and await response.json() == {"ok": True}
        assert [response.headers[k] for k in RATE_HEADERS] == ["2", str(remaining), reset]
        assert "Retry-After" not in response.headers
    response = await h.client.get("/v1/x")
    assert response.status == 429
    assert response.content_type == "application/json"
    assert {k: response.headers[k] for k in (*RATE_HEADERS, "Retry-After")} == {
        "RateLimit-Limit": "2", "RateLimit-Remaining": "0", "RateLimit-Reset": "60",
        "Retry-After": "30"}
    assert await response.json() == {"error": {
        "message": "Rate limit reached for requests per minute (RPM): limit 2 per minute, "
                   "burst 2, requested 1. Please try again in 30s.",
        "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    assert h.metrics.rejections == {"requests": 1, "tokens": 0, "concurrency": 0,
                                    "backend_unavailable": 0}
    assert h.in_flight == 0


@pytest.mark.asyncio
async def test_retry_after_is_rounded_up_and_honest(make: Factory) -> None:
    h = await make(_anonymous(requests_per_minute=2, requests_burst=1))
    oracle = GcraOracle(2 / 60, 1)
    assert (await h.client.get("/v1/x")).status == 200
    oracle.acquire("k", 1, h.clock.ns)
    for step, expected in ((0.0, "30"), (9.7, "21"), (19.8, "1"), (0.4999, "1")):
        h.clock.advance(step)
        response = await h.client.get("/v1/x")
        want = oracle.acquire("k", 1, h.clock.ns)
        assert response.status == 429 and not want.allowed
        assert response.headers["Retry-After"] == expected
        assert int(expected) == max(1, math.ceil(want.retry_after))
    h.clock.advance(0.0001)  # exactly 30 s after the first: allowed again
    assert (await h.client.get("/v1/x")).status == 200


@pytest.mark.asyncio
async def test_headers_on_streamed_responses(make: Factory) -> None:
    h = await make(_anonymous(requests_per_minute=10))
    response = await h.client.get("/stream", params={"chunks": "3"})
    assert response.status == 200
    assert [response.headers[k] for k in RATE_HEADERS] == ["10", "9", "6"]
    assert await response.text() == "data: 0\n\ndata: 1\n\ndata: 2\n\n"


@pytest.mark.asyncio
async def test_headers_on_error_responses(make: Factory) -> None:
    h = await make(_anonymous(requests_per_minute=10))
    response = await h.client.get("/bad")
    assert response.status == 400 and response.headers["RateLimit-Remaining"] == "9"
    response = await h.client.get("/no/such/route")  # unknown routes count as requests too
    assert response.status == 404 and response.headers["RateLimit-Remaining"] == "8"


# ---- identity ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_principals_have_their_own_buckets_and_limits(make: Factory) -> None:
    def auth(request: web.Request) -> Principal | None:
        key = request.headers.get("X-Test-Key")
        return Principal(key, "someone", request.headers.get("X-Test-Role", "user")) \
            if key else None

    h = await make({"roles": {"anonymous": {"requests_per_minute": 1},
                              "user": {"requests_per_minute": 2}},
                    "keys": {"vip": {"requests_per_minute": 5}}}, auth=auth)

    async def status(key: str | None = None, role: str = "user") -> tuple[int, str]:
        headers = {"X-Test-Key": key, "X-Test-Role": role} if key else {}
        response = await h.client.get("/v1/x", headers=headers)
        return response.status, response.headers["RateLimit-Limit"]

    assert [await status("a") for _ in range(3)] == [(200, "2"), (200, "2"), (429, "2")]
    assert await status("b") == (200, "2")  # another key: another bucket
    assert [await status("vip") for _ in range(6)] == [(200, "5")] * 5 + [(429, "5")]
    assert [await status() for _ in range(2)] == [(200, "1"), (429, "1")]  # anonymous
    assert await status("c", role="admin") == (200, "300")
    assert await status("d", role="intruder") == (200, "1")  # unknown role: anonymous limits


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
async def test_plain_string_principal_key_and_bad_values(make: Factory) -> None:
    app = web.Application()

    @web.middleware
    async def authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
        value = request.headers.get("X-Kind")
        request["llmward.principal"] = (Principal("k", None, "admin") if value == "principal"
                                        else value)
        return await handler(request)

    app.middlewares.append(authenticate)
    setup_ratelimit(app, RateLimitPolicy())
    app.router.add_get("/", _ok)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/", headers={"X-Kind": "principal"})
        assert response.status == 200 and response.headers["RateLimit-Limit"] == "300"
        # something else where the principal belongs is a server bug, not anonymity
        response = await client.get("/", headers={"X-Kind": "admin"})
        assert response.status == 500


@pytest.mark.asyncio
async def test_x_forwarded_for_is_ignored_unless_the_peer_is_trusted(make: Factory) -> None:
    h = await make(_anonymous(requests_per_minute=1))
    first = await h.client.get("/v1/x", headers={"X-Forwarded-For": "198.51.100.1"})
    second = await h.client.get("/v1/x", headers={"X-Forwarded-For": "198.51.100.2"})
    assert (first.status, second.status) == (200, 429)  # one bucket: the peer's

    h = await make({**_anonymous(requests_per_minute=1), "trusted_proxies": ["127.0.0.1"]})
    statuses = [(await h.client.get("/v1/x", headers={"X-Forwarded-For": ip})).status
                for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.1")]
    assert statuses == [200, 200, 429]  # the test client's peer is a trusted proxy


# ---- concurrency ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_concurrency_limit_with_slow_handlers(make: Factory) -> None:
    h = await make(_anonymous(requests_per_minute=100, concurrent_requests=2))
    slow = [asyncio.create_task(h.client.get("/slow")) for _ in range(2)]
    for _ in range(2):
        await asyncio.wait_for(h.state["started"].acquire(), 5)
    assert h.in_flight == 2
    refused = await h.client.get("/v1/x")
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["RateLimit-Limit"] == "100"
    assert refused.headers["RateLimit-Remaining"] == "97"  # the request limit's view
    assert await refused.json() == {"error": {
        "message": "Too many concurrent requests: at most 2 in flight at once. Please try again "
                   "when one of your requests has finished.",
        "type": "concurrent_requests", "param": None, "code": "rate_limit_exceeded"}}
    assert h.metrics.rejections["concurrency"] == 1
    h.state["gate"].set()
    assert [(await t).status for t in slow] == [200, 200]
    assert h.in_flight == 0 and len(h.policy.concurrency) == 0
    assert (await h.client.get("/v1/x")).status == 200


@pytest.mark.asyncio
async def test_slot_released_when_the_handler_raises(make: Factory) -> None:
    h = await make(_anonymous(requests_per_minute=100, concurrent_requests=1))
    for _ in range(3):  # with one slot, a leak would refuse the second
        assert (await h.client.get("/boom")).status == 500
        assert h.in_flight == 0
    assert (await h.client.get("/bad")).status == 400
    assert (await h.client.get("/v1/x")).status == 200
    assert len(h.policy.concurrency) == 0


@pytest.mark.asyncio
async def test_slot_released_when_the_client_disconnects(make: Factory) -> None:
    """aiohttp's test server cancels the handler when the client goes away."""
    h = await make(_anonymous(requests_per_minute=100, concurrent_requests=1))
    host, port = h.client.server.host, h.client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /hang HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    await asyncio.wait_for(h.state["started"].acquire(), 5)
    assert h.in_flight == 1
    assert (await h.client.get("/v1/x")).status == 429
    writer.close()
    await writer.wait_closed()
    await _wait_until(lambda: h.in_flight == 0)
    assert h.state["cancelled"] and len(h.policy.concurrency) == 0
    assert (await h.client.get("/v1/x")).status == 200


@pytest.mark.asyncio
async def test_slot_released_when_a_stream_loses_its_client_without_cancellation() -> None:
    """`web.run_app`'s default: handlers are not cancelled on disconnect; the stream's
    next write fails instead, and the slot must come back then."""
    policy = RateLimitPolicy(RateLimitConfig.from_dict(
        _anonymous(requests_per_minute=100, concurrent_requests=1)))
    app = web.Application()
    setup_ratelimit(app, policy)
    ended: list[str] = []

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for i in range(10_000):
                await response.write(b"x" * 1024 + f"{i}\n".encode())
                await asyncio.sleep(0.005)
        except BaseException as error:
            ended.append(type(error).__name__)
            raise
        return response

    app.router.add_get("/stream", stream)
    runner = web.AppRunner(app, handler_cancellation=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET /stream HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        assert b"200" in await reader.readline()
        await reader.readexactly(1024)
        assert policy.concurrency.total() == 1
        writer.close()
        await writer.wait_closed()
        await _wait_until(lambda: policy.concurrency.total() == 0)
        assert ended and ended[0] != "CancelledError"
    finally:
        await runner.cleanup()


# ---- tokens --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_token_charging(make: Factory) -> None:
    h = await make(_anonymous(requests_per_minute=100, tokens_per_minute=120, tokens_burst=100))
    oracle = GcraOracle(2.0, 100)

    async def complete(prompt: int, max_tokens: int) -> Any:
        return await h.client.post("/v1/chat/completions",
                                   json={"prompt_tokens": prompt, "max_tokens": max_tokens})

    response = await complete(30, 40)  # prompt + max_tokens: 70 charged up front
    assert response.status == 200
    assert await response.json() == {"tokens_remaining": 30}
    oracle.acquire("t", 70, h.clock.ns)
    # the success response advertises the request limit
    assert response.headers["RateLimit-Limit"] == "100"
    assert response.headers["RateLimit-Remaining"] == "99"

    response = await complete(20, 20)
    want = oracle.acquire("t", 40, h.clock.ns)
    assert response.status == 429 and not want.allowed
    assert {k: response.headers[k] for k in (*RATE_HEADERS, "Retry-After")} == {
        "RateLimit-Limit": "100", "RateLimit-Remaining": "30",
        "RateLimit-Reset": str(math.ceil(want.reset_after)), "Retry-After": "5"}
    assert await response.json() == {"error": {
        "message": "Rate limit reached for tokens per minute (TPM): limit 120 per minute, "
                   "burst 100, requested 40. Please try again in 5s.",
        "type": "tokens", "param": None, "code": "rate_limit_exceeded"}}
    assert h.state["completed"] == 1  # the handler stopped at charge_tokens
    assert h.metrics.rejections["tokens"] == 1
    assert h.in_flight == 0

    h.clock.advance(5)
    assert (await complete(20, 20)).status == 200


@pytest.mark.asyncio
async def test_token_request_larger_than_the_burst(make: Factory) -> None:
    h = await make(_anonymous(requests_per_minute=100, tokens_burst=100))
    for max_tokens in (71, 10**30):  # 10**30: capped before the native limiter sees it
        response = await h.client.post("/v1/chat/completions",
                                       json={"prompt_tokens": 30, "max_tokens": max_tokens})
        assert response.status == 429
        assert "Retry-After" not in response.headers  # it will never fit
        assert response.headers["RateLimit-Limit"] == "100"
        assert response.headers["RateLimit-Remaining"] == "100"
        body = await response.json()
        assert body["error"]["type"] == "tokens"
        assert body["error"]["code"] == "rate_limit_exceeded"
        assert body["error"]["message"] == (
            "Request too large for tokens per minute (TPM): limit 8000 per minute, burst 100, "
            f"requested {30 + max_tokens}. Reduce the prompt or max_tokens so that prompt "
            "tokens + max_tokens is at most 100.")
    assert "completed" not in h.state


@pytest.mark.asyncio
async def test_charge_tokens_checks_its_arguments_and_its_request(make: Factory) -> None:
    h = await make()
    response = await h.client.get("/bad_charge", params={"p": "-1", "m": "5"})
    assert response.status == 400
    assert await response.text() == "prompt_tokens must be a non-negative integer, got -1"
    with pytest.raises(RuntimeError, match="did not pass the rate-limit middleware"):
        await charge_tokens(make_mocked_request("GET", "/"), 1, 1)


# ---- backend failures and exempt routes ---------------------------------------------------


class FailingBackend:
    def __init__(self, fail_on: str) -> None:
        self.fail_on = fail_on

    async def acquire(self, key: str, cost: int) -> Decision:
        if key.startswith(self.fail_on):
            raise RateLimiterUnavailable("redis at 127.0.0.1:1 unreachable")
        return Decision(True, 0.0, 9, 6.0, 10)


UNAVAILABLE = {"error": {"message": "Rate limiting is temporarily unavailable. Please try again.",
                         "type": "server_error", "param": None, "code": "service_unavailable"}}


@pytest.mark.asyncio
async def test_503_when_the_backend_cannot_decide(make: Factory) -> None:
    h = await make(backend_factory=lambda rate, burst: FailingBackend("requests:"))
    response = await h.client.get("/v1/x")
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert "RateLimit-Limit" not in response.headers
    assert await response.json() == UNAVAILABLE
    assert h.metrics.rejections["backend_unavailable"] == 1 and h.in_flight == 0

    h = await make(backend_factory=lambda rate, burst: FailingBackend("tokens:"))
    response = await h.client.post("/v1/chat/completions",
                                   json={"prompt_tokens": 1, "max_tokens": 1})
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    assert await response.json() == UNAVAILABLE
    assert h.metrics.rejections == {"requests": 0, "tokens": 0, "concurrency": 0,
                                    "backend_unavailable": 1}
    assert h.in_flight == 0 and "completed" not in h.state


@pytest.mark.asyncio
async def test_exempt_routes(make: Factory) -> None:
    h = await make(_anonymous(requests_per_minute=1))
    for _ in range(5):
        response = await h.client.get("/health")
        assert response.status == 200 and "RateLimit-Limit" not in response.headers
        assert (await h.client.get("/ready")).status == 200
    assert (await h.client.get("/v1/x")).status == 200  # the probes consumed nothing
    assert (await h.client.get("/v1/x")).status == 429
    assert (await h.client.get("/health/")).status in (404, 429)  # exact paths only
    assert (await h.client.get("/health")).status == 200

    h = await make({**_anonymous(requests_per_minute=1), "exempt_paths": ["/metrics"]})
    assert [(await h.client.get("/health")).status for _ in range(2)] == [200, 429]
    assert [(await h.client.get("/metrics")).status for _ in range(2)] == [200, 200]


# ---- the Redis backend through the same interface ----------------------------------------


@pytest.mark.asyncio
async def test_redis_backend_plugs_in(make: Factory, redis_server: Any) -> None:
    import redis.asyncio

    from llmward.ratelimit.redis_backend import RedisRateLimiter

    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        h = await make(_anonymous(requests_per_minute=2),
                       backend_factory=lambda rate, burst: RedisRateLimiter(
                           client, rate, burst, prefix="test-mw:"))
        statuses = [(await h.client.get("/v1/x")) for _ in range(3)]
        assert [r.status for r in statuses] == [200, 200, 429]
        assert statuses[2].headers["RateLimit-Limit"] == "2"
        assert 1 <= int(statuses[2].headers["Retry-After"]) <= 30
        assert json.loads(await statuses[2].text())["error"]["type"] == "requests"
    finally:
        await client.aclose()


@pytest.mark.asyncio
async def test_unreachable_redis_fails_closed_with_503(make: Factory) -> None:
    import redis.asyncio

    from llmward.ratelimit.redis_backend import RedisRateLimiter
    from redis_server import free_port

    client = redis.asyncio.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        h = await make(backend_factory=lambda rate, burst: RedisRateLimiter(
            client, rate, burst, timeout=0.5))
        response = await h.client.get("/v1/x")
        assert response.status == 503 and response.headers["Retry-After"] == "1"
        assert await response.json() == UNAVAILABLE
        assert h.in_flight == 0
    finally:
        await client.aclose()
