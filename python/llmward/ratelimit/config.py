"""Rate-limit configuration: per-role defaults and per-API-key overrides.

Read from the `[ratelimit]` table of a TOML file, or from a dict holding that
table. Unknown keys, wrong types and out-of-range numbers are errors naming the
setting: a typo in a limit must not silently fall back to a default. See
README.md ("Rate limiting") for the format.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from llmward.config_file import load_toml

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The seed's RBAC roles, plus callers no auth middleware identified (keyed by address).
ROLES = ("admin", "developer", "user", "viewer", "anonymous")
ANONYMOUS = "anonymous"

MAX_PER_MINUTE = 1_000_000_000  # requests or tokens per minute
MAX_BURST = 1_000_000_000  # the native limiter takes up to 2**32
MAX_CONCURRENT = 100_000
MAX_REFILL_MINUTES = 366 * 24 * 60  # an empty bucket refills within a year
MAX_KEY_ID_CHARS = 256
MAX_LIST_ITEMS = 256  # exempt_paths, trusted_proxies
DEFAULT_EXEMPT_PATHS = frozenset({"/health", "/ready"})


@dataclass(frozen=True, slots=True)
class Rate:
    """A GCRA limit: `per_minute` tokens refill continuously, up to `burst` at once."""

    per_minute: float
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits one principal gets."""

    requests: Rate  # requests per minute; each request costs 1
    tokens: Rate  # prompt_tokens + max_tokens per minute, charged up front
    concurrent_requests: int  # requests in flight at once (per server process)


@dataclass(frozen=True, slots=True)
class LimitOverrides:
    """Settings given in a role's or a key's table; None: inherited."""

    requests_per_minute: float | None = None
    requests_burst: int | None = None
    tokens_per_minute: float | None = None
    tokens_burst: int | None = None
    concurrent_requests: int | None = None


SETTINGS = frozenset(f.name for f in fields(LimitOverrides))


def default_burst(per_minute: float) -> int:
    """One minute's worth, at least one."""
    return max(1, math.floor(per_minute))


def _limits(requests: tuple[int, int], tokens: tuple[int, int], concurrent: int) -> Limits:
    return Limits(Rate(*requests), Rate(*tokens), concurrent)


# Secure defaults. The seed allowed 100 requests an hour per user; these allow
# interactive use, and the token budgets bound what one principal can make the
# model generate. Viewers list models and read metrics (the seed grants them no
# inference); anonymous callers get the least, one request at a time per address.
DEFAULT_ROLE_LIMITS: Mapping[str, Limits] = {
    "admin": _limits((300, 300), (400_000, 400_000), 16),
    "developer": _limits((120, 120), (200_000, 200_000), 8),
    "user": _limits((30, 30), (60_000, 60_000), 4),
    "viewer": _limits((10, 10), (10_000, 10_000), 2),
    "anonymous": _limits((5, 5), (8_000, 8_000), 1),
}


def apply_overrides(base: Limits, overrides: LimitOverrides, where: str) -> Limits:
    """`base` with `overrides` applied. A burst not given is one minute's worth
    of the rate given beside it, else the base's burst."""
    return Limits(
        requests=_rate(base.requests, overrides.requests_per_minute, overrides.requests_burst,
                       where, "requests"),
        tokens=_rate(base.tokens, overrides.tokens_per_minute, overrides.tokens_burst,
                     where, "tokens"),
        concurrent_requests=(base.concurrent_requests if overrides.concurrent_requests is None
                             else overrides.concurrent_requests),
    )


def _rate(base: Rate, per_minute: float | None, burst: int | None, where: str,
          kind: str) -> Rate:
    if per_minute is None and burst is None:
        return base
    rate = base.per_minute if per_minute is None else per_minute
    if burst is None:
        burst = default_burst(rate) if per_minute is not None else base.burst
    # The native limiter keeps burst / rate within 73 years; a year is far more than
    # any sensible limit needs and keeps the error here, at load time.
    if burst / rate > MAX_REFILL_MINUTES:
        raise ValueError(f"{where}: {kind}_burst = {burst} at {kind}_per_minute = {rate:g} "
                         "takes more than a year to refill")
    return Rate(float(rate), burst)


