"""Checks on what a key is created with: owner, role, expiry and per-key limits.

Every bound is here so the CLI, the HTTP admin API and the store refuse the same inputs;
the store applies them on every create, whatever the caller."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from datetime import timedelta

from llmward.ratelimit.config import (
    MAX_BURST,
    MAX_CONCURRENT,
    MAX_PER_MINUTE,
    LimitOverrides,
    RateLimitConfig,
)

# The seed's roles; the RBAC table may add more and passes its own set to the store.
DEFAULT_ROLES = frozenset({"admin", "developer", "user", "viewer"})
MAX_USER_CHARS = 256
MAX_EXPIRES_IN = timedelta(days=3650)
_ROLE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# Per-key limit overrides: the settings of a `[ratelimit.keys]` table, with their bounds.
LIMIT_BOUNDS: Mapping[str, tuple[type, int]] = {
    "requests_per_minute": (float, MAX_PER_MINUTE),
    "requests_burst": (int, MAX_BURST),
    "tokens_per_minute": (float, MAX_PER_MINUTE),
    "tokens_burst": (int, MAX_BURST),
    "concurrent_requests": (int, MAX_CONCURRENT),
}


class KeyInputError(ValueError):
    """A create argument out of bounds; the message names the argument, never a secret."""


def check_user(user: object) -> str:
    if (not isinstance(user, str) or not 0 < len(user) <= MAX_USER_CHARS
            or not user.isprintable() or user != user.strip()):
        raise KeyInputError(f"user: expected 1 to {MAX_USER_CHARS} printable characters "
                            "without leading or trailing spaces")
    return user


def check_role(role: object, roles: Collection[str]) -> str:
    if not isinstance(role, str) or not _ROLE.fullmatch(role) or role not in roles:
        raise KeyInputError(f"role: expected one of {sorted(roles)}")
    return role


def check_expires_in(expires_in: object) -> timedelta | None:
    if expires_in is None:
        return None
    if not isinstance(expires_in, timedelta) or not timedelta(0) < expires_in <= MAX_EXPIRES_IN:
        raise KeyInputError(f"expires_in: expected a duration above 0 and at most "
                            f"{MAX_EXPIRES_IN.days} days")
    return expires_in


def check_limits(limits: object) -> dict[str, int | float] | None:
    if limits is None:
        return None
    if not isinstance(limits, Mapping) or not limits:
        raise KeyInputError(f"limits: expected an object with some of {list(LIMIT_BOUNDS)}")
    checked: dict[str, int | float] = {}
    for name, number in limits.items():
        if name not in LIMIT_BOUNDS:
            raise KeyInputError(f"limits: unknown limit {str(name)[:64]!r}; "
                                f"allowed: {list(LIMIT_BOUNDS)}")
        kind, maximum = LIMIT_BOUNDS[name]
        ok_type = isinstance(number, int) or (kind is float and isinstance(number, float))
        # No float(number) for an int: a huge one would raise OverflowError.
        if (isinstance(number, bool) or not ok_type
                or (isinstance(number, float) and not math.isfinite(number))
                or not 0 < number <= maximum):
            expected = "a number" if kind is float else "an integer"
            raise KeyInputError(f"limits.{name}: expected {expected} above 0 and at most "
                                f"{maximum}")
        checked[name] = number
    try:  # combinations the rate limiter refuses (a burst that takes over a year to refill)
        RateLimitConfig(keys={"key": LimitOverrides(**checked)})  # type: ignore[arg-type]
    except ValueError as error:
        raise KeyInputError(f"limits: {str(error).split(': ', 1)[-1]}") from None
    return checked
