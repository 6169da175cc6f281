"""Requests in flight per principal, against a per-principal maximum.

Counts live in this process only (with several replicas, each enforces the
maximum on its own). A principal's entry is removed when its count returns to
zero, so memory is bounded by the requests in flight, not by the principals
ever seen.
"""

from __future__ import annotations

import threading


class ConcurrencyLimiter:
    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}
        # The middleware runs on one event loop, where no lock is needed; the lock
        # (uncontended: ~50 ns) keeps the counts exact if a server uses several threads.
        self._lock = threading.Lock()

    def try_acquire(self, key: str, maximum: int) -> bool:
        """Take a slot for `key` if it has fewer than `maximum` in flight."""
        with self._lock:
            count = self._in_flight.get(key, 0)
            if count >= maximum:
                return False
            self._in_flight[key] = count + 1
            return True

    def release(self, key: str) -> None:
        """Give back a slot taken by `try_acquire`."""
        with self._lock:
            count = self._in_flight.get(key, 0)
            if count <= 0:
                raise RuntimeError(f"release without acquire for {key!r}")
            if count == 1:
                del self._in_flight[key]
            else:
                self._in_flight[key] = count - 1

    def in_flight(self, key: str) -> int:
        return self._in_flight.get(key, 0)

    def total(self) -> int:
        """Requests in flight over all principals."""
        with self._lock:
            return sum(self._in_flight.values())

    def __len__(self) -> int:
        """Principals with a request in flight now."""
        return len(self._in_flight)
