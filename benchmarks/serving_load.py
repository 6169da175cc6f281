"""A streaming load generator for OpenAI-compatible chat servers, with vLLM's serving metrics.

`C` clients each send streaming `/v1/chat/completions` requests one after the other until
`R` requests have been sent in all (temperature 0, the prompts below in turn), while a
sampler sends `GET /health` every 50 ms; every request on a new connection. Per request:
- HTTP status;
- TTFB, until the first data event (a role chunk, say);
- TTFT, until the first chunk with content (what a reader sees: a server that holds text
  back to inspect it pays here);
- ITL, the gaps between content chunks (one per chunk: chunks carrying several tokens
  give fewer, longer gaps);
- TPOT, (E2E - TTFB) / (tokens - 1): the pace of generation, bursts or not;
- E2E, until the stream ends;
- tokens: `usage.completion_tokens` when the server sends it, else content chunks;
- the finish reason, and whether `data: [DONE]` arrived.
TTFB, TTFT and ITL are taken over every 200 stream, TPOT and E2E over the complete (ok)
ones; output tokens/s counts every token received in a 200 stream.

Outcome of a request (`classify`), in this order:
- refused: HTTP 429 or 503 (a full server may say so; counted, not a failure);
- failed: any other non-200 answer, a connection error or a timeout before the headers;
- truncated: a 200 stream that ended without `[DONE]`, carried an error event, ended with
  no finish reason or one other than "stop"/"length", ended "length" with fewer than
  max_tokens tokens, or whose text is a proper prefix of the text the same server gives
  for the same prompt when it is alone (`solo_references`, measured first). The last rule
  catches cuts that look like normal ends: greedy decoding gives the solo text again, so
  a stream that stops partway through it was cut; a stream whose text differs from it
  (batched arithmetic may change a greedy choice) proves nothing and is not counted;
- ok: everything else.
llama-cpp-python's server, interrupting, ends a cut stream with `[DONE]` but no finish
reason (often with no content at all); the prefix rule would catch it without that tell.

    PYTHONPATH=python .venv/bin/python benchmarks/serving_load.py --url http://127.0.0.1:8080 \
        [--key KEY] [--model ID] [--concurrency 4] [--requests 16] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

# Open-ended asks: the 270M model talks for a long while on these, so most requests run to
# max_tokens and the servers generate comparable amounts.
PROMPTS = (
    "Write a long story about a dragon who learns to bake bread.",
    "Explain in detail how a bicycle works, part by part.",
    "Describe a busy city market at dawn, with all its sounds and smells.",
    "Write a detailed travel guide to a small seaside town.",
    "Tell me everything you know about the history of paper.",
    "Write a long letter from a sailor to his family at home.",
    "Explain step by step how to plant and care for a vegetable garden.",
    "Describe the life of a honeybee from egg to old age.",
)

HEALTH_INTERVAL_S = 0.05
REFUSED_STATUSES = frozenset({429, 503})
COMPLETE_REASONS = frozenset({"stop", "length"})
Outcome = Literal["ok", "refused", "failed", "truncated"]


@dataclass(frozen=True)
class LoadSpec:
    url: str  # base URL, e.g. http://127.0.0.1:8080 (loopback only)
    concurrency: int
    requests: int
    max_tokens: int
    model: str | None = None  # sent as `model` when given
    key: str | None = None  # Bearer token when given
    health_path: str = "/health"
    request_timeout_s: float = 300.0


@dataclass
class RequestResult:
    prompt: int  # index into PROMPTS
    status: int = 0  # 0: no HTTP answer
    ttfb_s: float | None = None  # until the first data event of any kind
    ttft_s: float | None = None
    gaps_s: list[float] = field(default_factory=list)
    e2e_s: float = 0.0
    tokens: int = 0
    finish_reason: str | None = None
    done: bool = False  # `data: [DONE]` seen
    error: str | None = None  # an error event, an exception, or a non-200 body
    chunks: list[str] = field(default_factory=list)  # content pieces as received

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@dataclass
class LoadRun:
    spec: LoadSpec
    results: list[RequestResult]
    wall_s: float
    health_s: list[float]  # latency of each /health sample that got an answer
    health_errors: int  # samples with no answer (the status of an answer is not judged)


def classify(result: RequestResult, max_tokens: int, solo_text: str | None) -> Outcome:
    if result.status in REFUSED_STATUSES:
        return "refused"
    if result.status != 200:
        return "failed"
    if (not result.done or result.error is not None
            or result.finish_reason not in COMPLETE_REASONS
            or (result.finish_reason == "length" and result.tokens < max_tokens)):
        return "truncated"
    text = result.text
    if solo_text is not None and len(text) < len(solo_text) and solo_text.startswith(text):
        return "truncated"
    return "ok"


async def stream_chat(session: aiohttp.ClientSession, spec: LoadSpec,
                      prompt: int) -> RequestResult:
    result = RequestResult(prompt)
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": PROMPTS[prompt]}],
        "max_tokens": spec.max_tokens, "temperature": 0, "stream": True,
        "stream_options": {"include_usage": True},
    }
    if spec.model is not None:
        body["model"] = spec.model
    headers = {"Authorization": f"Bearer {spec.key}"} if spec.key else {}
    started = time.perf_counter()
    last = started
    try:
        async with session.post(spec.url + "/v1/chat/completions", json=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=spec.request_timeout_s)
                                ) as response:
            result.status = response.status
            if response.status != 200:
                result.error = (await response.text())[:300]
                return result
            async for raw in response.content:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue  # blank separators, `: ping` comments
                data = line[5:].strip()
                if data == "[DONE]":
                    result.done = True
                    break
                now = time.perf_counter()
                if result.ttfb_s is None:
                    result.ttfb_s = now - started
                piece = _absorb(result, json.loads(data))
                if piece:
                    if result.ttft_s is None:
                        result.ttft_s = now - started
                    else:
                        result.gaps_s.append(now - last)
                    last = now
                    result.chunks.append(piece)
    except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as error:
        result.error = f"{type(error).__name__}: {error}"[:300]
    finally:
        result.e2e_s = time.perf_counter() - started
    if not result.tokens:  # no usage given: one content chunk per token
        result.tokens = len(result.chunks)
    return result


def _absorb(result: RequestResult, event: dict[str, Any]) -> str:
    """Takes what a chunk says about the request; returns its content, if any."""
    if "error" in event:
        result.error = json.dumps(event["error"])[:300]
    usage = event.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
        result.tokens = usage["completion_tokens"]
    piece = ""
    for choice in event.get("choices") or ():
        if choice.get("finish_reason"):
            result.finish_reason = choice["finish_reason"]
        piece += (choice.get("delta") or {}).get("content") or ""
    return piece


async def solo_references(spec: LoadSpec) -> list[RequestResult]:
    """Each prompt once, alone: the greedy answers the prefix rule compares against."""
    async with _session(1) as session:
        return [await stream_chat(session, spec, i) for i in range(len(PROMPTS))]


async def run_load(spec: LoadSpec) -> LoadRun:
    pending = iter(range(spec.requests))
    results: list[RequestResult] = []
    health: list[float] = []
    errors = 0
    stop = asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        for n in pending:  # a shared iterator: each request number is taken once
            results.append(await stream_chat(session, spec, n % len(PROMPTS)))

    async def sampler() -> None:
        nonlocal errors
        timeout = aiohttp.ClientTimeout(total=5)
        async with _session(1) as session:
            while not stop.is_set():
                began = time.perf_counter()
                try:
                    async with session.get(spec.url + spec.health_path,
                                           timeout=timeout) as response:
                        await response.read()
                    health.append(time.perf_counter() - began)
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    errors += 1
                spent = time.perf_counter() - began
                try:
                    await asyncio.wait_for(stop.wait(), max(0.0, HEALTH_INTERVAL_S - spent))
                except asyncio.TimeoutError:
                    pass

    async with _session(spec.concurrency) as session:
        sampling = asyncio.create_task(sampler())
        began = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(spec.concurrency)))
        wall = time.perf_counter() - began
        stop.set()
        await sampling
    return LoadRun(spec, results, wall, health, errors)


def _session(connections: int) -> aiohttp.ClientSession:
    """A new connection per request, as vLLM's benchmark client and a kubelet probe do:
    llama-server closes connections after a stream, and a pooled one reused after that
    fails on write, which would count against the server."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections,
                                                                force_close=True))


