"""Rate-limit configuration, the policy's choice of limits and buckets, and the
concurrency counter. Decisions are checked against tests/gcra_oracle.py through
the native limiter with an injected clock."""

from __future__ import annotations

import asyncio
import ipaddress
import math
import random
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gcra_oracle import NS, GcraOracle, OracleDecision
from llmward._core import Decision
from llmward.ratelimit.concurrency import ConcurrencyLimiter
from llmward.ratelimit.config import (
    DEFAULT_ROLE_LIMITS,
    ROLES,
    LimitOverrides,
    Limits,
    Rate,
    RateLimitConfig,
    apply_overrides,
)
from llmward.ratelimit.policy import (
    ANONYMOUS_PRINCIPAL,
    Principal,
    RateLimitPolicy,
    client_address,
    local_backend_factory,
    subject_of,
)

T = TypeVar("T")

EXAMPLE = """
[server]                     # another component's table: not read by the rate limiter
port = 8080

[ratelimit]
exempt_paths = ["/health", "/ready", "/metrics"]
trusted_proxies = ["10.0.0.0/8", "::1/128"]

[ratelimit.roles.user]
requests_per_minute = 20
tokens_per_minute = 30000
tokens_burst = 10000
concurrent_requests = 2

[ratelimit.roles.anonymous]
requests_burst = 2

[ratelimit.keys."key_batch_7"]
requests_per_minute = 600
concurrent_requests = 32
"""


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class RecordingBackend:
    """A RateBackend that records what it is asked and allows everything."""

    def __init__(self, rate: float, burst: int, log: list[tuple[float, int, str, int]]) -> None:
        self.rate, self.burst, self.log = rate, burst, log

    async def acquire(self, key: str, cost: int) -> Decision:
        self.log.append((self.rate, self.burst, key, cost))
        return Decision(cost <= self.burst, 0.0 if cost <= self.burst else math.inf, 0, 0.0,
                        self.burst)


def recording_factory(log: list[tuple[float, int, str, int]],
                      built: list[tuple[float, int]]) -> Callable[[float, int], RecordingBackend]:
    def build(rate: float, burst: int) -> RecordingBackend:
        built.append((rate, burst))
        return RecordingBackend(rate, burst, log)

    return build


# ---- configuration --------------------------------------------------------------------------


def test_defaults_are_the_documented_ones() -> None:
    config = RateLimitConfig()
    table = {role: (limits.requests.per_minute, limits.requests.burst, limits.tokens.per_minute,
                    limits.tokens.burst, limits.concurrent_requests)
             for role, limits in config.roles.items()}
    assert table == {
        "admin": (300, 300, 400_000, 400_000, 16),
        "developer": (120, 120, 200_000, 200_000, 8),
        "user": (30, 30, 60_000, 60_000, 4),
        "viewer": (10, 10, 10_000, 10_000, 2),
        "anonymous": (5, 5, 8_000, 8_000, 1),
    }
    assert config.exempt_paths == {"/health", "/ready"}
    assert config.trusted_proxies == ()  # X-Forwarded-For ignored unless configured
    assert config.keys == {}


def test_file_example(tmp_path: Path) -> None:
    path = tmp_path / "llmward.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    config = RateLimitConfig.from_file(path)
    user = config.roles["user"]
    # requests_burst not given: one minute's worth of the rate given beside it
    assert user.requests == Rate(20.0, 20)
    assert user.tokens == Rate(30000.0, 10000)
    assert user.concurrent_requests == 2
    # a burst alone keeps the role's default rate
    assert config.roles["anonymous"].requests == Rate(5.0, 2)
    assert config.roles["anonymous"].tokens == DEFAULT_ROLE_LIMITS["anonymous"].tokens
    assert config.roles["admin"] == DEFAULT_ROLE_LIMITS["admin"]
    assert config.keys == {"key_batch_7": LimitOverrides(requests_per_minute=600.0,
                                                         concurrent_requests=32)}
    assert config.exempt_paths == {"/health", "/ready", "/metrics"}
    assert config.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"),
                                      ipaddress.ip_network("::1/128"))


def test_dict_equals_file(tmp_path: Path) -> None:
    import tomllib

    path = tmp_path / "c.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    assert RateLimitConfig.from_dict(tomllib.loads(EXAMPLE)["ratelimit"]) == \
        RateLimitConfig.from_file(path)
    assert RateLimitConfig.from_dict({}) == RateLimitConfig()


def test_fractional_rate_and_its_default_burst() -> None:
    config = RateLimitConfig.from_dict({"roles": {"viewer": {"requests_per_minute": 0.5,
                                                             "tokens_per_minute": 90.7}}})
    assert config.roles["viewer"].requests == Rate(0.5, 1)  # at least one
    assert config.roles["viewer"].tokens == Rate(90.7, 90)  # whole tokens, rounded down


