"""API key validation time: `SqliteKeyStore.authenticate` per class of presented key.

Run:
    PYTHONPATH=python .venv/bin/python benchmarks/test_keys_bench.py [--rounds N] [--keys N]
    PYTHONPATH=python .venv/bin/python -m pytest benchmarks/test_keys_bench.py -q

Classes: a valid key, a valid id with a wrong secret, an unknown id, and malformed input
(short garbage, empty, 1 MB). Classes are interleaved round by round so drift in machine
load hits them alike; each figure is the median in µs, with its ratio to the valid-key
median. The valid key's last_used_at is written once before timing (then at most once a
minute), so the figures compare the validation path itself. The store holds `--keys`
other keys so the lookup runs on a populated index.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import report_data
from llmward.auth import SqliteKeyStore


def measure(rounds: int = 20_000, keys: int = 1000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        store = SqliteKeyStore(Path(directory) / "keys.sqlite3")
        for n in range(keys):
            store.create(f"user{n}", "user")
        valid, _ = store.create("alice", "user")
        store.authenticate(valid)
        flipped = valid[:-1] + ("A" if valid[-1] != "A" else "B")
        cases = {
            "valid": valid,
            "wrong secret": flipped,
            "unknown id": "lw_" + secrets.token_hex(12) + valid[27:],
            "malformed": "Bearer nonsense",
            "malformed (empty)": "",
            "malformed (1 MB)": "x" * 1_000_000,
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        clock = time.perf_counter_ns
        for _ in range(rounds):
            for name, presented in cases.items():
                start = clock()
                store.authenticate(presented)
                samples[name].append((clock() - start) / 1000)
        store.close()
    return {name: statistics.median(values) for name, values in samples.items()}


def report(medians: dict[str, float]) -> list[str]:
    base = medians["valid"]
    return [f"keys: {name:18} {us:7.2f} µs median  ({us / base:.2f}x valid)"
            for name, us in medians.items()]


def write_results(medians: dict[str, float], rounds: int, keys: int) -> None:
    """The report: median µs per class of presented key, against a valid key's."""
    table = report_data.table(
        f"SqliteKeyStore.authenticate, {keys} other keys stored, medians of {rounds} rounds",
        [report_data.column("us", "median", "µs")],
        [report_data.row(name, {"us": us}, ours=True) for name, us in medians.items()],
        reference="valid", ratio_column="us",
        notes=["no peer: the classes are compared with each other (a refusal should cost "
               "about what an acceptance costs)"])
    report_data.write("keys", "API key validation", [table])


def test_key_validation_time(summary_lines: list[str]) -> None:
    rounds, keys = (200, 20) if report_data.smoke() else (3000, 200)
    medians = measure(rounds=rounds, keys=keys)
    summary_lines.extend(report(medians))
    write_results(medians, rounds, keys)
    # Loose: the classes must be the same order of magnitude; the figures are the result.
    for name, us in medians.items():
        assert us < 3 * medians["valid"], name


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=1000)
    args = parser.parse_args()
    medians = measure(args.rounds, args.keys)
    print("\n".join(report(medians)))
    write_results(medians, args.rounds, args.keys)

