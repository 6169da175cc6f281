"""AuditLog: acknowledgements, backpressure without blocking the loop, fsync policies,
the raw prompt off by default, and rewriting files while the log runs."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import stat
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llmward.audit import (
    AuditLog,
    AuditWriteError,
    FsyncPolicy,
    api_request,
    pseudonymize,
    verify,
)
from llmward.audit.events import Event


def request(i: int, **extra: Any) -> Event:
    return api_request(
        request_id=f"r{i}",
        method="GET",
        path="/v1/models",
        status=200,
        latency_us=i,
        user="alice",
        client="10.0.0.1",
        **extra,
    )


def records(directory: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(directory.glob("audit-*.jsonl")):
        out.extend(json.loads(line) for line in path.read_bytes().splitlines())
    return out


class CountingQueue(queue.SimpleQueue):  # type: ignore[type-arg]
    """Counts the records handed to the writer thread."""

    puts = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.puts += 1
        super().put(item, block, timeout)


class FsyncCounter:
    """Counts fsyncs of regular files (directory fsyncs at file creation do not count)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.times: list[float] = []
        real = os.fsync

        def counting(fd: int) -> None:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                self.count += 1
                self.times.append(time.monotonic())
            real(fd)

        monkeypatch.setattr(os, "fsync", counting)


@pytest.mark.asyncio
async def test_log_acknowledges_with_the_sequence_number(tmp_path: Path) -> None:
    async with AuditLog(tmp_path / "audit") as log:
        seqs = [await log.log(request(i)) for i in range(5)]
        assert log.head.seq == 5
    assert seqs == [1, 2, 3, 4, 5]
    assert verify([tmp_path / "audit"]).ok


@pytest.mark.asyncio
async def test_default_directory_is_under_the_data_dir(tmp_path: Path) -> None:
    async with AuditLog() as log:
        await log.log(request(0))
    directory = Path(os.environ["LLMWARD_DATA_DIR"]) / "audit"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert verify([directory]).ok


@pytest.mark.asyncio
async def test_prompt_only_when_configured(tmp_path: Path) -> None:
    async with AuditLog(tmp_path / "off") as log:
        await log.log(request(0, prompt="my secret plan"))
    assert b"my secret plan" not in (tmp_path / "off" / "audit-000001.jsonl").read_bytes()
    async with AuditLog(tmp_path / "on", include_prompt=True) as log:
        await log.log(request(0, prompt="my secret plan"))
    last = records(tmp_path / "on")[-1]
    assert last["clear"]["prompt"]["value"] == "my secret plan" and "prompt" in last["sealed"]


@pytest.mark.asyncio
async def test_backpressure_waits_never_drops_and_loop_stays_responsive(tmp_path: Path) -> None:
    gate = threading.Event()
    log = AuditLog(tmp_path / "audit", queue_size=2)
    log._queue = CountingQueue()  # type: ignore[assignment]
    await log.start()
    writer = log._writer
    assert writer is not None
    real_append = writer.append

    def slow_append(event: Event) -> int:
        gate.wait(10)  # the disk is stuck until the test opens the gate
        time.sleep(0.002)
        return real_append(event)

    writer.append = slow_append  # type: ignore[method-assign]

    tasks = [asyncio.create_task(log.log(request(i))) for i in range(20)]
    # While the writer is stuck the loop keeps running: measure its lag.
    lag = 0.0
    for _ in range(20):
        before = time.monotonic()
        await asyncio.sleep(0.005)
        lag = max(lag, time.monotonic() - before - 0.005)
    # Backpressure: only queue_size records were handed to the writer; the rest wait.
    assert log._queue.puts == 2  # type: ignore[attr-defined]
    assert sum(t.done() for t in tasks) == 0
    assert lag < 0.1
    gate.set()
    seqs = await asyncio.gather(*tasks)
    await log.close()
    assert sorted(seqs) == list(range(1, 21))
    got = [r["data"]["request_id"] for r in records(tmp_path / "audit")[1:]]
    assert sorted(got) == sorted(f"r{i}" for i in range(20))
    assert verify([tmp_path / "audit"]).ok


@pytest.mark.asyncio
async def test_cancelled_caller_still_gets_its_record_written(tmp_path: Path) -> None:
    async with AuditLog(tmp_path / "audit", queue_size=1) as log:
        task = asyncio.create_task(log.log(request(1)))
        await asyncio.sleep(0)
        task.cancel()
        await log.log(request(2))
    assert [r["data"]["request_id"] for r in records(tmp_path / "audit")[1:]] == ["r1", "r2"]


