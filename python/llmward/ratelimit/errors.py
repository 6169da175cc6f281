"""Errors of the rate limiters."""

from __future__ import annotations


class RateLimiterUnavailable(Exception):
    """A distributed limiter could not decide (its store was unreachable, timed out or failed)
    and is configured to fail closed. Servers answer it with 503 and ``Retry-After``; the
    message names the failure and never holds credentials."""
