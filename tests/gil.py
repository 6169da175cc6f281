"""Shared check that a native call releases the GIL."""

import threading
import time
from collections.abc import Callable


def assert_releases_gil(call: Callable[[], object]) -> None:
    """Runs `call` in a thread while this thread keeps ticking: with the GIL
    held for the call, no tick could land inside its time window."""
    window: dict[str, float] = {}

    def run() -> None:
        window["start"] = time.perf_counter()
        call()
        window["end"] = time.perf_counter()

    worker = threading.Thread(target=run)
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    duration = window["end"] - window["start"]
    # A call of a millisecond or two can end before the waiting thread is even
    # scheduled on a busy machine: such a test would prove nothing either way.
    assert duration > 0.01, f"the call took {duration * 1000:.1f} ms: give it more work"
    inside = [t for t in ticks if window["start"] < t < window["end"]]
    assert len(inside) > 1000, f"only {len(inside)} ticks while the call ran"
