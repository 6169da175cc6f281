"""A one-line progress bar on stderr for long reads: bytes, rate and ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_UNITS = ("B", "KB", "MB", "GB", "TB")


def human_bytes(n: float) -> str:
    for unit in _UNITS:
        if n < 1000 or unit == _UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class ProgressBar:
    """Callable as progress(done, total); redraws at most every `interval` s."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, interval: float = 0.2) -> None:
        self._label = label
        self._stream = stream
        self._interval = interval
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_draw < self._interval and done < total:
            return
        self._last_draw = now
        elapsed = max(now - self._start, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0.0
        percent = 100.0 * done / total if total else 100.0
        self._stream.write(f"\r{self._label}: {percent:5.1f}% {human_bytes(done)} of "
                           f"{human_bytes(total)}, {human_bytes(rate)}/s, ETA {eta:4.0f} s ")
        self._stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