def test_apply_overrides_rules() -> None:
    base = Limits(Rate(60.0, 10), Rate(1000.0, 500), 3)
    assert apply_overrides(base, LimitOverrides(), "x") == base
    assert apply_overrides(base, LimitOverrides(requests_per_minute=120), "x").requests == \
        Rate(120.0, 120)
    assert apply_overrides(base, LimitOverrides(requests_burst=4), "x").requests == Rate(60.0, 4)
    both = apply_overrides(base, LimitOverrides(tokens_per_minute=10, tokens_burst=7,
                                                concurrent_requests=9), "x")
    assert both == Limits(Rate(60.0, 10), Rate(10.0, 7), 9)


@pytest.mark.parametrize(("table", "message"), [
    ("[]", r"\[ratelimit\] must be a table"),
    ({"role": {}}, r"\[ratelimit\]: unknown keys \['role'\]"),
    ({"roles": []}, r"ratelimit\.roles: expected a table"),
    ({"keys": 3}, r"ratelimit\.keys: expected a table"),
    ({"roles": {"superuser": {}}}, r"ratelimit\.roles\.superuser: unknown role 'superuser'"),
    ({"roles": {"user": 5}}, r"ratelimit\.roles\.user: expected a table of limits"),
    ({"roles": {"user": {"requests_per_hour": 5}}},
     r"ratelimit\.roles\.user: unknown keys \['requests_per_hour'\]"),
    ({"keys": {"k": {"burst": 5}}}, r"ratelimit\.keys\.'k': unknown keys \['burst'\]"),
    ({"roles": {"user": {"requests_per_minute": "60"}}},
     r"ratelimit\.roles\.user\.requests_per_minute: expected a number greater than 0 and at "
     r"most 1_000_000_000, got '60'"),
    ({"roles": {"user": {"requests_per_minute": True}}},
     r"ratelimit\.roles\.user\.requests_per_minute: .* got True"),
    ({"roles": {"user": {"requests_per_minute": 0}}}, r"requests_per_minute: .* got 0"),
    ({"roles": {"user": {"tokens_per_minute": -5}}},
     r"ratelimit\.roles\.user\.tokens_per_minute: .* got -5"),
    ({"roles": {"user": {"tokens_per_minute": float("nan")}}}, r"tokens_per_minute: .* got nan"),
    ({"roles": {"user": {"tokens_per_minute": float("inf")}}}, r"tokens_per_minute: .* got inf"),
    ({"roles": {"user": {"tokens_per_minute": 10**12}}},
     r"tokens_per_minute: .* got 1000000000000"),
    ({"roles": {"user": {"requests_burst": 2.5}}},
     r"ratelimit\.roles\.user\.requests_burst: expected an integer between 1 and "
     r"1_000_000_000, got 2\.5"),
    ({"roles": {"user": {"requests_burst": 0}}}, r"requests_burst: .* got 0"),
    ({"roles": {"user": {"tokens_burst": 2**40}}}, r"tokens_burst: .* got 1099511627776"),
    ({"roles": {"user": {"concurrent_requests": 0}}},
     r"ratelimit\.roles\.user\.concurrent_requests: expected an integer between 1 and "
     r"100_000, got 0"),
    ({"roles": {"user": {"concurrent_requests": -1}}}, r"concurrent_requests: .* got -1"),
    ({"roles": {"user": {"concurrent_requests": 10**6}}}, r"concurrent_requests: .* got 1000000"),
    ({"keys": {"k": {"concurrent_requests": False}}},
     r"ratelimit\.keys\.'k'\.concurrent_requests: .* got False"),
    ({"roles": {"user": {"requests_per_minute": 0.001, "requests_burst": 1000}}},
     r"ratelimit\.roles\.user: requests_burst = 1000 at requests_per_minute = 0\.001 takes "
     r"more than a year to refill"),
    # valid alone, too slow over the anonymous role's rate (5 per minute)
    ({"keys": {"k": {"requests_burst": 3_000_000}}},
     r"ratelimit\.keys\.'k' \(over role anonymous\): requests_burst = 3000000 at "
     r"requests_per_minute = 5 takes more than a year"),
    ({"keys": {"": {}}}, r"ratelimit\.keys\.'': a key id is 1 to 256 printable characters"),
    ({"keys": {"k" * 257: {}}}, r"a key id is 1 to 256 printable characters"),
    ({"keys": {"a\nb": {}}}, r"a key id is 1 to 256 printable characters"),
    ({"exempt_paths": "/health"}, r"ratelimit\.exempt_paths: expected an array"),
    ({"exempt_paths": ["health"]}, r"ratelimit\.exempt_paths: 'health' is not a path"),
    ({"exempt_paths": ["/a"] * 257}, r"ratelimit\.exempt_paths: expected an array of at most"),
    ({"trusted_proxies": [1]}, r"ratelimit\.trusted_proxies: expected an array"),
    ({"trusted_proxies": ["proxy.local"]},
     r"ratelimit\.trusted_proxies: 'proxy\.local' is not an address or network"),
    ({"trusted_proxies": ["10.0.0.1/8"]},  # host bits set: probably not what was meant
     r"ratelimit\.trusted_proxies: '10\.0\.0\.1/8' is not an address or network"),
])
def test_validation_errors_name_the_setting(table: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RateLimitConfig.from_dict(table)  # type: ignore[arg-type]


def test_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[ratelimits]\n", encoding="utf-8")  # a typo is not "use the defaults"
    with pytest.raises(ValueError, match=r"c\.toml: no \[ratelimit\] table"):
        RateLimitConfig.from_file(path)
    path.write_text("[ratelimit\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"c\.toml: not valid TOML"):
        RateLimitConfig.from_file(path)
    path.write_text("[ratelimit.roles.user]\nrequests_per_minute = nan\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"c\.toml: ratelimit\.roles\.user\.requests_per_minute"):
        RateLimitConfig.from_file(path)
    path.write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    with pytest.raises(ValueError, match="larger than"):
        RateLimitConfig.from_file(path)


def test_config_needs_every_role() -> None:
    with pytest.raises(ValueError, match=r"no limits for roles \['viewer'\]"):
        RateLimitConfig(roles={r: DEFAULT_ROLE_LIMITS[r] for r in ROLES if r != "viewer"})


# ---- the policy's limits, subjects and buckets ----------------------------------------------


def test_limits_for_roles_and_key_overrides() -> None:
    config = RateLimitConfig.from_dict({
        "roles": {"developer": {"requests_per_minute": 100}},
        "keys": {"k1": {"requests_per_minute": 600, "concurrent_requests": 32}},
    })
    policy = RateLimitPolicy(config)
    dev = policy.limits_for(Principal("k2", "bob", "developer"))
    assert dev.requests == Rate(100.0, 100)
    assert dev.tokens == DEFAULT_ROLE_LIMITS["developer"].tokens
    # the override applies over the role the key's principal has
    k1_dev = policy.limits_for(Principal("k1", "bob", "developer"))
    assert k1_dev == Limits(Rate(600.0, 600), DEFAULT_ROLE_LIMITS["developer"].tokens, 32)
    k1_viewer = policy.limits_for(Principal("k1", None, "viewer"))
    assert k1_viewer == Limits(Rate(600.0, 600), DEFAULT_ROLE_LIMITS["viewer"].tokens, 32)
    # roles without limits get the anonymous ones (least privilege)
    assert policy.limits_for(Principal("k2", "eve", "root")) == config.roles["anonymous"]
    assert policy.limits_for(ANONYMOUS_PRINCIPAL) == config.roles["anonymous"]
    for role in ROLES:
        assert policy.limits_for(Principal(None, "u", role)) == config.roles[role]


def test_limits_stored_with_a_key_apply_last() -> None:
    config = RateLimitConfig.from_dict({
        "keys": {"k1": {"requests_per_minute": 600, "concurrent_requests": 32}}})
    policy = RateLimitPolicy(config)
    own = LimitOverrides(requests_per_minute=6, tokens_per_minute=1000)
    limits = policy.limits_for(Principal("k1", "bob", "user", own))
    # the key's own settings over [ratelimit.keys] over the role's
    assert limits == Limits(Rate(6.0, 6), Rate(1000.0, 1000), 32)
    assert policy.limits_for(Principal("k2", "bob", "user", own)) == Limits(
        Rate(6.0, 6), Rate(1000.0, 1000), DEFAULT_ROLE_LIMITS["user"].concurrent_requests)
    assert policy.limits_for(Principal("k1", "bob", "user", own)) == limits  # cached
    # a role unknown to the limits still starts from the anonymous ones
    assert policy.limits_for(Principal("k3", None, "root", own)).concurrent_requests == \
        DEFAULT_ROLE_LIMITS["anonymous"].concurrent_requests


def test_roles_from_rbac_may_be_configured() -> None:
    table = {"roles": {"auditor": {"requests_per_minute": 7}}}
    with pytest.raises(ValueError, match="unknown role 'auditor'"):
        RateLimitConfig.from_dict(table)
    config = RateLimitConfig.from_dict(table, roles=("admin", "auditor"))
    # a new role starts from the anonymous limits; what is given overrides them
    assert config.roles["auditor"] == Limits(
        Rate(7.0, 7), DEFAULT_ROLE_LIMITS["anonymous"].tokens,
        DEFAULT_ROLE_LIMITS["anonymous"].concurrent_requests)
    policy = RateLimitPolicy(config)
    assert policy.limits_for(Principal(None, "u", "auditor")) == config.roles["auditor"]


def test_subjects() -> None:
    assert subject_of(Principal("k1", "bob", "user"), "1.2.3.4") == "key:k1"
    assert subject_of(Principal(None, "bob", "user"), "1.2.3.4") == "user:bob"
    assert subject_of(Principal("", "", "user"), "1.2.3.4") == "addr:1.2.3.4"
    assert subject_of(ANONYMOUS_PRINCIPAL, "1.2.3.4") == "addr:1.2.3.4"
    long = subject_of(Principal("k" * 2000, None, "user"), "x")
    assert long.startswith("key#sha256:") and len(long) == len("key#sha256:") + 64
    assert long != subject_of(Principal("k" * 2001, None, "user"), "x")
    # a lone surrogate cannot be a UTF-8 limiter key: hashed, never an exception later
    odd = subject_of(Principal(None, "a\udcff", "user"), "x")
    assert odd.startswith("user#sha256:")
    odd.encode("utf-8")


def test_keys_are_namespaced_and_backends_shared_per_limit() -> None:
    log: list[tuple[float, int, str, int]] = []
    built: list[tuple[float, int]] = []
    # requests and tokens limits equal: one backend, two namespaces
    config = RateLimitConfig.from_dict({"roles": {"user": {
        "requests_per_minute": 120, "tokens_per_minute": 120}}})
    policy = RateLimitPolicy(config, backend_factory=recording_factory(log, built))
    limits = policy.limits_for(Principal("k1", None, "user"))

    async def go() -> None:
        await policy.acquire_request("key:k1", limits)
        await policy.acquire_tokens("key:k1", limits, 17)
        await policy.acquire_request("key:k2", limits)

    _run(go())
    assert built == [(2.0, 120)]  # tokens per second, burst
    assert log == [(2.0, 120, "requests:key:k1", 1), (2.0, 120, "tokens:key:k1", 17),
                   (2.0, 120, "requests:key:k2", 1)]


def test_token_cost_capped_above_burst_and_validated() -> None:
    log: list[tuple[float, int, str, int]] = []
    policy = RateLimitPolicy(backend_factory=recording_factory(log, []))
    limits = policy.limits_for(ANONYMOUS_PRINCIPAL)
    decision = _run(policy.acquire_tokens("addr:a", limits, 10**30))
    assert not decision.allowed and math.isinf(decision.retry_after)
    assert log[-1][3] == limits.tokens.burst + 1
    _run(policy.acquire_tokens("addr:a", limits, 5))
    assert log[-1][3] == 5
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="tokens must be a non-negative integer"):
            _run(policy.acquire_tokens("addr:a", limits, bad))  # type: ignore[arg-type]


def _same(native: Decision, oracle: OracleDecision) -> bool:
    def ns(seconds: float) -> float:
        return seconds if math.isinf(seconds) else round(seconds * NS)

    return (native.allowed == oracle.allowed and native.remaining == oracle.remaining
            and native.limit == oracle.limit and ns(native.retry_after) == ns(oracle.retry_after)
            and ns(native.reset_after) == ns(oracle.reset_after))


@pytest.mark.parametrize("seed", range(6))
def test_decisions_match_the_oracle(seed: int) -> None:
    """Requests and tokens for several principals through the policy and the native
    limiter (injected clock) decide exactly as two GCRA oracles per limit."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible sequence, not cryptography
    now_ns = [10 * NS]
    config = RateLimitConfig.from_dict({
        "roles": {"user": {"requests_per_minute": 6, "requests_burst": 3,
                           "tokens_per_minute": 600, "tokens_burst": 100}},
        "keys": {"fast": {"requests_per_minute": 90}},
    })
    policy = RateLimitPolicy(config,
                             backend_factory=local_backend_factory(lambda: now_ns[0] / NS))
    principals = [Principal("fast", None, "user"), Principal("slow", None, "user"),
                  Principal(None, "carol", "user")]
    oracles: dict[tuple[float, int], GcraOracle] = {}

    def oracle(rate: Rate) -> GcraOracle:
        return oracles.setdefault((rate.per_second, rate.burst),
                                  GcraOracle(rate.per_second, rate.burst))

    async def go() -> int:
        denied = 0
        for _ in range(400):
            now_ns[0] += rng.choice([0, 0, 1, 999_999, 50_000_000, 700_000_000, 3 * NS])
            principal = rng.choice(principals)
            subject = subject_of(principal, "unused")
            limits = policy.limits_for(principal)
            if rng.random() < 0.5:
                got = await policy.acquire_request(subject, limits)
                want = oracle(limits.requests).acquire(f"requests:{subject}", 1, now_ns[0])
            else:
                cost = rng.choice([0, 1, 7, 40, 99, 100, 101, 10**9])
                got = await policy.acquire_tokens(subject, limits, cost)
                want = oracle(limits.tokens).acquire(f"tokens:{subject}", cost, now_ns[0])
            assert _same(got, want), (got, want)
            denied += not got.allowed
        return denied

    denied = _run(go())
    assert 40 < denied < 360  # the sequence exercises both outcomes


# ---- client address ------------------------------------------------------------------------


def _nets(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


def test_client_address_ignores_forwarded_for_by_default() -> None:
    assert client_address("203.0.113.9", ["198.51.100.1"], ()) == "203.0.113.9"
    assert client_address("203.0.113.9", [], ()) == "203.0.113.9"
    # a peer that is not a trusted proxy cannot pick its bucket with the header
    assert client_address("203.0.113.9", ["198.51.100.1"], _nets("10.0.0.0/8")) == \
        "203.0.113.9"


def test_client_address_behind_trusted_proxies() -> None:
    trusted = _nets("10.0.0.0/8", "192.168.1.1/32")
    # read from the right: the first untrusted hop is the client; what it wrote is not believed
    assert client_address("10.0.0.5", ["6.6.6.6, 198.51.100.7, 192.168.1.1"], trusted) == \
        "198.51.100.7"
    # several header lines are one list
    assert client_address("10.0.0.5", ["6.6.6.6", "198.51.100.7"], trusted) == "198.51.100.7"
    # every hop trusted: the leftmost
    assert client_address("10.0.0.5", ["10.1.1.1, 10.2.2.2"], trusted) == "10.1.1.1"
    # garbage stops the walk at the last trusted hop
    assert client_address("10.0.0.5", ["198.51.100.7, bogus"], trusted) == "10.0.0.5"
    assert client_address("10.0.0.5", ["198.51.100.7:443"], trusted) == "10.0.0.5"
    # no header: the proxy itself
    assert client_address("10.0.0.5", [], trusted) == "10.0.0.5"


def test_client_address_forms() -> None:
    # IPv6 clients share their /64; IPv4-mapped addresses are IPv4
    assert client_address("2001:db8:1:2:aaaa::1", [], ()) == "2001:db8:1:2::/64"
    assert client_address("2001:db8:1:2:bbbb::9", [], ()) == "2001:db8:1:2::/64"
    assert client_address("::ffff:198.51.100.7", [], ()) == "198.51.100.7"
    assert client_address("::ffff:10.0.0.5", ["198.51.100.8"], _nets("10.0.0.0/8")) == \
        "198.51.100.8"
    assert client_address(None, ["1.2.3.4"], _nets("0.0.0.0/0")) == "unknown"


# ---- concurrency ------------------------------------------------------------------------------


def test_concurrency_counts_and_frees_memory() -> None:
    limiter = ConcurrencyLimiter()
    assert limiter.try_acquire("a", 2) and limiter.try_acquire("a", 2)
    assert not limiter.try_acquire("a", 2)
    assert limiter.try_acquire("b", 1) and not limiter.try_acquire("b", 1)
    assert (limiter.in_flight("a"), limiter.in_flight("b"), limiter.total(), len(limiter)) == \
        (2, 1, 3, 2)
    limiter.release("a")
    assert limiter.try_acquire("a", 2)
    for key in ("a", "a", "b"):
        limiter.release(key)
    assert len(limiter) == 0 and limiter.total() == 0  # entries removed at zero
    with pytest.raises(RuntimeError, match="release without acquire"):
        limiter.release("a")


def test_concurrency_many_keys_leave_nothing_behind() -> None:
    limiter = ConcurrencyLimiter()
    for i in range(10_000):
        assert limiter.try_acquire(f"addr:{i}", 1)
        limiter.release(f"addr:{i}")
    assert len(limiter) == 0


def test_concurrency_exact_under_threads() -> None:
    limiter = ConcurrencyLimiter()
    granted: list[int] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        granted.append(sum(limiter.try_acquire("k", 50) for _ in range(100)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 50 and limiter.in_flight("k") == 50
