"""RedisRateLimiter against a real redis-server (tests/redis_server.py starts one per module).

Decisions are compared with the reference GCRA (gcra_oracle.py) at chosen times: the script
takes an optional "now" that only these tests pass (RedisRateLimiter._decide(now_ns=...));
the production path never passes it and uses the server's TIME, which
test_server_clock_decides checks against the reference within the test's own elapsed time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import socket
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio

from gcra_oracle import GcraOracle, OracleDecision, interval_ns
from llmward._core import Decision, RateLimiter
from llmward.ratelimit.errors import RateLimiterUnavailable
from llmward.ratelimit.redis_backend import SCRIPT_SHA, RedisRateLimiter
from redis_server import RedisServer, free_port, serve_redis

LOGGER = "llmward.ratelimit.redis"
NS = 1_000_000_000
MAX_FAKE_NS = 1 << 62
PASSWORD = "s3cret"  # noqa: S105 - what must never appear in errors and logs


def expected(o: OracleDecision) -> Decision:
    return Decision(o.allowed, o.retry_after, o.remaining, o.reset_after, o.limit)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    yield from serve_redis()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server of the test's own, to stop."""
    yield from serve_redis()


@pytest.fixture
def password_redis() -> Iterator[RedisServer]:
    yield from serve_redis(password="the-real-one")  # noqa: S106 - a test server's


@pytest_asyncio.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    c = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port)
    await c.flushall()
    yield c
    await c.aclose()


@pytest.fixture
def closed_port() -> int:
    return free_port()  # nothing listens there


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield int(s.getsockname()[1])


def offline(port: int, **kwargs: Any) -> RedisRateLimiter:
    c = redis.asyncio.Redis(host="127.0.0.1", port=port)
    return RedisRateLimiter(c, **{"rate": 1.0, "burst": 2, **kwargs})


async def commandstats(c: redis.asyncio.Redis) -> dict[str, tuple[int, int]]:
    """(calls, failed_calls) per command."""
    info = await c.info("commandstats")
    return {name.removeprefix("cmdstat_"): (int(s["calls"]), int(s.get("failed_calls", 0)))
            for name, s in info.items()}