@dataclass(frozen=True)
class Summary:
    ttfb_ms: tuple[float, float]  # (p50, p99)
    ttft_ms: tuple[float, float]
    itl_ms: tuple[float, float]
    tpot_ms: tuple[float, float]
    e2e_ms: tuple[float, float]
    requests_per_s: float  # ok requests / wall time
    tokens_per_s: float  # tokens received in 200 streams / wall time
    ok: int
    failed: int
    refused: int
    truncated: int
    health_ms: tuple[float, float]
    health_errors: int
    errors: tuple[str, ...]  # a few distinct ones, for the report


def summarize(run: LoadRun, solo: Sequence[RequestResult]) -> Summary:
    outcomes = [classify(r, run.spec.max_tokens, solo[r.prompt].text if solo else None)
                for r in run.results]
    streamed = [r for r in run.results if r.status == 200]
    ok = [r for r, o in zip(run.results, outcomes, strict=True) if o == "ok"]
    return Summary(
        ttfb_ms=_p50_p99([r.ttfb_s for r in streamed if r.ttfb_s is not None]),
        ttft_ms=_p50_p99([r.ttft_s for r in streamed if r.ttft_s is not None]),
        itl_ms=_p50_p99([gap for r in streamed for gap in r.gaps_s]),
        tpot_ms=_p50_p99([(r.e2e_s - r.ttfb_s) / (r.tokens - 1) for r in ok
                          if r.ttfb_s is not None and r.tokens > 1]),
        e2e_ms=_p50_p99([r.e2e_s for r in ok]),
        requests_per_s=len(ok) / run.wall_s,
        tokens_per_s=sum(r.tokens for r in streamed) / run.wall_s,
        ok=len(ok), failed=outcomes.count("failed"), refused=outcomes.count("refused"),
        truncated=outcomes.count("truncated"),
        health_ms=_p50_p99(run.health_s), health_errors=run.health_errors,
        errors=tuple(dict.fromkeys(r.error for r in run.results if r.error))[:3])


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _p50_p99(seconds: Sequence[float]) -> tuple[float, float]:
    return percentile(seconds, 50) * 1000, percentile(seconds, 99) * 1000


def describe(summary: Summary) -> str:
    s = summary
    return (f"TTFT p50/p99 {s.ttft_ms[0]:.0f}/{s.ttft_ms[1]:.0f} ms, "
            f"ITL {s.itl_ms[0]:.1f}/{s.itl_ms[1]:.1f} ms, "
            f"TPOT {s.tpot_ms[0]:.1f}/{s.tpot_ms[1]:.1f} ms, "
            f"E2E {s.e2e_ms[0]:.0f}/{s.e2e_ms[1]:.0f} ms, {s.requests_per_s:.2f} req/s, "
            f"{s.tokens_per_s:.1f} tok/s, ok {s.ok}, failed {s.failed}, refused {s.refused}, "
            f"truncated {s.truncated}, /health {s.health_ms[0]:.1f}/{s.health_ms[1]:.1f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key")
    parser.add_argument("--model")
    parser.add_argument("--health-path", default="/health")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    spec = LoadSpec(args.url.rstrip("/"), args.concurrency, args.requests, args.max_tokens,
                    args.model, args.key, args.health_path)
    solo = asyncio.run(solo_references(spec))
    print(describe(summarize(asyncio.run(run_load(spec)), solo)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
