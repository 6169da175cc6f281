"""Cold compile vs loading from the on-disk database cache.

Run:
    .venv/bin/python -m pytest benchmarks/test_cache_bench.py -q -s --benchmark-only
    .venv/bin/python benchmarks/test_cache_bench.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import llmward
import report_data
from corpus import make_corpus


def rule_sets() -> dict[str, list[llmward.Rule]]:
    corpus = make_corpus()
    scanner_rules = [
        llmward.Rule(r.id, r.pattern, literal=r.literal, caseless=r.caseless) for r in corpus.rules
    ]
    many_terms = [llmward.Rule(f"t{i}", f"term{i:06d}x", literal=True) for i in range(20_000)]
    return {"1010 rules (bench set)": scanner_rules, "20000 literals": many_terms}


def load_times(rules: list[llmward.Rule], rounds: int) -> tuple[float, float]:
    """Median seconds for (compile without cache, load from a warm cache)."""
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(tmp) / "cache"
        os.mkdir(cache_dir, 0o700)
        assert llmward.Scanner(rules, cache_dir=cache_dir).cache_status == "miss"
        cold, warm = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            llmward.Scanner(rules, cache=False)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            scanner = llmward.Scanner(rules, cache_dir=cache_dir)
            warm.append(time.perf_counter() - start)
            assert scanner.cache_status == "hit"
    return statistics.median(cold), statistics.median(warm)


def write_results(medians: dict[tuple[str, bool], float]) -> None:
    """The report: compile and cache-hit milliseconds per rule set."""
    names = dict.fromkeys(name for name, _ in medians)
    columns = [report_data.column("compile", "compile", "ms"),
               report_data.column("hit", "load from cache", "ms"),
               report_data.column("speedup", "speed-up", "x", better="higher")]
    rows = []
    for name in names:
        cold, warm = medians.get((name, False)), medians.get((name, True))
        rows.append(report_data.row(name, {
            "compile": None if cold is None else cold * 1e3,
            "hit": None if warm is None else warm * 1e3,
            "speedup": cold / warm if cold and warm else None}, ours=True))
    report_data.write("cache", "Scanner start-up with the database cache", [
        report_data.table("llmward.Scanner construction, median", columns, rows, plot=False)])


@pytest.fixture(scope="module")
def start_medians() -> Iterator[dict[tuple[str, bool], float]]:
    """Collects each benchmark's median; once the module is done, writes them for the report."""
    found: dict[tuple[str, bool], float] = {}
    yield found
    if found:  # empty under --benchmark-disable
        write_results(found)


@pytest.mark.benchmark(group="scanner-cache")
@pytest.mark.parametrize("name", list(rule_sets()))
@pytest.mark.parametrize("cached", [False, True], ids=["compile", "cache-hit"])
def test_scanner_start(benchmark: Any, name: str, cached: bool, tmp_path: Path,
                       start_medians: dict[tuple[str, bool], float]) -> None:
    rules = rule_sets()[name]
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir(mode=0o700)
    llmward.Scanner(rules, cache_dir=cache_dir)
    make: Callable[[], llmward.Scanner] = (
        (lambda: llmward.Scanner(rules, cache_dir=cache_dir))
        if cached
        else (lambda: llmward.Scanner(rules, cache=False))
    )
    rounds = 1 if report_data.smoke() else 5
    scanner = benchmark.pedantic(make, rounds=rounds, iterations=1)
    assert scanner.cache_status == ("hit" if cached else "disabled")
    if benchmark.stats is not None:
        start_medians[(name, cached)] = benchmark.stats.stats.median


def main() -> None:
    print(f"{'rule set':<26}{'compile ms':>12}{'cache hit ms':>14}{'speed-up':>10}")
    medians: dict[tuple[str, bool], float] = {}
    for name, rules in rule_sets().items():
        cold, warm = load_times(rules, rounds=5)
        medians[(name, False)], medians[(name, True)] = cold, warm
        print(f"{name:<26}{cold * 1e3:>12.1f}{warm * 1e3:>14.1f}{cold / warm:>9.0f}x")
    write_results(medians)


if __name__ == "__main__":
    sys.exit(main())
