"""Rate limiting: the native lock-free GCRA limiter (``RateLimiter``, ``Decision``), the
Redis backend for several replicas, per-role and per-key policies, and the aiohttp
middleware. Everything but the native limiter is imported on first use, so a service that
only limits in process loads neither aiohttp nor redis."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from llmward._core import Decision, RateLimiter

if TYPE_CHECKING:
    from llmward.ratelimit.concurrency import ConcurrencyLimiter
    from llmward.ratelimit.config import RateLimitConfig
    from llmward.ratelimit.errors import RateLimiterUnavailable
    from llmward.ratelimit.middleware import (
        PRINCIPAL_KEY,
        RateLimited,
        RateLimitMetrics,
        charge_tokens,
        setup_ratelimit,
    )
    from llmward.ratelimit.policy import Principal, RateLimitPolicy
    from llmward.ratelimit.redis_backend import RedisRateLimiter

_LAZY = {
    "ConcurrencyLimiter": "concurrency",
    "RateLimitConfig": "config",
    "RateLimiterUnavailable": "errors",
    "PRINCIPAL_KEY": "middleware",
    "RateLimited": "middleware",
    "RateLimitMetrics": "middleware",
    "charge_tokens": "middleware",
    "setup_ratelimit": "middleware",
    "Principal": "policy",
    "RateLimitPolicy": "policy",
    "RedisRateLimiter": "redis_backend",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmward.ratelimit' has no attribute {name!r}")
    return getattr(import_module(f"llmward.ratelimit.{module}"), name)


__all__ = [
    "PRINCIPAL_KEY",
    "ConcurrencyLimiter",
    "Decision",
    "Principal",
    "RateLimitConfig",
    "RateLimitMetrics",
    "RateLimitPolicy",
    "RateLimited",
    "RateLimiter",
    "RateLimiterUnavailable",
    "RedisRateLimiter",
    "charge_tokens",
    "setup_ratelimit",
]
