"""Audit log throughput, records per second, beside the seed's AuditLogger.

Run:
    PYTHONPATH=python .venv/bin/python benchmarks/test_audit_bench.py [--rounds N] [--records N]
    PYTHONPATH=python .venv/bin/python -m pytest benchmarks/test_audit_bench.py -q

Each round writes `--records` api_request events (a user, a client address, rule ids)
through `AuditLog` from an asyncio loop, under each fsync policy:
- record, 1 producer: each record acknowledged only after its own fsync;
- record, 64 producers: concurrent requests share fsyncs (group commit), as under load;
- batch (100 records / 50 ms), 64 producers: acknowledged once written to the OS;
and the seed's AuditLogger (logging.FileHandler + json.dumps: no hash chain, no sealing
of personal fields, no fsync) as the peer. Configurations are interleaved round by round;
figures are medians. fsync cost depends on the disk under the temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import report_data
from llmward.audit import AuditLog, FsyncPolicy, api_request

PRODUCERS = 64


def _event(n: int) -> object:
    return api_request(request_id=f"req_{n:024x}", method="POST", path="/v1/chat/completions",
                       status=200, latency_us=1234, key_id="0123456789abcdef01234567",
                       user=f"user-{n % 97}", role="user", client="192.0.2.7",
                       decision="allowed", rule_ids=("pii.email",))


async def _llmward(directory: Path, records: int, policy: FsyncPolicy, producers: int) -> float:
    events = [_event(n) for n in range(records)]
    async with AuditLog(directory, fsync=policy) as log:
        async def produce(start: int) -> None:
            for event in events[start::producers]:
                await log.log(event)  # type: ignore[arg-type]

        began = time.perf_counter()
        await asyncio.gather(*(produce(i) for i in range(producers)))
        elapsed = time.perf_counter() - began
    return records / elapsed


class SeedAuditLogger:
    """The seed's compliance/audit_log.py AuditLogger, transcribed."""

    def __init__(self, log_file: str) -> None:
        self.logger = logging.getLogger(f"seed-audit-{log_file}")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.handler = logging.FileHandler(log_file)
        self.handler.setFormatter(logging.Formatter("%(message)s"))
        self.logger.addHandler(self.handler)

    def log_event(self, event_type: str, user_id: str, action: str, resource: str,
                  result: str, metadata: dict[str, object] | None = None) -> None:
        event = {"timestamp": datetime.now(timezone.utc).isoformat(), "event_type": event_type,
                 "user_id": user_id, "action": action, "resource": resource,
                 "result": result, "metadata": metadata or {}}
        self.logger.info(json.dumps(event))

    def close(self) -> None:
        self.logger.removeHandler(self.handler)
        self.handler.close()


def _seed(directory: Path, records: int) -> float:
    seed = SeedAuditLogger(str(directory / "audit.log"))
    began = time.perf_counter()
    for n in range(records):
        seed.log_event("api_request", f"user-{n % 97}", "POST", "/v1/chat/completions",
                       "success", {"status_code": 200, "duration_ms": "1.2",
                                   "ip_address": "192.0.2.7"})
    elapsed = time.perf_counter() - began
    seed.close()
    return records / elapsed


def measure(rounds: int = 5, records: int = 5000) -> dict[str, float]:
    runs: dict[str, Callable[[Path], float]] = {
        "record, 1 producer": lambda d: asyncio.run(
            _llmward(d, max(200, records // 10), FsyncPolicy("record"), 1)),
        f"record, {PRODUCERS} producers": lambda d: asyncio.run(
            _llmward(d, records, FsyncPolicy("record"), PRODUCERS)),
        f"batch, {PRODUCERS} producers": lambda d: asyncio.run(
            _llmward(d, records, FsyncPolicy("batch"), PRODUCERS)),
        "seed AuditLogger (no fsync)": lambda d: _seed(d, records),
    }
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            with tempfile.TemporaryDirectory() as directory:
                samples[name].append(run(Path(directory)))
    return {name: statistics.median(values) for name, values in samples.items()}


def report(medians: dict[str, float]) -> list[str]:
    seed = medians["seed AuditLogger (no fsync)"]
    return [f"audit: {name:28} {rate:10,.0f} records/s  ({rate / seed:.2f}x seed)"
            for name, rate in medians.items()]


def write_results(medians: dict[str, float], rounds: int, records: int) -> None:
    """The report: records per second under each fsync policy, against the seed's logger."""
    seed = "seed AuditLogger (no fsync)"
    table = report_data.table(
        f"AuditLog throughput, {records} records per run, medians of {rounds} rounds",
        [report_data.column("rate", "throughput", "records/s", better="higher")],
        [report_data.row(name if name == seed else f"llmward {name}", {"rate": rate},
                         ours=name != seed)
         for name, rate in medians.items()],
        reference=seed, ratio_column="rate",
        notes=["the seed's logger has no hash chain, no sealing of personal fields and no "
               "fsync; fsync cost depends on the disk under the temporary directory"])
    report_data.write("audit", "Audit log", [table])


def test_audit_throughput(summary_lines: list[str]) -> None:
    rounds, records = (1, 500) if report_data.smoke() else (3, 2000)
    medians = measure(rounds=rounds, records=records)
    summary_lines.extend(report(medians))
    write_results(medians, rounds, records)
    # Group commit must pay off: many producers share fsyncs.
    assert medians[f"record, {PRODUCERS} producers"] > 2 * medians["record, 1 producer"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--records", type=int, default=5000)
    args = parser.parse_args()
    medians = measure(args.rounds, args.records)
    print("\n".join(report(medians)))
    write_results(medians, args.rounds, args.records)
