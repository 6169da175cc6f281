"""A real writer process killed with SIGKILL mid-stream: every record it acknowledged is in
the log, and after recovery on reopen the chain verifies."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmward.audit import ChainWriter, verify

# Eight concurrent tasks log forever; each prints the sequence number it was acknowledged.
CHILD = """
import asyncio, sys
from llmward.audit import AuditLog, FsyncPolicy, api_request

async def worker(log, name):
    i = 0
    while True:
        seq = await log.log(api_request(request_id=f"{name}-{i}", method="POST",
                                        path="/v1/chat/completions", status=200,
                                        latency_us=i, user="u" + name, client="127.0.0.1"))
        print(seq, f"{name}-{i}", flush=True)
        i += 1

async def main():
    policy = FsyncPolicy(mode=sys.argv[2], max_records=50, max_ms=20)
    log = await AuditLog(sys.argv[1], fsync=policy, queue_size=16,
                         max_file_bytes=16384).start()
    await asyncio.gather(*(worker(log, str(n)) for n in range(8)))

asyncio.run(main())
"""


def run_and_kill(directory: Path, mode: str, acks_wanted: int) -> dict[int, str]:
    # The child imports the llmward this test imports: the installed package (make test), or
    # the source tree through the inherited PYTHONPATH (the dev loop).
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(directory), mode],
                             stdout=subprocess.PIPE)
    assert child.stdout is not None
    acked: dict[int, str] = {}
    deadline = time.monotonic() + 60
    while len(acked) < acks_wanted and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        seq, request_id = line.decode().split()
        acked[int(seq)] = request_id
    child.send_signal(signal.SIGKILL)  # mid-stream: tasks are still logging
    child.wait()
    for line in child.stdout:  # acknowledgements printed before the kill
        parts = line.decode().split()
        if len(parts) == 2:
            acked[int(parts[0])] = parts[1]
    assert child.returncode == -signal.SIGKILL
    assert len(acked) >= acks_wanted, "the child did not acknowledge enough records"
    return acked


@pytest.mark.parametrize("mode", ["record", "batch"])
def test_sigkill_loses_no_acknowledged_record(tmp_path: Path, mode: str) -> None:
    directory = tmp_path / "audit"
    acked = run_and_kill(directory, mode, acks_wanted=400)
    with ChainWriter(directory):  # reopening recovers (truncates a torn tail, if any)
        pass
    report = verify([directory])
    assert report.ok, report.problems
    on_disk = {}
    for path in sorted(directory.glob("audit-*.jsonl")):
        for line in path.read_bytes().splitlines():
            record = json.loads(line)
            if record["kind"] == "api_request":
                on_disk[record["seq"]] = record["data"]["request_id"]
    missing = {seq: rid for seq, rid in acked.items() if on_disk.get(seq) != rid}
    assert not missing
    assert len(list(directory.glob("audit-*.jsonl"))) > 1  # the kill came after rotations
