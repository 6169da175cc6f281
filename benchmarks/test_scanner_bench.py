"""Seed validator vs PyPI hyperscan vs llmward, side by side on the 4 KB prompt corpus.

Run:
    .venv/bin/python -m pytest benchmarks -q -s --benchmark-only
    .venv/bin/python benchmarks/test_scanner_bench.py [--rounds N]

Each timed call scans all 200 prompts of ``corpus.make_corpus()`` once. The summary
gives the median time per prompt, MB/s (10**6 bytes) and the ratio to llmward.scan
(peer time / llmward time), and is written for the report (report_data.py).
Before a number counts, the approach's findings are checked against the spans
recorded when the corpus was built, so every approach flags the same prompts.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import hyperscan
import pytest

import llmward
import report_data
from corpus import Corpus, RuleSpec, Span, make_corpus

REFERENCE = "llmward.scan"
APPROACHES = ("seed", "pyhyperscan", "pyhyperscan_nospans", "llmward.scan", "llmward.scan_batch")
SPAN_APPROACHES = {"pyhyperscan", "llmward.scan", "llmward.scan_batch"}  # others: presence only

Hit = tuple[str, Any, Any]  # (rule id, start, end); start/end are None where unknown


def seed_scanner(rules: Sequence[RuleSpec]) -> Callable[[str], list[Hit]]:
    """The seed validator: re.search per regex, then `term in text.lower()` per banned term."""
    regexes = [
        (r.id, re.compile(r.pattern, re.IGNORECASE if r.caseless else 0))
        for r in rules
        if not r.literal
    ]
    terms = [(r.id, r.pattern.lower()) for r in rules if r.literal]

    def scan(text: str) -> list[Hit]:
        found: list[Hit] = [(rid, None, None) for rid, rx in regexes if rx.search(text)]
        lower = text.lower()
        found += [(rid, None, None) for rid, term in terms if term in lower]
        return found

    return scan


def hs_escape(literal: str) -> str:
    """Escape every non-alphanumeric ASCII character as \\xHH (hyperscan has no re.escape)."""
    return "".join(
        ch if ch.isalnum() or not ch.isascii() else f"\\x{ord(ch):02x}" for ch in literal
    )


def pyhyperscan_scanner(rules: Sequence[RuleSpec], *, spans: bool) -> Callable[[str], list[Hit]]:
    """One PyPI-hyperscan database for all rules, matches gathered by a Python callback.

    spans=False compiles without SOM and with SINGLEMATCH: presence only, the cheapest mode.
    """
    mode = hyperscan.HS_FLAG_SOM_LEFTMOST if spans else hyperscan.HS_FLAG_SINGLEMATCH
    db = hyperscan.Database()
    db.compile(
        expressions=[(hs_escape(r.pattern) if r.literal else r.pattern).encode() for r in rules],
        ids=list(range(len(rules))),
        elements=len(rules),
        flags=[
            hyperscan.HS_FLAG_UTF8 | mode | (hyperscan.HS_FLAG_CASELESS if r.caseless else 0)
            for r in rules
        ],
    )
    names = [r.id for r in rules]

    def on_match(index: int, start: int, end: int, _flags: int, found: list[Hit]) -> None:
        found.append((names[index], start, end))

    def scan(text: str) -> list[Hit]:
        found: list[Hit] = []
        db.scan(text.encode(), match_event_handler=on_match, context=found)
        return found

    return scan


def llmward_scanner(rules: Sequence[RuleSpec]) -> llmward.Scanner:
    return llmward.Scanner(
        [
            llmward.Rule(
                r.id, r.pattern, literal=r.literal, caseless=r.caseless, category=r.category
            )
            for r in rules
        ],
        cache=False,
    )


def corpus_passes(c: Corpus) -> dict[str, Callable[[], list[Any]]]:
    """Per approach, a callable scanning every prompt once: what gets timed (compiling is not)."""
    texts = c.texts
    seed = seed_scanner(c.rules)
    hs_spans = pyhyperscan_scanner(c.rules, spans=True)
    hs_presence = pyhyperscan_scanner(c.rules, spans=False)
    scanner = llmward_scanner(c.rules)
    return {
        "seed": lambda: [seed(t) for t in texts],
        "pyhyperscan": lambda: [hs_spans(t) for t in texts],
        "pyhyperscan_nospans": lambda: [hs_presence(t) for t in texts],
        "llmward.scan": lambda: [scanner.scan(t) for t in texts],
        "llmward.scan_batch": lambda: scanner.scan_batch(texts),
    }


def normalize(hits: Iterable[Hit]) -> frozenset[Span]:
    """llmward's span semantics: within a rule, drop spans contained in another one.

    Hyperscan with SOM reports every end offset (e.g. "a@b.example.com" ends after
    "example" and after "com"); llmward keeps only the outermost span.
    """
    kept: list[Span] = []
    furthest: dict[str, int] = {}
    for rule, start, end in sorted(hits, key=lambda h: (h[0], h[1], -h[2])):
        if end > furthest.get(rule, -1):
            furthest[rule] = end
            kept.append(Span(rule, start, end))
    return frozenset(kept)


def check(name: str, results: list[Any], c: Corpus) -> None:
    """Assert one corpus pass found exactly what was inserted (ASCII: code point = byte offsets)."""
    hits = [
        [h if isinstance(h, tuple) else (h.rule, h.start, h.end) for h in found]
        for found in results
    ]
    flagged = {i for i, found in enumerate(hits) if found}
    assert flagged == {i for i, p in enumerate(c.prompts) if p.kind != "clean"}, name
    assert [{h[0] for h in found} for found in hits] == [
        {s.rule for s in p.expected} for p in c.prompts
    ], name
    if name in SPAN_APPROACHES:
        assert [normalize(found) for found in hits] == [p.expected for p in c.prompts], name


def summarize(medians: dict[str, float], c: Corpus) -> list[dict[str, Any]]:
    """Rows from median seconds per corpus pass."""
    n, size, ref = len(c.prompts), c.total_bytes, medians.get(REFERENCE)
    return [
        {
            "approach": name,
            "us_per_prompt": round(seconds / n * 1e6, 2),
            "mb_per_s": round(size / seconds / 1e6, 2),
            "ratio_vs_llmward_scan": round(seconds / ref, 3) if ref else None,
        }
        for name, seconds in medians.items()
    ]


def format_table(rows: list[dict[str, Any]], c: Corpus, source: str) -> list[str]:
    lines = [
        f"{len(c.prompts)} prompts, {c.total_bytes} bytes, {len(c.rules)} rules; {source}",
        f"{'approach':<22}{'µs/prompt':>12}{'MB/s':>10}{'vs llmward.scan':>17}",
    ]
    for row in rows:
        ratio = row["ratio_vs_llmward_scan"]
        lines.append(
            f"{row['approach']:<22}{row['us_per_prompt']:>12.1f}{row['mb_per_s']:>10.1f}"
            + (f"{ratio:>16.2f}x" if ratio is not None else f"{'-':>17}")
        )
    return lines


def write_json(rows: list[dict[str, Any]], c: Corpus, source: str) -> Path:
    """The report's results (report_data): time and MB/s per approach, ratio to llmward.scan."""
    columns = [report_data.column("us", "time per prompt", "µs"),
               report_data.column("mbs", "throughput", "MB/s", better="higher")]
    table = report_data.table(
        f"{len(c.prompts)} prompts of 4 KB, {len(c.rules)} rules ({source})", columns,
        [report_data.row(r["approach"], {"us": r["us_per_prompt"], "mbs": r["mb_per_s"]},
                         ours=r["approach"].startswith("llmward"))
         for r in rows],
        reference=REFERENCE if any(r["approach"] == REFERENCE for r in rows) else None,
        ratio_column="us")
    versions = {"llmward": llmward.__version__, "llmward_hyperscan": llmward.hyperscan_version,
                "pyhyperscan": hyperscan.__version__}
    return report_data.write(
        "scanner", "Scanner", [table],
        notes=["every approach's findings are checked against the spans recorded when the "
               "corpus was built, so all flag the same prompts",
               "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())],
        meta={"corpus": {"prompts": len(c.prompts), "total_bytes": c.total_bytes,
                         "rules": len(c.rules)}, "versions": versions})


# --- pytest-benchmark -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return make_corpus()


@pytest.fixture(scope="module")
def passes(corpus: Corpus) -> dict[str, Callable[[], list[Any]]]:
    return corpus_passes(corpus)


@pytest.fixture(scope="module")
def medians(corpus: Corpus, summary_lines: list[str]) -> Iterable[dict[str, float]]:
    """Collects each benchmark's median; once the module is done, reports them all."""
    found: dict[str, float] = {}
    yield found
    if found:  # empty under --benchmark-disable
        source = "pytest-benchmark median per corpus pass"
        rows = summarize(found, corpus)
        path = write_json(rows, corpus, source)
        summary_lines += [*format_table(rows, corpus, source), f"written to {path}"]


@pytest.mark.benchmark(group="scanner-4KB")
@pytest.mark.parametrize("name", APPROACHES)
def test_scan_corpus(
    benchmark: Any,
    name: str,
    corpus: Corpus,
    passes: dict[str, Callable[[], list[Any]]],
    medians: dict[str, float],
) -> None:
    check(name, benchmark(passes[name]), corpus)  # the timed results themselves are checked
    if benchmark.stats is not None:
        seconds = benchmark.stats.stats.median
        medians[name] = seconds
        benchmark.extra_info["us_per_prompt"] = round(seconds / len(corpus.prompts) * 1e6, 2)
        benchmark.extra_info["mb_per_s"] = round(corpus.total_bytes / seconds / 1e6, 2)


# --- without pytest ---------------------------------------------------------------------------


def measure(passes: dict[str, Callable[[], list[Any]]], rounds: int) -> dict[str, float]:
    """Median seconds per pass; approaches take turns each round so load drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in passes}
    for _ in range(rounds):
        for name, scan_corpus in passes.items():
            start = time.perf_counter()
            scan_corpus()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Scanner benchmark summary, without pytest.")
    parser.add_argument("--rounds", type=int, default=15, help="timed passes per approach")
    args = parser.parse_args(argv)
    c = make_corpus()
    passes = corpus_passes(c)
    for name, scan_corpus in passes.items():  # also warms every approach up
        check(name, scan_corpus(), c)
    source = f"perf_counter median of {args.rounds} interleaved corpus passes"
    rows = summarize(measure(passes, args.rounds), c)
    print("\n".join(format_table(rows, c, source)))
    print(f"written to {write_json(rows, c, source)}")


if __name__ == "__main__":
    main(sys.argv[1:])
