"""A plain GCRA (generic cell rate algorithm) in Python: the reference the native and the
Redis limiters are checked against. One "theoretical arrival time" (TAT) per key, in integer
nanoseconds; a key that was never seen, or whose TAT has passed, is a full bucket.

rate: tokens per second; burst: the bucket's capacity (at most `burst` unit requests back to
back from a full bucket). A request of `cost` tokens at `now` is allowed when
    max(tat, now) + cost * T - now <= burst * T      (T = the emission interval, 1 / rate)
and then moves the TAT to max(tat, now) + cost * T.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NS = 1_000_000_000


def interval_ns(rate: float) -> int:
    """The emission interval in whole nanoseconds, as the limiters round it."""
    return max(1, round(NS / rate))


@dataclass(frozen=True)
class OracleDecision:
    allowed: bool
    retry_after: float  # seconds; 0.0 when allowed, math.inf when cost > burst
    remaining: int  # unit requests still allowed right after this decision
    reset_after: float  # seconds until the bucket is full again
    limit: int  # the burst


class GcraOracle:
    def __init__(self, rate: float, burst: int) -> None:
        self.t = interval_ns(rate)
        self.burst = burst
        self.tau = burst * self.t
        self.tat: dict[str, int] = {}

    def _decide(self, key: str, cost: int, now: int, commit: bool) -> OracleDecision:
        tat = max(self.tat.get(key, now), now)
        if cost > self.burst:
            return OracleDecision(False, math.inf, self._remaining(tat, now), (tat - now) / NS,
                                  self.burst)
        new_tat = tat + cost * self.t
        allow_at = new_tat - self.tau
        if now < allow_at:
            return OracleDecision(False, (allow_at - now) / NS, self._remaining(tat, now),
                                  (tat - now) / NS, self.burst)
        if commit and cost > 0:
            self.tat[key] = new_tat
        return OracleDecision(True, 0.0, self._remaining(new_tat, now), (new_tat - now) / NS,
                              self.burst)

    def _remaining(self, tat: int, now: int) -> int:
        return max(0, (now + self.tau - tat) // self.t)

    def acquire(self, key: str, cost: int, now: int) -> OracleDecision:
        return self._decide(key, cost, now, commit=True)

    def peek(self, key: str, cost: int, now: int) -> OracleDecision:
        return self._decide(key, cost, now, commit=False)

    def reset(self, key: str) -> None:
        self.tat.pop(key, None)