@dataclass(frozen=True)
class RateLimitConfig:
    roles: Mapping[str, Limits] = field(default_factory=lambda: dict(DEFAULT_ROLE_LIMITS))
    # By API key id (never the secret): applied over the limits of the key's role.
    keys: Mapping[str, LimitOverrides] = field(default_factory=dict)
    # Paths never limited (exact match on the request path).
    exempt_paths: frozenset[str] = DEFAULT_EXEMPT_PATHS
    # Peers whose X-Forwarded-For is believed; empty: the header is ignored.
    trusted_proxies: tuple[IPNetwork, ...] = ()

    def __post_init__(self) -> None:
        missing = set(ROLES) - set(self.roles)
        if missing:
            raise ValueError(f"no limits for roles {sorted(missing)}")
        # Every key override against every role, now: a bad combination is a load error.
        for key_id, overrides in self.keys.items():
            for role in self.roles:
                apply_overrides(self.roles[role], overrides,
                                f"ratelimit.keys.{key_id!r} (over role {role})")

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], *,
                  roles: Collection[str] = ()) -> RateLimitConfig:
        """From the contents of a `[ratelimit]` table (as `tomllib` returns it).
        `roles`: the roles RBAC knows (`Rbac.roles`), so roles added in `[rbac]` may be
        given limits too; such a role starts from the anonymous limits."""
        return _parse(table, roles)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *,
                  roles: Collection[str] = ()) -> RateLimitConfig:
        """From the `[ratelimit]` table of a TOML file; other tables belong to other
        components and are not read here."""
        source = Path(path)
        document = load_toml(source)
        if "ratelimit" not in document:
            raise ValueError(f"{source}: no [ratelimit] table")
        try:
            return _parse(document["ratelimit"], roles)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None


def _parse(table: Any, extra_roles: Collection[str] = ()) -> RateLimitConfig:
    if not isinstance(table, Mapping):
        raise ValueError("[ratelimit] must be a table")
    _only(table, {"roles", "keys", "exempt_paths", "trusted_proxies"}, "[ratelimit]")
    known = list(ROLES) + sorted(set(extra_roles) - set(ROLES))
    roles = dict(DEFAULT_ROLE_LIMITS)
    for role, value in _table(table, "roles", "ratelimit.roles").items():
        where = f"ratelimit.roles.{role}"
        if role not in known:
            raise ValueError(f"{where}: unknown role {role!r}; known: {known} (add roles "
                             "in [rbac.roles])")
        base = roles.get(role, DEFAULT_ROLE_LIMITS[ANONYMOUS])
        roles[role] = apply_overrides(base, _overrides(value, where), where)
    keys = {}
    for key_id, value in _table(table, "keys", "ratelimit.keys").items():
        where = f"ratelimit.keys.{key_id!r}"
        if (not isinstance(key_id, str) or not 0 < len(key_id) <= MAX_KEY_ID_CHARS
                or not key_id.isprintable()):
            raise ValueError(f"{where}: a key id is 1 to {MAX_KEY_ID_CHARS} printable "
                             "characters")
        keys[key_id] = _overrides(value, where)
    exempt = DEFAULT_EXEMPT_PATHS
    if "exempt_paths" in table:
        paths = _strings(table["exempt_paths"], "ratelimit.exempt_paths")
        bad = [p for p in paths if not p.startswith("/") or len(p) > 1024]
        if bad:
            raise ValueError(f"ratelimit.exempt_paths: {bad[0]!r} is not a path starting "
                             "with '/'")
        exempt = frozenset(paths)
    proxies: tuple[IPNetwork, ...] = ()
    if "trusted_proxies" in table:
        proxies = tuple(_network(s, "ratelimit.trusted_proxies")
                        for s in _strings(table["trusted_proxies"], "ratelimit.trusted_proxies"))
    return RateLimitConfig(roles=roles, keys=keys, exempt_paths=exempt, trusted_proxies=proxies)


def _overrides(value: Any, where: str) -> LimitOverrides:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a table of limits")
    _only(value, SETTINGS, where)
    return LimitOverrides(
        requests_per_minute=_per_minute(value, "requests_per_minute", where),
        requests_burst=_count(value, "requests_burst", where, MAX_BURST),
        tokens_per_minute=_per_minute(value, "tokens_per_minute", where),
        tokens_burst=_count(value, "tokens_burst", where, MAX_BURST),
        concurrent_requests=_count(value, "concurrent_requests", where, MAX_CONCURRENT),
    )


def _per_minute(table: Mapping[str, Any], key: str, where: str) -> float | None:
    if key not in table:
        return None
    value = table[key]
    # NaN fails the comparison, infinity the bound.
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not 0 < value <= MAX_PER_MINUTE):
        raise ValueError(f"{where}.{key}: expected a number greater than 0 and at most "
                         f"{MAX_PER_MINUTE:_}, got {value!r}")
    return float(value)


def _count(table: Mapping[str, Any], key: str, where: str, maximum: int) -> int | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= maximum:
        raise ValueError(f"{where}.{key}: expected an integer between 1 and {maximum:_}, "
                         f"got {value!r}")
    return value


def _network(text: str, where: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text)
    except ValueError as error:
        raise ValueError(f"{where}: {text!r} is not an address or network ({error})") from None


def _only(table: Mapping[str, Any], allowed: set[str] | frozenset[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")


def _table(doc: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a table")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if (not isinstance(value, list) or len(value) > MAX_LIST_ITEMS
            or not all(isinstance(v, str) and v for v in value)):
        raise ValueError(f"{where}: expected an array of at most {MAX_LIST_ITEMS} non-empty "
                         "strings")
    return list(value)
