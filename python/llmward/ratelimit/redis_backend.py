"""RedisRateLimiter: the native limiter's GCRA held in Redis, shared by several server replicas.

Each decision is one EVALSHA of ``gcra.lua``: atomic on the server, timed by the server's clock
(so replicas whose own clocks disagree decide alike), one round trip. A bucket is one string key,
``prefix + key``, holding its theoretical arrival time in integer ns and expiring when the
bucket is full again, so idle keys vanish. The script returns how far the bucket was from full;
every field of the Decision is computed from that here, with Python integers, exactly as
``tests/gcra_oracle.py`` and the native limiter do.

When Redis cannot decide (unreachable, timed out, an error reply), ``fail_closed`` (the default)
raises ``RateLimiterUnavailable``; ``fail_open`` lets the local ``fallback`` limiter decide.
Either way the failure is logged once, without credentials, and counted in ``metrics``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import numbers
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import redis.asyncio
from redis.exceptions import NoScriptError, RedisError

from llmward._core import Decision, RateLimiter
from llmward.ratelimit.errors import RateLimiterUnavailable

__all__ = ["RedisLimiterMetrics", "RedisRateLimiter"]

logger = logging.getLogger("llmward.ratelimit.redis")

NS = 1_000_000_000
MAX_KEY_BYTES = 1024  # as the native limiter
MAX_PREFIX_BYTES = 1024
MAX_RATE = 1e9
MAX_BURST = 1 << 32
MAX_TAU_NS = 1 << 61  # burst / rate, as the native limiter bounds it
_MAX_DETAIL = 300  # characters of a failure's description kept in logs and errors

SCRIPT = Path(__file__).with_name("gcra.lua").read_text(encoding="utf-8")
# Redis names scripts by the SHA-1 of their text; no security rests on it.
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode("utf-8"), usedforsecurity=False).hexdigest()

FailureMode = Literal["fail_closed", "fail_open"]
_FAILURES = (RedisError, OSError, asyncio.TimeoutError)
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


class _UnexpectedReply(RedisError):
    """The script answered something it never returns."""


@dataclass
class RedisLimiterMetrics:
    decisions: int = 0  # decisions Redis made
    redis_errors: int = 0  # Redis calls that failed (unreachable, timed out, an error reply)
    fail_open_decisions: int = 0  # decisions the local fallback made because Redis failed
    fail_closed_errors: int = 0  # RateLimiterUnavailable raised


def check_limits(rate: object, burst: object) -> tuple[float, int, int]:
    """(rate, burst, interval in ns) after the native limiter's checks, with its errors."""
    if not isinstance(rate, numbers.Real):
        raise TypeError(f"rate must be a real number, not {type(rate).__name__}")
    rate = float(rate)
    if not (0.0 < rate <= MAX_RATE) or not math.isfinite(rate):
        raise ValueError("rate must be a finite number of tokens per second in (0, 1e9]")
    if not isinstance(burst, int):
        raise TypeError(f"burst must be int, not {type(burst).__name__}")
    if not 1 <= burst <= MAX_BURST:
        raise ValueError("burst must be between 1 and 2**32")
    interval = round(1e9 / rate)  # half to even, as C's nearbyint
    if float(interval) * float(burst) > float(MAX_TAU_NS):
        raise ValueError("burst / rate is too long (over 2**61 ns, 73 years)")
    return rate, int(burst), max(1, interval)


def check_key(key: object) -> bytes:
    """The key's UTF-8 bytes, checked as the native limiter checks keys."""
    if not isinstance(key, str):
        raise TypeError(f"key must be str, not {type(key).__name__}")
    raw = key.encode("utf-8")  # UnicodeEncodeError for lone surrogates, as the native one
    if not 1 <= len(raw) <= MAX_KEY_BYTES:
        raise ValueError(f"key must be 1 to {MAX_KEY_BYTES} UTF-8 bytes, got {len(raw)}")
    return raw