@pytest.mark.asyncio
async def test_fsync_per_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = FsyncCounter(monkeypatch)
    async with AuditLog(tmp_path / "audit") as log:
        start = counter.count
        for i in range(10):
            await log.log(request(i))
            assert counter.count == start + i + 1  # durable before the acknowledgement


@pytest.mark.asyncio
async def test_fsync_batched_by_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = FsyncCounter(monkeypatch)
    policy = FsyncPolicy(mode="batch", max_records=5, max_ms=60_000)
    async with AuditLog(tmp_path / "audit", fsync=policy) as log:
        start = counter.count
        for i in range(12):
            await log.log(request(i))
        # Fsyncs after our 5th and 10th records; the last two wait for the bound or close.
        assert counter.count - start == 2
    assert counter.count - start == 3  # close syncs the rest
    assert len(records(tmp_path / "audit")) == 13


@pytest.mark.asyncio
async def test_fsync_batched_by_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = FsyncCounter(monkeypatch)
    policy = FsyncPolicy(mode="batch", max_records=1000, max_ms=300)
    async with AuditLog(tmp_path / "audit", fsync=policy) as log:
        start = counter.count
        sent = time.monotonic()
        await log.log(request(0))
        assert counter.count == start  # acknowledged before the fsync
        await asyncio.sleep(0.8)
        assert counter.count == start + 1  # ...which the timer did, with no further record
        assert 0.29 <= counter.times[-1] - sent < 0.7  # the time bound, slack for a busy CI


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        FsyncPolicy(mode="never")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FsyncPolicy(mode="batch", max_records=0)
    with pytest.raises(ValueError):
        AuditLog(queue_size=0)


@pytest.mark.asyncio
async def test_pseudonymize_while_running(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    old = datetime.now(timezone.utc) - timedelta(days=100)
    async with AuditLog(directory) as log:
        await log.log(
            api_request(
                request_id="old",
                method="GET",
                path="/",
                status=200,
                latency_us=1,
                user="alice",
                when=old,
            )
        )
        await log.log(request(1))
        changed = await log.exclusive(lambda d: pseudonymize(d, timedelta(days=90)))
        await log.log(request(2))  # the chain continues after the rewrite
    assert changed == 1
    report = verify([directory])
    assert report.ok and report.redacted == 1
    assert [r.get("clear", {}).get("user") is None for r in records(directory)[1:]] == [
        True,
        False,
        False,
    ]


@pytest.mark.asyncio
async def test_log_after_close_is_refused(tmp_path: Path) -> None:
    log = await AuditLog(tmp_path / "audit").start()
    await log.close()
    with pytest.raises(RuntimeError):
        await log.log(request(0))


@pytest.mark.asyncio
async def test_log_threadsafe_from_another_thread(tmp_path: Path) -> None:
    async with AuditLog(tmp_path / "audit") as log:
        seq = await asyncio.to_thread(log.log_threadsafe, request(0), 10)
        assert seq == 1
        with pytest.raises(RuntimeError):
            log.log_threadsafe(request(1))


@pytest.mark.asyncio
async def test_a_dead_writer_fails_callers_instead_of_hanging(tmp_path: Path) -> None:
    async with AuditLog(tmp_path / "audit") as log:

        def reopen_fails(d: Path) -> None:
            log._open_writer = broken  # type: ignore[method-assign]

        def broken() -> None:
            raise OSError("disk gone")

        exclusive = asyncio.create_task(log.exclusive(reopen_fails))
        await asyncio.sleep(0)
        with pytest.raises(AuditWriteError):
            await asyncio.wait_for(log.log(request(0)), 5)
        with pytest.raises(OSError, match="disk gone"):
            await asyncio.wait_for(exclusive, 5)
        with pytest.raises(RuntimeError):
            await log.log(request(1))


@pytest.mark.asyncio
async def test_an_unwritable_record_fails_alone(tmp_path: Path) -> None:
    async with AuditLog(tmp_path / "audit") as log:
        with pytest.raises(AuditWriteError):
            await log.log(Event("admin", "2026-01-01T00:00:00.000000Z", {"x": object()}))
        assert await log.log(request(1)) == 1
    assert verify([tmp_path / "audit"]).ok
