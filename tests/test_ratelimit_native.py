"""The native GCRA limiter (llmward.RateLimiter): every Decision field against the Python
oracle, exactness under real contention, bounded memory under a flood of distinct keys,
the native clock, and input validation."""

from __future__ import annotations

import gc
import math
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import pytest

from gcra_oracle import GcraOracle, OracleDecision
from llmward import Decision, RateLimiter
from llmward._core import _ratelimit_stress, ratelimit_microbench


class ManualClock:
    """Monotonic seconds that a test moves; whole microseconds, so that the float seconds
    the limiter reads convert back to exactly the oracle's nanoseconds."""

    def __init__(self) -> None:
        self.us = 1_000_000

    def __call__(self) -> float:
        return self.us / 1e6

    @property
    def ns(self) -> int:
        return self.us * 1000


def as_oracle(d: Decision) -> OracleDecision:
    return OracleDecision(d.allowed, d.retry_after, d.remaining, d.reset_after, d.limit)


@pytest.mark.parametrize(("rate", "burst"), [(10.0, 1), (10.0, 5), (3.0, 7), (1000.0, 100),
                                             (0.5, 3), (123456.0, 40)])
def test_every_decision_matches_the_oracle(rate: float, burst: int) -> None:
    rng = random.Random(f"{rate}-{burst}")
    clock = ManualClock()
    limiter = RateLimiter(rate, burst, clock=clock)
    oracle = GcraOracle(rate, burst)
    keys = [f"user:{i}" for i in range(5)]
    interval_us = max(1, round(1e6 / rate))
    for _ in range(3000):
        op = rng.random()
        key = rng.choice(keys)
        cost = rng.choice([0, 1, 1, 1, 2, burst, burst + 1])
        if op < 0.7:
            got, want = limiter.acquire(key, cost), oracle.acquire(key, cost, clock.ns)
        elif op < 0.9:
            got, want = limiter.peek(key, cost), oracle.peek(key, cost, clock.ns)
        else:
            limiter.reset(key)
            oracle.reset(key)
            continue
        assert as_oracle(got) == want, (key, cost, clock.ns)
        clock.us += rng.choice([0, 0, 1, interval_us // 3, interval_us, 5 * interval_us])


def test_burst_then_one_token_per_interval() -> None:
    clock = ManualClock()
    limiter = RateLimiter(10, 3, clock=clock)
    assert [limiter.acquire("k").allowed for _ in range(4)] == [True, True, True, False]
    denied = limiter.acquire("k")
    assert denied == Decision(False, 0.1, 0, 0.3, 3)
    clock.us += 100_000
    assert limiter.acquire("k") == Decision(True, 0.0, 0, 0.3, 3)
    assert not limiter.acquire("k").allowed
    clock.us += 10_000_000  # long idle: full again, never more than the burst
    assert [limiter.acquire("k").allowed for _ in range(4)] == [True, True, True, False]


def test_costs_serve_token_budgets() -> None:
    clock = ManualClock()
    limiter = RateLimiter(1000, 1000, clock=clock)  # 60,000 tokens per minute
    assert limiter.acquire("key", 700).remaining == 300
    decision = limiter.acquire("key", 400)
    assert not decision.allowed and decision.retry_after == pytest.approx(0.1)
    assert limiter.acquire("key", 300).allowed
    too_big = limiter.acquire("key", 1001)
    assert not too_big.allowed and math.isinf(too_big.retry_after)
    assert not limiter.acquire("key", 2**70).allowed  # huge costs are refused, not wrapped
    free = limiter.acquire("other", 0)
    assert free.allowed and free.remaining == 1000 and len(limiter) == 1


def test_peek_and_reset() -> None:
    clock = ManualClock()
    limiter = RateLimiter(1, 2, clock=clock)
    assert limiter.peek("a").remaining == 1
    assert len(limiter) == 0  # a peek stores nothing
    limiter.acquire("a", 2)
    assert not limiter.peek("a").allowed and not limiter.peek("a").allowed
    limiter.reset("a")
    assert limiter.acquire("a", 2).allowed
    limiter.reset("never-seen")  # not an error


def test_keys_are_independent_and_exact_bytes() -> None:
    clock = ManualClock()
    limiter = RateLimiter(1, 1, clock=clock)
    names = ["a", "b", "é", "e\u0301", "a" * 1024, "x" * 16, "x" * 17, "user:1", "user:10"]
    assert all(limiter.acquire(name).allowed for name in names)
    assert not any(limiter.acquire(name).allowed for name in names)
    assert len(limiter) == len(names)


def test_exact_admissions_under_contention_with_evictions_running() -> None:
    # Native threads (no GIL) hammer one key at a frozen time while inserting and
    # evicting keys of their own; then the time moves by 37 intervals.
    for threads, burst in [(2, 1), (4, 50), (8, 1000)]:
        frozen, advanced, most_keys = _ratelimit_stress(threads, 20_000, burst, 37, 5_000)
        assert frozen == burst
        assert advanced == min(37, burst)
        assert most_keys < 4096  # 2 x 5,000 x threads keys went through


def test_python_threads_get_exactly_the_burst() -> None:
    clock = ManualClock()
    limiter = RateLimiter(1, 500, clock=clock)
    admitted = []

    def hammer() -> None:
        admitted.append(sum(limiter.acquire("shared").allowed for _ in range(400)))

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sum(admitted) == 500


def test_memory_stays_bounded_under_a_flood_of_distinct_keys() -> None:
    clock = ManualClock()
    limiter = RateLimiter(1000, 1, clock=clock)  # each key full again after 1 ms
    oracle = GcraOracle(1000, 1)
    rng = random.Random(7)
    most_keys = most_bytes = 0
    for i in range(200_000):
        key = f"client:{i}"
        assert limiter.acquire(key).allowed
        oracle.acquire(key, 1, clock.ns)
        clock.us += 100  # ten keys active at any time
        if i % 1000 == 999:
            stats = limiter.stats()
            most_keys = max(most_keys, stats["keys"])
            most_bytes = max(most_bytes, stats["memory_bytes"])
            # Decisions are those of a limiter that never forgets: recent and old keys.
            for j in (i, i - 3, rng.randrange(i)):
                k = f"client:{j}"
                assert as_oracle(limiter.peek(k)) == oracle.peek(k, 1, clock.ns)
    assert most_keys <= 64 * 8  # 64 shards, each rebuilt at 8 entries
    assert most_bytes < 256 * 1024
    assert len(oracle.tat) == 200_000


def test_active_keys_are_never_evicted() -> None:
    clock = ManualClock()
    limiter = RateLimiter(1, 1, clock=clock)  # an admitted key stays empty for a second
    for i in range(20_000):
        assert limiter.acquire(f"k{i}").allowed
    clock.us += 500_000
    assert len(limiter) == 20_000
    assert not any(limiter.acquire(f"k{i}").allowed for i in range(0, 20_000, 7))


def test_native_clock_runs_at_real_time() -> None:
    limiter = RateLimiter(100, 1)
    assert limiter.clock_source in ("tsc", "steady_clock")
    assert limiter.acquire("k").allowed
    first = limiter.peek("k")
    assert not first.allowed and 0.0 < first.retry_after <= 0.01
    time.sleep(0.2)
    assert limiter.acquire("k").allowed
    # Calibration: a 50 ms sleep reads as 50 ms within 1 ms.
    slow = RateLimiter(1, 1)
    slow.acquire("k")
    start = time.monotonic()
    before = slow.peek("k").retry_after
    time.sleep(0.05)
    elapsed = time.monotonic() - start
    after = slow.peek("k").retry_after
    assert before - after == pytest.approx(elapsed, abs=0.001)


def test_steady_clock_can_be_forced() -> None:
    code = "from llmward import RateLimiter; print(RateLimiter(1, 1).clock_source)"
    env = {**os.environ, "LLMWARD_RATELIMIT_CLOCK": "steady"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "steady_clock"


def test_limiter_works_in_a_forked_child() -> None:
    code = textwrap.dedent("""
        import os, threading
        from llmward import RateLimiter
        limiter = RateLimiter(1000, 1)
        stop = threading.Event()
        def busy():
            while not stop.is_set():
                limiter.peek("busy")
        t = threading.Thread(target=busy); t.start()
        pid = os.fork()
        if pid == 0:
            for i in range(50_000):  # inserts: rebuilds wait for read sections
                limiter.acquire(f"child:{i}")
            os._exit(0 if limiter.acquire("again").allowed else 1)
        stop.set(); t.join()
        _, status = os.waitpid(pid, 0)
        raise SystemExit(os.waitstatus_to_exitcode(status))
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_invalid_arguments_are_clear_errors() -> None:
    limiter = RateLimiter(1, 1)
    with pytest.raises(TypeError, match="key must be str"):
        limiter.acquire(b"k")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cost must be int"):
        limiter.acquire("k", 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        limiter.acquire("k", -1)
    with pytest.raises(ValueError, match="1 to 1024 UTF-8 bytes"):
        limiter.acquire("")
    with pytest.raises(ValueError, match="1 to 1024 UTF-8 bytes"):
        limiter.peek("é" * 513)
    with pytest.raises(UnicodeEncodeError):
        limiter.acquire("\ud800")
    with pytest.raises(TypeError):
        limiter.acquire()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword"):
        limiter.acquire("k", weight=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        limiter.acquire("k", key="k")  # type: ignore[misc]
    assert limiter.acquire(key="k", cost=1).allowed
    for rate in (0, -1, float("nan"), float("inf"), 1e10):
        with pytest.raises(ValueError, match="rate"):
            RateLimiter(rate, 1)
    for burst in (0, -5, 2**32 + 1, 2**80):
        with pytest.raises(ValueError, match="burst"):
            RateLimiter(1, burst)
    with pytest.raises(TypeError, match="burst must be int"):
        RateLimiter(1, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too long"):
        RateLimiter(1e-9, 2**32)
    with pytest.raises(TypeError, match="clock must be callable"):
        RateLimiter(1, 1, clock=3)  # type: ignore[arg-type]
    for bad in (float("nan"), 1e12):
        with pytest.raises(ValueError, match="clock"):
            RateLimiter(1, 1, clock=lambda bad=bad: bad).acquire("k")
    with pytest.raises(TypeError):
        RateLimiter(1, 1, clock=lambda: "soon").acquire("k")  # type: ignore[arg-type, return-value]


def test_decision_value_semantics() -> None:
    d = Decision(True, 0.0, 4, 0.25, 5)
    fields = (d.allowed, d.retry_after, d.remaining, d.reset_after, d.limit)
    assert fields == (True, 0.0, 4, 0.25, 5)
    assert d == Decision(allowed=True, retry_after=0.0, remaining=4, reset_after=0.25, limit=5)
    assert d != Decision(True, 0.0, 3, 0.25, 5) and hash(d) == hash(Decision(True, 0.0, 4, 0.25, 5))
    assert repr(d) == ("Decision(allowed=True, retry_after=0.0, remaining=4, reset_after=0.25, "
                       "limit=5)")
    with pytest.raises(AttributeError):
        d.allowed = False  # type: ignore[misc]
    assert repr(RateLimiter(2.5, 3)) == "RateLimiter(rate=2.5, burst=3)"
    limiter = RateLimiter(2.5, 3)
    assert (limiter.rate, limiter.burst) == (2.5, 3)


def test_a_clock_referring_to_its_limiter_is_collected() -> None:
    class Holder:
        def now(self) -> float:
            return 1.0

    holder = Holder()
    holder.limiter = RateLimiter(1, 1, clock=holder.now)  # type: ignore[attr-defined]
    gone = weakref.ref(holder)
    del holder
    gc.collect()
    assert gone() is None


def test_microbench_runs() -> None:
    # Timing belongs to benchmarks/; here only that it runs and admits every decision.
    assert ratelimit_microbench(2, True, 1000) > 0
    assert ratelimit_microbench(2, False, 1000) > 0
    with pytest.raises(ValueError):
        ratelimit_microbench(0, True, 10)
