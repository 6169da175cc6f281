"""Rate limiting: the PyPI `limits` library in memory (moving and fixed window), the seed's
Redis sorted-set limiter, llmward's Redis GCRA and llmward.RateLimiter (from Python on one and
two threads, and C++ alone), side by side in one run.

Run:
    .venv/bin/python -m pytest benchmarks/test_ratelimit_bench.py -q --benchmark-only
    .venv/bin/python benchmarks/test_ratelimit_bench.py [--rounds N] [--decisions N]

Every approach enforces the same policy, n + 1 requests per minute for a round of n decisions,
on a key of its own each round, so every decision is an admission and none is cheaper for being
refused. Figures are medians over the rounds, which run round after round over all approaches
so a slow spell of the machine lands on every approach alike: µs per decision from Python (for
threads, wall time / all decisions), ns per decision for the C++ loop
(`llmward._core.ratelimit_microbench`, timed in C++). The Redis approaches use a redis-server
the benchmark starts on a free loopback port; the commands each sends per decision are counted
with INFO commandstats. Approaches that cannot run are listed as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import report_data
from llmward import _core
from llmward._core import RateLimiter

# The redis-server helper the tests use (start on a free port, no persistence, stop).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from redis_server import SKIP_REASON, RedisServer, redis_binary, start_redis  # noqa: E402

WINDOW = 60  # seconds: the policy is n + 1 requests per WINDOW
GOAL_PYTHON_US = 0.3
GOAL_CPP_NS = 30.0
MW = "limits MovingWindowRateLimiter (memory)"

# A run of n decisions; returns seconds per decision (its own setup untimed).
Run = Callable[[int], float]
_keys = itertools.count()


def fresh_key() -> str:
    return f"user-{next(_keys)}"


def timed(n: int, decide: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(n):
        decide()
    return (time.perf_counter() - start) / n


# ---- peers ---------------------------------------------------------------------------------

def limits_peer(strategy: str) -> Run | str:
    try:
        from limits import RateLimitItemPerMinute, storage, strategies
    except ImportError:
        return "limits not installed (dev extra)"
    cls = getattr(strategies, strategy)

    def run(n: int) -> float:
        limiter = cls(storage.MemoryStorage())
        item, key = RateLimitItemPerMinute(n + 1), fresh_key()
        return timed(n, lambda: limiter.hit(item, key))
    return run


class SeedRateLimiter:
    """The seed's security/rate_limiter.py RateLimiter.check_rate_limit, as written there: a
    sorted set of request times per key, trimmed, counted and appended in one MULTI/EXEC
    pipeline (redis-py's sync client)."""

    def __init__(self, redis_client: Any) -> None:
        self.redis = redis_client

    def check_rate_limit(self, key: str, max_requests: int, window_seconds: int) -> bool:
        """Token bucket rate limiting"""
        now = time.time()
        bucket_key = f"rate_limit:{key}"

        # Get current bucket state
        pipe = self.redis.pipeline()
        pipe.zremrangebyscore(bucket_key, 0, now - window_seconds)
        pipe.zcard(bucket_key)
        pipe.zadd(bucket_key, {str(now): now})
        pipe.expire(bucket_key, window_seconds)

        _, count, _, _ = pipe.execute()

        return bool(count < max_requests)


def seed_peer(server: RedisServer) -> Run:
    import redis

    def run(n: int) -> float:
        client = redis.Redis(host=server.host, port=server.port)
        try:
            seed, key = SeedRateLimiter(client), fresh_key()
            seed.check_rate_limit("warm", n + 1, WINDOW)  # connect before timing
            return timed(n, lambda: seed.check_rate_limit(key, n + 1, WINDOW))
        finally:
            client.close()
    return run


async def _gcra_decisions(server: RedisServer, n: int) -> float:
    import redis.asyncio

    from llmward.ratelimit.redis_backend import RedisRateLimiter

    client = redis.asyncio.Redis(host=server.host, port=server.port)
    try:
        limiter = RedisRateLimiter(client, (n + 1) / WINDOW, n + 1, timeout=5.0)
        await limiter.peek("warm")  # connect and load the script before timing
        key = fresh_key()
        start = time.perf_counter()
        for _ in range(n):  # sequential awaits: the latency of one decision
            await limiter.acquire(key)
        return (time.perf_counter() - start) / n
    finally:
        await client.aclose()


def gcra_peer(server: RedisServer) -> Run | str:
    try:
        import redis.asyncio  # noqa: F401

        import llmward.ratelimit.redis_backend  # noqa: F401
    except ImportError as error:
        return f"redis-py not installed (server extra): {error}"
    return lambda n: asyncio.run(_gcra_decisions(server, n))


def native_one_thread(n: int) -> float:
    limiter, key = RateLimiter((n + 1) / WINDOW, n + 1), fresh_key()
    acquire = limiter.acquire
    start = time.perf_counter()
    for _ in range(n):
        acquire(key)
    return (time.perf_counter() - start) / n


def native_threads(threads: int, distinct_keys: bool) -> Run:
    def run(n: int) -> float:
        limiter = RateLimiter((threads * n + 1) / WINDOW, threads * n + 1)
        shared = fresh_key()
        keys = [fresh_key() if distinct_keys else shared for _ in range(threads)]
        ready = threading.Barrier(threads + 1)

        def work(key: str) -> None:
            acquire = limiter.acquire
            ready.wait()
            for _ in range(n):
                acquire(key)

        workers = [threading.Thread(target=work, args=(k,)) for k in keys]
        for w in workers:
            w.start()
        ready.wait()
        start = time.perf_counter()
        for w in workers:
            w.join()
        return (time.perf_counter() - start) / (threads * n)
    return run


def cpp_peer(threads: int, distinct_keys: bool) -> Run | str:
    bench = getattr(_core, "ratelimit_microbench", None)
    if bench is None:
        return "llmward._core.ratelimit_microbench not in this build"
    return lambda n: float(bench(threads, distinct_keys, n)) * 1e-9


# ---- Redis commands per decision -------------------------------------------------------------

def _commandstats(server: RedisServer) -> dict[str, int]:
    import redis

    with redis.Redis(host=server.host, port=server.port) as admin:
        stats = admin.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def _per_decision(before: dict[str, int], after: dict[str, int], n: int) -> dict[str, float]:
    """Commands per decision between two INFO snapshots, leaving out the snapshots' own INFO
    and connection set-up (HELLO, CLIENT)."""
    return {k: (v - before.get(k, 0)) / n for k, v in after.items()
            if v != before.get(k, 0) and k != "info" and not k.startswith(("client", "hello"))}


async def _gcra_commands(server: RedisServer, n: int) -> dict[str, float]:
    import redis.asyncio

    from llmward.ratelimit.redis_backend import RedisRateLimiter

    client = redis.asyncio.Redis(host=server.host, port=server.port)
    try:
        limiter = RedisRateLimiter(client, (n + 1) / WINDOW, n + 1, timeout=5.0)
        await limiter.peek("warm")
        key = fresh_key()
        before = _commandstats(server)
        for _ in range(n):
            await limiter.acquire(key)
        return _per_decision(before, _commandstats(server), n)
    finally:
        await client.aclose()


def commands_per_decision(server: RedisServer, n: int) -> tuple[list[str], float | None]:
    """What each Redis approach sends per decision, from INFO commandstats, and the GCRA's
    round trips per decision. The server counts a script's own calls too: they are listed
    apart, being no round trip."""
    import redis

    with redis.Redis(host=server.host, port=server.port) as client:
        seed, key = SeedRateLimiter(client), fresh_key()
        seed.check_rate_limit("warm", n + 1, WINDOW)
        before = _commandstats(server)
        for _ in range(n):
            seed.check_rate_limit(key, n + 1, WINDOW)
        sent = _per_decision(before, _commandstats(server), n)
    order = ["multi", "zremrangebyscore", "zcard", "zadd", "expire", "exec"]
    listed = sorted(sent, key=lambda k: (order.index(k) if k in order else len(order), k))
    lines = ["  seed sorted set: " + ", ".join(f"{k.upper()} {sent[k]:.2f}" for k in listed)
             + " per decision, in one pipelined round trip"]
    skipped = gcra_peer(server)
    if isinstance(skipped, str):
        return [*lines, f"  llmward Redis GCRA: skipped: {skipped}"], None
    sent = asyncio.run(_gcra_commands(server, n))
    inside = {k: sent.pop(k, 0.0) for k in ("time", "get", "set")}
    round_trips = sum(sent.values())  # EVALSHA, and anything else the client sent
    lines.append("  llmward Redis GCRA: " + ", ".join(
        f"{k.upper()} {v:.2f}" for k, v in sent.items()) + " per decision; inside the script: "
        + ", ".join(f"{k.upper()} {v:.2f}" for k, v in inside.items()))
    return lines, round_trips


# ---- the run -------------------------------------------------------------------------------

def measure(rounds: int, decisions: int, redis_decisions: int, cpp_decisions: int) -> list[str]:
    server: RedisServer | str = SKIP_REASON
    if redis_binary() is not None:
        server = start_redis()
    try:
        return _measure(server, rounds, decisions, redis_decisions, cpp_decisions)
    finally:
        if not isinstance(server, str):
            server.stop()


def _measure(server: RedisServer | str, rounds: int, decisions: int, redis_decisions: int,
             cpp_decisions: int) -> list[str]:
    # (name, run or why skipped, decisions per round, unit)
    peers: list[tuple[str, Run | str, int, str]] = [
        (MW, limits_peer("MovingWindowRateLimiter"), decisions // 10, "µs"),
        ("limits FixedWindowRateLimiter (memory)", limits_peer("FixedWindowRateLimiter"),
         decisions // 10, "µs"),
        ("seed: Redis sorted set (sync pipeline)",
         server if isinstance(server, str) else seed_peer(server), redis_decisions, "µs"),
        ("llmward RedisRateLimiter (asyncio, GCRA)",
         server if isinstance(server, str) else gcra_peer(server), redis_decisions, "µs"),
        ("llmward.RateLimiter, 1 thread", native_one_thread, decisions, "µs"),
        ("llmward.RateLimiter, 2 threads, one key", native_threads(2, False), decisions, "µs"),
        ("llmward.RateLimiter, 2 threads, distinct keys", native_threads(2, True), decisions,
         "µs"),
        ("C++ only, 1 thread", cpp_peer(1, False), cpp_decisions, "ns"),
        ("C++ only, 2 threads, one key", cpp_peer(2, False), cpp_decisions, "ns"),
        ("C++ only, 2 threads, distinct keys", cpp_peer(2, True), cpp_decisions, "ns"),
    ]
    runnable = [(name, run, n) for name, run, n, _ in peers if not isinstance(run, str)]
    for _, run, n in runnable:
        run(max(1, n // 10))  # warm: imports, connections, the script cache
    times: dict[str, list[float]] = {name: [] for name, _, _ in runnable}
    for _ in range(rounds):
        for name, run, n in runnable:
            times[name].append(run(n))
    median = {name: statistics.median(t) for name, t in times.items()}

    lines = [f"rate limiting: medians of {rounds} rounds, every decision an admission; "
             "Python threads: wall time / all decisions; C++ threads: each thread's time / its "
             "decisions",
             f"{'approach':<48}{'per decision':>14}{'speed vs limits MW':>20}"]
    for name, peer, _, unit in peers:
        if isinstance(peer, str):
            lines.append(f"{name:<48}  skipped: {peer}")
            continue
        value = median[name] * (1e6 if unit == "µs" else 1e9)
        ratio = f"{median[MW] / median[name]:.2f}x" if MW in median else "-"
        lines.append(f"{name:<48}{value:>11.3f} {unit}{ratio:>20}")

    round_trips: float | None = None
    if isinstance(server, str):
        lines.append(f"Redis commands per decision: skipped: {server}")
    else:
        lines.append("Redis commands per decision (INFO commandstats):")
        sent, round_trips = commands_per_decision(server, redis_decisions)
        lines += sent
    goal_lines = goals(median, round_trips)
    write_results(rounds, peers, median, goal_lines)
    return [*lines, *goal_lines]


def write_results(rounds: int, peers: Sequence[tuple[str, Run | str, int, str]],
                  median: dict[str, float], notes: Sequence[str]) -> None:
    """The report: ns per decision for every approach, against llmward.RateLimiter's."""
    reference = "llmward.RateLimiter, 1 thread"
    table = report_data.table(
        f"time per decision, every decision an admission, medians of {rounds} rounds",
        [report_data.column("ns", "per decision", "ns")],
        [report_data.row(name, {"ns": median[name] * 1e9},
                         ours=name.startswith(("llmward", "C++")))
         for name, peer, _, _ in peers if not isinstance(peer, str)],
        reference=reference if reference in median else None, ratio_column="ns",
        skipped={name: peer for name, peer, _, _ in peers if isinstance(peer, str)},
        notes=["Python threads: wall time / all decisions; C++ threads: each thread's time / "
               "its decisions", *(n.strip() for n in notes[1:])])
    report_data.write("ratelimit", "Rate limiting", [table])


def goals(median: dict[str, float], round_trips: float | None) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    out = ["goals (issue 5):"]
    py = median.get("llmward.RateLimiter, 1 thread")
    if py is not None:
        out.append(f"  <= {GOAL_PYTHON_US} µs per decision from Python: {py * 1e6:.3f} µs "
                   f"({verdict(py * 1e6 <= GOAL_PYTHON_US)})")
    cpp = median.get("C++ only, 1 thread")
    if cpp is None:
        out.append(f"  <= {GOAL_CPP_NS:.0f} ns per uncontended decision in C++: not measured")
    else:
        out.append(f"  <= {GOAL_CPP_NS:.0f} ns per uncontended decision in C++: "
                   f"{cpp * 1e9:.1f} ns ({verdict(cpp * 1e9 <= GOAL_CPP_NS)})")
    if round_trips is None:
        out.append("  Redis GCRA at one round trip per decision: not measured")
    else:
        out.append(f"  Redis GCRA at one round trip per decision: {round_trips:.2f} commands "
                   f"from the client per decision ({verdict(round_trips == 1.0)})")
    return out


@pytest.mark.benchmark(group="ratelimit")
def test_ratelimit_summary(benchmark: Any, summary_lines: list[str]) -> None:
    """Every approach's time per decision, printed in the session summary."""
    sizes = (1, 2_000, 20, 20_000) if report_data.smoke() else (5, 200_000, 2_000, 2_000_000)
    lines = benchmark.pedantic(lambda: measure(*sizes), rounds=1, iterations=1)
    summary_lines.extend(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--decisions", type=int, default=200_000,
                        help="per round for llmward.RateLimiter (limits: a tenth)")
    parser.add_argument("--redis-decisions", type=int, default=2_000)
    parser.add_argument("--cpp-decisions", type=int, default=2_000_000,
                        help="per thread per round")
    args = parser.parse_args(argv)
    print("\n".join(measure(args.rounds, args.decisions, args.redis_decisions,
                            args.cpp_decisions)))


if __name__ == "__main__":
    main(sys.argv[1:])
