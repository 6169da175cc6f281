"""The serving benchmark's results for the report (report_data): a table per concurrency,
every server side by side, and throughput and latency against concurrency."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import report_data
from serving_load import Summary

REFERENCE = "llmward guard on -np 4"
COLUMNS = [
    report_data.column("tok_s", "output", "tok/s", better="higher"),
    report_data.column("req_s", "requests", "req/s", better="higher"),
    report_data.column("ttft50", "TTFT p50", "ms"),
    report_data.column("ttft99", "TTFT p99", "ms"),
    report_data.column("itl50", "ITL p50", "ms"),
    report_data.column("e2e50", "E2E p50", "ms"),
    report_data.column("e2e99", "E2E p99", "ms"),
    report_data.column("health99", "/health p99", "ms"),
]


class Run(Protocol):
    """test_serving_bench.PeerRun, as far as the report reads it."""

    name: str
    skipped: str | None
    by_concurrency: dict[int, Summary]
    foreign_cpu_s: dict[int, float]


def write_results(runs: Sequence[Run], requests: int, max_tokens: int) -> None:
    measured = [r for r in runs if not r.skipped]
    skipped = {r.name: r.skipped for r in runs if r.skipped is not None}
    levels = sorted({c for r in measured for c in r.by_concurrency})
    if not levels:  # nothing ran: the report still lists every server and why
        levels_table = report_data.table("no server could run", COLUMNS, [], skipped=skipped)
        report_data.write("serving", "Serving", [levels_table])
        return
    tables = []
    for c in levels:
        rows = [report_data.row(r.name, _values(r.by_concurrency[c]),
                                ours=r.name.startswith("llmward"))
                for r in measured if c in r.by_concurrency]
        has_reference = any(row["name"] == REFERENCE for row in rows)
        noisy = [f"{r.name}: other processes used {r.foreign_cpu_s[c]:.1f} CPU-s meanwhile"
                 for r in measured if r.foreign_cpu_s.get(c, 0.0) > 1.0]
        tables.append(report_data.table(
            f"{c} concurrent streaming clients, max({requests}, 4*c) requests of "
            f"{max_tokens} tokens", COLUMNS, rows,
            reference=REFERENCE if has_reference else None, ratio_column="tok_s",
            skipped=skipped,
            notes=[*_failures(measured, c), *noisy]))
    plots = [
        report_data.line_plot("serving: output tokens/s against concurrency",
                              "concurrent clients", "tok/s",
                              {r.name: {c: s.tokens_per_s for c, s in r.by_concurrency.items()}
                               for r in measured}),
        report_data.line_plot("serving: time to first token (p50) against concurrency",
                              "concurrent clients", "TTFT p50 (ms)",
                              {r.name: {c: s.ttft_ms[0] for c, s in r.by_concurrency.items()
                                        if s.ttft_ms[0] == s.ttft_ms[0]}  # NaN: no sample
                               for r in measured}),
    ]
    report_data.write(
        "serving", "Serving", tables, plots=plots,
        notes=["same model (Gemma 3 270M Q4_K_M), context and threads for every server; "
               "servers run one after another; TTFT: first content, ITL: gap between "
               "content chunks, E2E: whole stream"])


def _values(s: Summary) -> dict[str, float | None]:
    return {"tok_s": s.tokens_per_s, "req_s": s.requests_per_s, "ttft50": s.ttft_ms[0],
            "ttft99": s.ttft_ms[1], "itl50": s.itl_ms[0], "e2e50": s.e2e_ms[0],
            "e2e99": s.e2e_ms[1], "health99": s.health_ms[1]}


def _failures(runs: Sequence[Run], c: int) -> list[str]:
    out = []
    for r in runs:
        s = r.by_concurrency.get(c)
        if s is not None and (s.failed or s.refused or s.truncated):
            out.append(f"{r.name}: {s.failed} failed, {s.refused} refused (429/503), "
                       f"{s.truncated} truncated")
    return out
