"""Who a request is, which limits apply to it, and the buckets that enforce them.

Requests per minute and tokens per minute are GCRA buckets behind `RateBackend`
(the native in-process limiter by default, Redis for several replicas); one
backend per distinct (rate, burst), with keys namespaced by limit kind and
principal. Requests in flight are counted by a `ConcurrencyLimiter`.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from llmward._core import Decision, RateLimiter
from llmward.ratelimit.concurrency import ConcurrencyLimiter
from llmward.ratelimit.config import (
    ANONYMOUS,
    IPNetwork,
    LimitOverrides,
    Limits,
    Rate,
    RateLimitConfig,
    apply_overrides,
)

MAX_SUBJECT_BYTES = 256  # longer ids are keyed by their SHA-256
MAX_CACHED_KEY_LIMITS = 65536  # resolved per-key limits kept between requests


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller as an auth middleware identified it (issue 6): the API key's id
    (never the secret), the user, and the role whose limits apply."""

    key_id: str | None
    user: str | None
    role: str
    # The key's own overrides (set when it was created), applied last: most specific.
    limits: LimitOverrides | None = None


ANONYMOUS_PRINCIPAL = Principal(key_id=None, user=None, role=ANONYMOUS)


class RateBackend(Protocol):
    """A GCRA limiter: the native one through `LocalBackend`, or
    `llmward.ratelimit.redis_backend.RedisRateLimiter`. May raise
    `llmward.ratelimit.errors.RateLimiterUnavailable` when it cannot decide."""

    async def acquire(self, key: str, cost: int) -> Decision: ...


# Builds the backend for one limit: (tokens per second, burst).
BackendFactory = Callable[[float, int], RateBackend]


class LocalBackend:
    """The native in-process limiter behind the async interface. A decision takes
    well under a microsecond, so it runs inline rather than on a thread."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def acquire(self, key: str, cost: int) -> Decision:
        return self.limiter.acquire(key, cost)


def local_backend_factory(clock: Callable[[], float] | None = None) -> BackendFactory:
    """Native limiters; `clock` (monotonic seconds) is for tests."""

    def build(rate: float, burst: int) -> RateBackend:
        return LocalBackend(RateLimiter(rate, burst, clock=clock))

    return build


class RateLimitPolicy:
    def __init__(self, config: RateLimitConfig | None = None, *,
                 backend_factory: BackendFactory | None = None) -> None:
        self.config = config or RateLimitConfig()
        self._factory = backend_factory or local_backend_factory()
        self._backends: dict[tuple[float, int], RateBackend] = {}
        # Key overrides resolved against every role once (the config validated them).
        self._key_limits = {
            (key_id, role): apply_overrides(limits, overrides, f"ratelimit.keys.{key_id!r}")
            for key_id, overrides in self.config.keys.items()
            for role, limits in self.config.roles.items()
        }
        self._record_limits: dict[tuple[str | None, str, LimitOverrides], Limits] = {}
        self.concurrency = ConcurrencyLimiter()

    def limits_for(self, principal: Principal) -> Limits:
        """The role's limits, then the `[ratelimit.keys]` overrides for the key id, then
        the overrides stored with the key itself; a role with no limits configured gets
        the anonymous ones (least privilege)."""
        role = principal.role if principal.role in self.config.roles else ANONYMOUS
        limits = self.config.roles[role]
        if principal.key_id:
            limits = self._key_limits.get((principal.key_id, role), limits)
        if principal.limits is not None:
            cache_key = (principal.key_id, role, principal.limits)
            cached = self._record_limits.get(cache_key)
            if cached is None:
                # Validated when the key was created; a combination that no longer fits
                # (the role's base changed) is refused loudly rather than ignored.
                cached = apply_overrides(limits, principal.limits,
                                         f"limits of API key {principal.key_id!r}")
                if len(self._record_limits) >= MAX_CACHED_KEY_LIMITS:
                    self._record_limits.clear()  # bounded; rebuilt on demand
                self._record_limits[cache_key] = cached
            limits = cached
        return limits

    async def acquire_request(self, subject: str, limits: Limits) -> Decision:
        """One request against the requests-per-minute bucket."""
        return await self._backend(limits.requests).acquire(f"requests:{subject}", 1)

    async def acquire_tokens(self, subject: str, limits: Limits, tokens: int) -> Decision:
        """`tokens` against the tokens-per-minute bucket. Any cost above the burst
        is refused the same way, so it is capped there (the backend never sees an
        attacker's 10**30)."""
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise ValueError(f"tokens must be a non-negative integer, got {tokens!r}")
        cost = min(tokens, limits.tokens.burst + 1)
        return await self._backend(limits.tokens).acquire(f"tokens:{subject}", cost)

    def _backend(self, rate: Rate) -> RateBackend:
        key = (rate.per_second, rate.burst)
        backend = self._backends.get(key)
        if backend is None:
            # Bounded: one per distinct limit in the configuration.
            backend = self._backends[key] = self._factory(rate.per_second, rate.burst)
        return backend


def subject_of(principal: Principal, client: str) -> str:
    """The bucket a principal's requests count against: its API key, else its
    user, else (anonymous) its client address."""
    if principal.key_id:
        return _bounded("key", principal.key_id)
    if principal.user:
        return _bounded("user", principal.user)
    return _bounded("addr", client)


def _bounded(kind: str, value: str) -> str:
    subject = f"{kind}:{value}"
    try:
        if len(subject.encode("utf-8")) <= MAX_SUBJECT_BYTES:
            return subject
    except UnicodeEncodeError:  # lone surrogates: limiters take UTF-8 keys only
        pass
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}#sha256:{digest}"


def client_address(remote: str | None, forwarded_for: Iterable[str],
                   trusted_proxies: tuple[IPNetwork, ...]) -> str:
    """The address an anonymous caller is keyed by.

    The peer's address, unless the peer is a trusted proxy: then X-Forwarded-For is
    read from the right (each proxy appends the address it saw) and the first
    address that is not a trusted proxy is the client. An entry that is not an
    address stops the walk at the last trusted hop. IPv6 clients are keyed by
    their /64, the block one subscriber usually holds, so rotating addresses
    within it gains nothing.
    """
    peer = _ip(remote)
    if peer is None:
        return remote or "unknown"  # a Unix socket: no address to key by
    if trusted_proxies and _is_trusted(peer, trusted_proxies):
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        for hop in reversed(hops):
            address = _ip(hop)
            if address is None:
                break
            peer = address
            if not _is_trusted(address, trusted_proxies):
                break
    if isinstance(peer, ipaddress.IPv6Address):
        if peer.ipv4_mapped is not None:
            return str(peer.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(peer), 64), strict=False))  # drops a zone id
    return str(peer)


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
                networks: tuple[IPNetwork, ...]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