def delta(before: dict[str, tuple[int, int]],
          after: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    out = {}
    for name, (calls, failed) in after.items():
        old = before.get(name, (0, 0))
        if (calls, failed) != old:
            out[name] = (calls - old[0], failed - old[1])
    return out


# ---- arguments: checked as the native limiter checks them ---------------------------------

BAD_LIMITS: list[tuple[Any, Any]] = [
    (0, 1), (-1.0, 1), (math.nan, 1), (math.inf, 1), (1.000001e9, 1), ("1", 1), (None, 1),
    (1.0, 0), (1.0, -3), (1.0, 2**32 + 1), (1.0, 2**80), (1.0, 1.5), (1.0, "2"),
    (1e-9, 3),  # 3e18 ns to full: over 2**61
]


def outcome(fn: Any, *args: Any) -> tuple[type[BaseException], str] | None:
    try:
        fn(*args)
    except Exception as error:  # noqa: BLE001 - the outcome is what is compared
        return type(error), str(error)
    return None


@pytest.mark.parametrize(("rate", "burst"), BAD_LIMITS)
def test_limits_refused_as_native(rate: Any, burst: Any, closed_port: int) -> None:
    c = redis.asyncio.Redis(host="127.0.0.1", port=closed_port)
    ours = outcome(lambda: RedisRateLimiter(c, rate, burst))
    native = outcome(lambda: RateLimiter(rate, burst))
    assert ours is not None and native is not None
    assert ours[0] is native[0]
    if not (ours[0] is TypeError and "rate" in ours[1]):  # the native message omits "rate"
        assert ours[1] == native[1]


@pytest.mark.parametrize(("rate", "burst"), [(1e9, 1), (1e-9, 2), (3, True), (2.0, 2**32)])
def test_limits_accepted_as_native(rate: Any, burst: Any, closed_port: int) -> None:
    c = redis.asyncio.Redis(host="127.0.0.1", port=closed_port)
    limiter = RedisRateLimiter(c, rate, burst)
    native = RateLimiter(rate, burst)
    assert (limiter.rate, limiter.burst) == (native.rate, native.burst)


BAD_CALLS: list[tuple[Any, Any]] = [
    ("", 1), ("k" * 1025, 1), ("é" * 513, 1), (5, 1), (b"k", 1), (None, 1), ("\ud800", 1),
    ("k", -1), ("k", 1.0), ("k", "1"), ("k", None),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("key", "cost"), BAD_CALLS)
async def test_calls_refused_as_native(key: Any, cost: Any, closed_port: int) -> None:
    limiter = offline(closed_port)
    native = RateLimiter(1.0, 2)
    for method in ("acquire", "peek"):
        with pytest.raises(Exception) as ours:  # noqa: PT011 - compared with the native below
            await getattr(limiter, method)(key, cost)
        theirs = outcome(getattr(native, method), key, cost)
        assert theirs is not None
        assert (type(ours.value), str(ours.value)) == theirs
    assert limiter.metrics.redis_errors == 0  # refused before any call to Redis


@pytest.mark.asyncio
@pytest.mark.parametrize("key", ["", "k" * 1025, 5, "\ud800"])
async def test_reset_refuses_as_native(key: Any, closed_port: int) -> None:
    with pytest.raises(Exception) as ours:  # noqa: PT011 - compared with the native below
        await offline(closed_port).reset(key)
    assert (type(ours.value), str(ours.value)) == outcome(RateLimiter(1.0, 2).reset, key)


def test_constructor_refuses_bad_configuration(closed_port: int) -> None:
    c = redis.asyncio.Redis(host="127.0.0.1", port=closed_port)
    with pytest.raises(ValueError, match="needs a fallback"):
        RedisRateLimiter(c, 1.0, 2, failure_mode="fail_open")
    with pytest.raises(ValueError, match="only used with failure_mode='fail_open'"):
        RedisRateLimiter(c, 1.0, 2, fallback=RateLimiter(1.0, 2))
    with pytest.raises(ValueError, match="failure_mode must be"):
        RedisRateLimiter(c, 1.0, 2, failure_mode="open")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fallback must be"):
        RedisRateLimiter(c, 1.0, 2, failure_mode="fail_open",
                         fallback=object())  # type: ignore[arg-type]
    timeouts: list[Any] = [0, -1.0, math.inf, math.nan, "1", True]
    for timeout in timeouts:
        with pytest.raises(ValueError, match="timeout"):
            RedisRateLimiter(c, 1.0, 2, timeout=timeout)
    with pytest.raises(ValueError, match="prefix"):
        RedisRateLimiter(c, 1.0, 2, prefix="p" * 1025)
    sync_client = redis.Redis(host="127.0.0.1", port=closed_port)
    with pytest.raises(TypeError, match="redis.asyncio.Redis"):
        RedisRateLimiter(sync_client, 1.0, 2)  # type: ignore[arg-type]


# ---- decisions: the reference GCRA's ------------------------------------------------------

async def run_sequence(limiter: RedisRateLimiter, oracle: GcraOracle, rng: random.Random,
                       steps: int, keys: list[str], advances: list[int], resets: bool,
                       start: int | None = None) -> int:
    """Random acquires, peeks and resets, each compared with the reference. The chosen time is
    real time plus advances that only grow, so it never falls behind real time and a key never
    expires in Redis before the reference's bucket is full; or, given `start`, start plus the
    advances (short runs with intervals far longer than the run). Returns the admissions."""
    first, extra, admitted = start or time.time_ns(), 0, 0
    burst = limiter.burst
    for step in range(steps):
        advance = rng.choice(advances)
        if first + extra + advance < MAX_FAKE_NS // 2:
            extra += advance
        now = (time.time_ns() if start is None else start) + extra
        key = rng.choice(keys)
        if resets and rng.random() < 0.1:
            await limiter.reset(key)
            oracle.reset(key)
            continue
        room = oracle.peek(key, 1, now).remaining
        cost = rng.choice([0, 1, 1, 2, room, room, room + 1, burst, burst + 1,
                           rng.randrange(burst + 1), 2**70])
        commit = rng.random() < 0.7
        got = await limiter._decide(key, cost, commit=commit, now_ns=now)
        want = oracle.acquire(key, cost, now) if commit else oracle.peek(key, cost, now)
        assert got == expected(want), (step, key, cost, commit, now)
        admitted += commit and got.allowed
    return admitted


# Emission intervals of about a second or more (keys then live at least that long in real time),
# several not whole microseconds, some with times to full past 2**53 ns (inexact as doubles).
SLOW = [(0.7, 5), (1 / 3, 10), (0.5, 1), (1.1, 3), (1e-9, 2), (1e-3, 1_000_000),
        (2.0, 2**30), (1.1, 2**31)]


@pytest.mark.asyncio
@pytest.mark.parametrize(("rate", "burst"), SLOW)
async def test_decisions_equal_reference(client: redis.asyncio.Redis, rate: float,
                                         burst: int) -> None:
    limiter = RedisRateLimiter(client, rate, burst)
    oracle = GcraOracle(rate, burst)
    t = interval_ns(rate)
    rng = random.Random(f"{rate}/{burst}")  # noqa: S311 - reproducible, not cryptography
    advances = [0, 0, 1, 999, t // 3, t, 2 * t, rng.randrange(burst * t + 1)]
    admitted = await run_sequence(limiter, oracle, rng, 300, ["a", "b", "ключ"], advances,
                                  resets=True)
    assert admitted > 10
    assert limiter.metrics.decisions > 250 and limiter.metrics.redis_errors == 0


# Intervals of 1 to 3,333 ns: each key is first drained by half its 2**32 burst, so it stays
# seconds from full (and alive in Redis) while the time moves by ns and µs.
FAST = [(1e9, 2**32), (7e6, 2**32), (3e5, 2**32)]


@pytest.mark.asyncio
@pytest.mark.parametrize(("rate", "burst"), FAST)
async def test_fast_rates_equal_reference(client: redis.asyncio.Redis, rate: float,
                                          burst: int) -> None:
    limiter = RedisRateLimiter(client, rate, burst)
    oracle = GcraOracle(rate, burst)
    keys = ["x", "y"]
    now = time.time_ns()
    for key in keys:
        got = await limiter._decide(key, burst // 2, commit=True, now_ns=now)
        assert got == expected(oracle.acquire(key, burst // 2, now))
    t = interval_ns(rate)
    rng = random.Random(f"{rate}")  # noqa: S311 - reproducible, not cryptography
    await run_sequence(limiter, oracle, rng, 300, keys, [0, 1, 7, t, 1000, 10**6],
                       resets=False)


@pytest.mark.asyncio
@pytest.mark.parametrize("offset", [0, 1, 250_000_000, 500_000_000, 999_999_999])
@pytest.mark.parametrize(("rate", "burst"), [(2.0, 4), (4.0, 3)])
async def test_carries_equal_reference(client: redis.asyncio.Redis, rate: float, burst: int,
                                       offset: int) -> None:
    """Times and intervals on a lattice of quarter seconds, so the script's nanosecond parts
    often add up to exactly a second or subtract to exactly zero."""
    limiter = RedisRateLimiter(client, rate, burst)
    start = (time.time_ns() // NS + 1000) * NS + offset
    rng = random.Random(f"{rate}/{offset}")  # noqa: S311 - reproducible, not cryptography
    quarter = NS // 4
    await run_sequence(limiter, GcraOracle(rate, burst), rng, 120, ["a", "b"],
                       [0, 0, quarter, 2 * quarter, 3 * quarter, NS], resets=True, start=start)


@pytest.mark.asyncio
async def test_server_clock_decides(client: redis.asyncio.Redis) -> None:
    """The production path (the server's TIME): the reference's decisions, up to the time
    this test itself takes."""
    limiter = RedisRateLimiter(client, 2.0, 4)  # one token per 0.5 s
    began = time.monotonic()
    got = [await limiter.acquire("k") for _ in range(5)]
    elapsed = time.monotonic() - began
    assert elapsed < 0.5, "too slow a machine for this test's tolerance"
    assert [d.allowed for d in got] == [True] * 4 + [False]
    assert [d.remaining for d in got] == [3, 2, 1, 0, 0]
    for i, d in enumerate(got[:4]):
        assert (i + 1) * 0.5 - elapsed <= d.reset_after <= (i + 1) * 0.5
    denied = got[4]
    assert 0.5 - elapsed <= denied.retry_after <= 0.5
    assert 2.0 - elapsed <= denied.reset_after <= 2.0
    assert (await limiter.peek("k")).allowed is False
    await asyncio.sleep(denied.retry_after + 0.01)
    assert (await limiter.acquire("k")).allowed


# ---- keys and their expiry ----------------------------------------------------------------

@pytest.mark.asyncio
async def test_key_expiry_is_time_to_full(client: redis.asyncio.Redis) -> None:
    limiter = RedisRateLimiter(client, 1 / 3, 10, prefix="t:")  # 3 s per token
    now = time.time_ns()
    name = "t:ключ".encode()
    began = time.monotonic()
    d = await limiter._decide("ключ", 4, commit=True, now_ns=now)
    pttl = await client.pttl(name)
    waited_ms = (time.monotonic() - began) * 1000
    full_ms = math.ceil(d.reset_after * 1000)
    assert d.reset_after == 12.0
    assert full_ms - waited_ms - 1 <= pttl <= full_ms
    assert await client.get(name) == str(now + 12 * NS).encode()  # the TAT, integer ns
    # The server's clock: the expiry is the reported time to full.
    d = await limiter.acquire("ключ", 2)
    pttl = await client.pttl(name)
    assert d.reset_after * 1000 - 100 <= pttl <= math.ceil(d.reset_after * 1000)
    # Denied decisions, peeks and zero costs change neither the value nor the expiry.
    value = await client.get(name)
    for cost, commit in ((11, True), (100, True), (1, False), (0, True)):
        await limiter._decide("ключ", cost, commit=commit, now_ns=time.time_ns() + 1)
        assert await client.get(name) == value
        assert await client.pttl(name) <= pttl


@pytest.mark.asyncio
async def test_idle_keys_vanish(client: redis.asyncio.Redis) -> None:
    limiter = RedisRateLimiter(client, 10.0, 3)  # full again 0.3 s after draining
    assert [(await limiter.acquire("idle")).allowed for _ in range(4)] == [True] * 3 + [False]
    assert await client.exists(b"llmward:rl:idle") == 1
    await asyncio.sleep(0.5)
    assert await client.exists(b"llmward:rl:idle") == 0
    assert await client.dbsize() == 0
    assert [(await limiter.acquire("idle")).allowed for _ in range(3)] == [True] * 3


@pytest.mark.asyncio
async def test_keys_and_reset(client: redis.asyncio.Redis) -> None:
    limiter = RedisRateLimiter(client, 1e-3, 2, prefix="app:rl:")
    long_key = "é" * 512  # 1,024 UTF-8 bytes: the longest allowed
    for key in ("user:1", long_key):
        assert [(await limiter.acquire(key)).allowed for _ in range(3)] == [True, True, False]
    assert sorted(await client.keys("*")) == sorted(
        [b"app:rl:user:1", b"app:rl:" + long_key.encode()])
    await limiter.reset("user:1")
    assert await client.exists(b"app:rl:user:1") == 0
    assert (await limiter.acquire("user:1")).remaining == 1
    assert (await limiter.acquire(long_key)).allowed is False  # other keys untouched


@pytest.mark.asyncio
@pytest.mark.parametrize("stored", [b"not a time", b"-5", b"1" * 30])
async def test_corrupt_state_fails_closed(client: redis.asyncio.Redis, stored: bytes) -> None:
    """A value the script did not write is an error (counted, raised), never a full bucket."""
    limiter = RedisRateLimiter(client, 1.0, 5)
    await client.set(b"llmward:rl:k", stored)
    with pytest.raises(RateLimiterUnavailable, match="not a time in ns"):
        await limiter.acquire("k")
    await client.delete(b"llmward:rl:k")
    await client.hset(b"llmward:rl:k", "f", "v")
    with pytest.raises(RateLimiterUnavailable, match="WRONGTYPE"):
        await limiter.acquire("k")
    assert limiter.metrics.fail_closed_errors == 2 and limiter.metrics.decisions == 0


# ---- round trips and the script cache -----------------------------------------------------

@pytest.mark.asyncio
async def test_one_round_trip_per_decision(client: redis.asyncio.Redis) -> None:
    limiter = RedisRateLimiter(client, 1e-3, 20)
    await limiter.acquire("warm")  # the first call loads the script
    before = await commandstats(client)
    decisions = 60
    writes = 0
    for i in range(decisions):
        if i % 3 == 2:
            await limiter.peek(f"k{i % 4}", 2)
        else:
            d = await limiter.acquire(f"k{i % 4}", i % 3)
            writes += d.allowed and i % 3 > 0
    after = await commandstats(client)
    # From the client: EVALSHA once per decision, nothing else (INFO is this test's own).
    # TIME, GET and SET are the script's own calls inside the server, which INFO counts too.
    assert delta(before, after) == {
        "evalsha": (decisions, 0),
        "time": (decisions, 0),
        "get": (decisions, 0),
        "set": (writes, 0),
        "info": (1, 0),
    }


@pytest.mark.asyncio
async def test_noscript_recovery(client: redis.asyncio.Redis) -> None:
    limiter = RedisRateLimiter(client, 1e-3, 3)
    assert (await limiter.acquire("k")).remaining == 2
    assert await client.script_exists(SCRIPT_SHA) == [True]
    await client.script_flush()
    before = await commandstats(client)
    assert (await limiter.acquire("k")).remaining == 1  # the state survived the flush
    after = await commandstats(client)
    changed = delta(before, after)
    assert changed["evalsha"] == (2, 1)  # NOSCRIPT, then the retry
    assert changed["script|load"] == (1, 0)
    assert await client.script_exists(SCRIPT_SHA) == [True]
    assert limiter.metrics.redis_errors == 0 and limiter.metrics.decisions == 2


# ---- concurrency --------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_concurrent_acquires_admit_the_burst(redis_server: RedisServer) -> None:
    """Several replicas (a client each) race for one key: exactly the burst is admitted, each
    admission seeing a distinct remaining count."""
    burst = 37
    clients = [redis.asyncio.Redis(host=redis_server.host, port=redis_server.port)
               for _ in range(5)]
    try:
        await clients[0].flushall()
        limiters = [RedisRateLimiter(c, 1e-3, burst, timeout=5.0) for c in clients]
        for limiter in limiters:
            await limiter.peek("warm")  # load the script before the race
        got = await asyncio.gather(*(limiters[i % 5].acquire("shared") for i in range(400)))
        allowed = [d for d in got if d.allowed]
        assert len(allowed) == burst
        assert sorted(d.remaining for d in allowed) == list(range(burst))
        assert sum(limiter.metrics.decisions for limiter in limiters) == 400 + 5
    finally:
        for c in clients:
            await c.aclose()


# ---- Redis failures -----------------------------------------------------------------------

@pytest.mark.asyncio
async def test_fail_closed_when_unreachable(closed_port: int,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    limiter = offline(closed_port)
    began = time.monotonic()
    with pytest.raises(RateLimiterUnavailable, match=f"Redis at 127.0.0.1:{closed_port}"):
        await limiter.acquire("k")
    assert time.monotonic() - began < 2.0
    with pytest.raises(RateLimiterUnavailable):
        await limiter.peek("k")
    with pytest.raises(RateLimiterUnavailable):
        await limiter.reset("k")
    m = limiter.metrics
    assert (m.decisions, m.redis_errors, m.fail_closed_errors, m.fail_open_decisions) == (
        0, 3, 3, 0)
    records = [r for r in caplog.records if r.name == LOGGER]
    assert len(records) == 3  # once per failure
    assert all(r.levelno == logging.ERROR for r in records)


@pytest.mark.asyncio
async def test_fail_closed_when_server_stops(own_redis: RedisServer,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    server = own_redis
    c = redis.asyncio.Redis(host=server.host, port=server.port)
    try:
        limiter = RedisRateLimiter(c, 1e-3, 5)
        assert (await limiter.acquire("k")).allowed
        server.stop()
        with pytest.raises(RateLimiterUnavailable, match="Error"):
            await limiter.acquire("k")
        assert (limiter.metrics.decisions, limiter.metrics.fail_closed_errors) == (1, 1)
        assert len([r for r in caplog.records if r.name == LOGGER]) == 1
    finally:
        await c.aclose()


@pytest.mark.asyncio
async def test_timeout_fails_closed_and_keeps_the_loop_free(silent_port: int) -> None:
    limiter = offline(silent_port, timeout=0.3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    began = time.monotonic()
    try:
        with pytest.raises(RateLimiterUnavailable, match="no answer within 0.3 s"):
            await limiter.acquire("k")
    finally:
        task.cancel()
    assert 0.25 <= time.monotonic() - began < 2.0
    assert ticks >= 10  # the event loop ran other work while Redis did not answer
    assert limiter.metrics.fail_closed_errors == 1


@pytest.mark.asyncio
async def test_fail_open_uses_the_fallback(closed_port: int,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    fallback = RateLimiter(1e-3, 2)
    limiter = offline(closed_port, failure_mode="fail_open", fallback=fallback)
    assert [(await limiter.peek("k")).remaining for _ in range(2)] == [1, 1]  # take nothing
    got = [await limiter.acquire("k") for _ in range(3)]
    assert [(d.allowed, d.remaining) for d in got] == [(True, 1), (True, 0), (False, 0)]
    assert fallback.peek("k").allowed is False  # the fallback's own bucket was used
    m = limiter.metrics
    assert (m.decisions, m.redis_errors, m.fail_open_decisions, m.fail_closed_errors) == (
        0, 5, 5, 0)
    records = [r for r in caplog.records if r.name == LOGGER]
    assert len(records) == 5 and all(r.levelno == logging.WARNING for r in records)
    assert "local fallback decides" in records[0].getMessage()
    # reset cannot happen without Redis: the fallback's bucket is reset, and the caller told.
    with pytest.raises(RateLimiterUnavailable):
        await limiter.reset("k")
    assert fallback.peek("k").allowed and fallback.peek("k").remaining == 1


@pytest.mark.asyncio
async def test_fail_open_returns_to_redis(client: redis.asyncio.Redis) -> None:
    """Redis decides while it answers; the fallback while it does not (here: paused past the
    timeout); Redis again once it answers."""
    limiter = RedisRateLimiter(client, 1e-3, 2, failure_mode="fail_open",
                               fallback=RateLimiter(1e-3, 5), timeout=0.1)
    assert (await limiter.acquire("k")).limit == 2  # Redis's bucket (the fallback's holds 5)
    await client.client_pause(400)
    assert (await limiter.acquire("k")).limit == 5
    await asyncio.sleep(0.5)
    assert (await limiter.acquire("k")).limit == 2
    m = limiter.metrics
    assert (m.decisions, m.fail_open_decisions, m.redis_errors) == (2, 1, 1)


def secrets_in(error: BaseException, caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = ["".join(traceback.format_exception(error)), repr(error), caplog.text]
    texts += [r.getMessage() for r in caplog.records]
    return [t for t in texts if PASSWORD in t]


@pytest.mark.asyncio
async def test_no_password_in_errors_or_logs(closed_port: int,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for url in (f"redis://:{PASSWORD}@127.0.0.1:{closed_port}/0",
                f"redis://admin:{PASSWORD}@127.0.0.1:{closed_port}/0"):
        limiter = RedisRateLimiter(redis.asyncio.Redis.from_url(url), 1.0, 2)
        with pytest.raises(RateLimiterUnavailable) as caught:
            await limiter.acquire("k")
        assert caught.value.__cause__ is None and caught.value.__context__ is None
        assert secrets_in(caught.value, caplog) == []
    assert PASSWORD not in repr(limiter)


@pytest.mark.asyncio
async def test_password_protected_server(password_redis: RedisServer,
                                         caplog: pytest.LogCaptureFixture) -> None:
    """Right password: decisions. Wrong one: RateLimiterUnavailable, and the password it was
    given appears in neither the error nor the logs."""
    caplog.set_level(logging.DEBUG)
    server = password_redis
    good = redis.asyncio.Redis.from_url(
        f"redis://:the-real-one@{server.host}:{server.port}/0")
    assert (await RedisRateLimiter(good, 1.0, 2).acquire("k")).allowed
    await good.aclose()
    bad = redis.asyncio.Redis.from_url(f"redis://:{PASSWORD}@{server.host}:{server.port}/0")
    limiter = RedisRateLimiter(bad, 1.0, 2)
    with pytest.raises(RateLimiterUnavailable, match="AuthenticationError") as caught:
        await limiter.acquire("k")
    assert secrets_in(caught.value, caplog) == []
    await bad.aclose()


def test_failure_descriptions_are_scrubbed(closed_port: int) -> None:
    c = redis.asyncio.Redis.from_url(f"redis://:{PASSWORD}@127.0.0.1:{closed_port}/0")
    limiter = RedisRateLimiter(c, 1.0, 2)
    text = limiter._describe(ConnectionError(
        f"failed with {PASSWORD} at redis://someone:other@host:1 and rediss://u:p@h"))
    assert PASSWORD not in text and "other" not in text and "u:p" not in text
    assert text.startswith("ConnectionError: failed with ***")
    assert len(limiter._describe(ValueError("x" * 10_000))) < 400