def check_cost(cost: object) -> int:
    if not isinstance(cost, int):
        raise TypeError(f"cost must be int, not {type(cost).__name__}")
    if cost < 0:
        raise ValueError("cost must not be negative")
    return int(cost)


class RedisRateLimiter:
    """GCRA rate limiter on Redis: ``rate`` tokens per second, buckets of ``burst`` tokens.

    The decisions are the native ``RateLimiter``'s, at the Redis server's time. ``timeout``
    bounds each call, connection and redis-py's own retries included."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        rate: float,
        burst: int,
        *,
        prefix: str = "llmward:rl:",
        failure_mode: FailureMode = "fail_closed",
        fallback: RateLimiter | None = None,
        timeout: float = 0.25,
    ) -> None:
        self._rate, self._burst, self._interval = check_limits(rate, burst)
        self._tau = self._burst * self._interval
        if not isinstance(client, redis.asyncio.Redis):
            raise TypeError(f"client must be a redis.asyncio.Redis, not {type(client).__name__}")
        if not isinstance(prefix, str) or len(prefix.encode("utf-8")) > MAX_PREFIX_BYTES:
            raise ValueError(f"prefix must be a str of at most {MAX_PREFIX_BYTES} UTF-8 bytes")
        if failure_mode not in ("fail_closed", "fail_open"):
            raise ValueError(
                f"failure_mode must be 'fail_closed' or 'fail_open', not {failure_mode!r}")
        if fallback is not None and not isinstance(fallback, RateLimiter):
            raise TypeError(
                f"fallback must be an llmward.RateLimiter, not {type(fallback).__name__}")
        if failure_mode == "fail_open" and fallback is None:
            raise ValueError("failure_mode='fail_open' needs a fallback llmward.RateLimiter")
        if failure_mode == "fail_closed" and fallback is not None:
            raise ValueError("a fallback is only used with failure_mode='fail_open'")
        if (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                or not 0.0 < float(timeout) < math.inf):
            raise ValueError("timeout must be a finite number of seconds above 0")
        self._client = client
        self._prefix = prefix.encode("utf-8")
        self._failure_mode: FailureMode = failure_mode
        self._fallback = fallback
        self._timeout = float(timeout)
        self.metrics = RedisLimiterMetrics()

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    @property
    def failure_mode(self) -> FailureMode:
        return self._failure_mode

    def __repr__(self) -> str:
        return (f"RedisRateLimiter(rate={self._rate!r}, burst={self._burst}, "
                f"failure_mode={self._failure_mode!r})")

    async def acquire(self, key: str, cost: int = 1) -> Decision:
        """Take ``cost`` tokens from ``key``'s bucket if it holds them; a cost of 0 takes
        nothing."""
        return await self._decide(key, cost, commit=True)

    async def peek(self, key: str, cost: int = 1) -> Decision:
        """The Decision acquire() would return now, taking nothing."""
        return await self._decide(key, cost, commit=False)

    async def reset(self, key: str) -> None:
        """Fill ``key``'s bucket again (the fallback's too). It cannot be done without Redis,
        so a failure raises RateLimiterUnavailable in either mode."""
        name = self._prefix + check_key(key)
        if self._fallback is not None:
            self._fallback.reset(key)
        try:
            await asyncio.wait_for(self._client.delete(name), self._timeout)
            return
        except _FAILURES as error:
            failure = self._describe(error)
        # Raised outside the except block: no chained redis-py exception to print.
        self.metrics.redis_errors += 1
        self.metrics.fail_closed_errors += 1
        logger.error("rate limiter: Redis at %s failed on reset (%s)", self._server(), failure)
        raise RateLimiterUnavailable(
            f"rate limiter unavailable: Redis at {self._server()} failed ({failure})")

    async def _decide(self, key: str, cost: int, *, commit: bool,
                      now_ns: int | None = None) -> Decision:
        """One decision. ``now_ns`` (ns since the epoch) replaces the server's clock: tests only,
        to compare with the reference at chosen times."""
        name = self._prefix + check_key(key)
        cost = check_cost(cost)
        # Anything above the burst is refused alike; clamping keeps the argument small.
        charge = min(cost, self._burst + 1) * self._interval
        args = [str(charge), str(self._tau), "1" if commit else "0"]
        if now_ns is not None:
            args.append(str(now_ns))
        try:
            reply = await asyncio.wait_for(self._evalsha(name, args), self._timeout)
            behind = self._parse(reply, charge)
        except _FAILURES as error:
            failure = self._describe(error)
        else:
            self.metrics.decisions += 1
            return self._decision(behind, cost, charge)
        return self._failed(failure, key, cost, commit)

    async def _evalsha(self, name: bytes, args: list[str]) -> object:
        try:
            return await self._client.evalsha(SCRIPT_SHA, 1, name, *args)
        except NoScriptError:
            # First use, or a restarted or flushed server: load the script, try once more.
            sha = await self._client.script_load(SCRIPT)
            if (sha.decode("ascii") if isinstance(sha, bytes) else sha) != SCRIPT_SHA:
                raise _UnexpectedReply("SCRIPT LOAD returned another SHA-1") from None
            return await self._client.evalsha(SCRIPT_SHA, 1, name, *args)

    def _parse(self, reply: object, charge: int) -> int:
        """The bucket's distance from full (ns) that the script reports, checked."""
        if isinstance(reply, list) and len(reply) == 2 and reply[0] in (0, 1):
            text = reply[1].decode("ascii", "replace") if isinstance(reply[1], bytes) else reply[1]
            if isinstance(text, str) and 0 < len(text) <= 20 and text.isascii() and text.isdigit():
                behind = int(text)
                if (reply[0] == 1) == (behind + charge <= self._tau):
                    return behind
        raise _UnexpectedReply("the GCRA script returned an unexpected reply")

    def _decision(self, behind: int, cost: int, charge: int) -> Decision:
        """The reference GCRA's Decision, from max(TAT, now) - now before the decision."""
        t, tau, burst = self._interval, self._tau, self._burst
        if cost > burst:
            return Decision(False, math.inf, max(0, (tau - behind) // t), behind / NS, burst)
        after = behind + charge
        if after <= tau:
            return Decision(True, 0.0, (tau - after) // t, after / NS, burst)
        return Decision(False, (after - tau) / NS, max(0, (tau - behind) // t), behind / NS,
                        burst)

    def _failed(self, failure: str, key: str, cost: int, commit: bool) -> Decision:
        self.metrics.redis_errors += 1
        if self._fallback is not None:
            self.metrics.fail_open_decisions += 1
            logger.warning("rate limiter: Redis at %s failed (%s); the local fallback decides",
                           self._server(), failure)
            return self._fallback.acquire(key, cost) if commit else self._fallback.peek(key, cost)
        self.metrics.fail_closed_errors += 1
        logger.error("rate limiter: Redis at %s failed (%s); failing closed", self._server(),
                     failure)
        raise RateLimiterUnavailable(
            f"rate limiter unavailable: Redis at {self._server()} failed ({failure})")

    def _server(self) -> str:
        """host:port (or the socket path) of the client's pool: never its credentials."""
        kwargs = self._client.connection_pool.connection_kwargs
        if kwargs.get("path"):
            return str(kwargs["path"])
        return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"

    def _describe(self, error: BaseException) -> str:
        """The failure's class and message, with any password or URL credentials removed."""
        if isinstance(error, asyncio.TimeoutError) and not str(error):
            text = f"no answer within {self._timeout:g} s"
        else:
            text = str(error) or "no detail"
        password = self._client.connection_pool.connection_kwargs.get("password")
        if isinstance(password, str) and password:
            text = text.replace(password, "***")
        text = _USERINFO.sub("***@", text)
        if len(text) > _MAX_DETAIL:
            text = text[:_MAX_DETAIL] + "..."
        return f"{type(error).__name__}: {text}"
