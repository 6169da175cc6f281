"""atheris harness: the audit log readers, on any bytes as an audit file.

Contract: `verify` never raises, it reports (a problem names a line of the file);
opening a `ChainWriter` on the file either continues the chain or refuses with
`AuditLogCorrupt`, and a log that verified (a torn last line aside) still verifies
after the writer recovered it and appended a record; `erase_user` and `pseudonymize`
leave what they cannot read alone and never break a chain that verified."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["llmward"]):
    from llmward.audit.chain import AuditLogCorrupt, ChainWriter
    from llmward.audit.events import admin_action, api_request
    from llmward.audit.files import file_name
    from llmward.audit.redact import erase_user, pseudonymize
    from llmward.audit.verify import VerifyReport, verify

from atheris_main import run

# A RAM-backed directory when there is one: the writer fsyncs every file it touches.
# mkdtemp makes a fresh 0700 directory, so a shared parent is safe. libFuzzer ends the
# process without running atexit handlers: scripts/fuzz.sh passes FUZZ_SCRATCH, a
# directory it removes afterwards.
_SHM = "/dev/shm"  # noqa: S108
_ROOT = Path(tempfile.mkdtemp(prefix="fuzz-audit-", dir=os.environ.get("FUZZ_SCRATCH") or (
    _SHM if os.path.isdir(_SHM) else None)))
_NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
_INCOMPLETE = "incomplete last line"


def _fresh(data: bytes) -> Path:
    for old in _ROOT.iterdir():
        old.unlink()
    path = _ROOT / file_name(1)
    path.write_bytes(data)
    return path


def _check_report(report: VerifyReport, lines: int) -> None:
    json.dumps(report.as_dict(), allow_nan=False)
    assert report.records <= lines
    assert report.ok == (not report.problems and report.records > 0)
    for problem in report.problems:
        assert problem.line is None or 1 <= problem.line <= lines, problem


def _verifies(report: VerifyReport) -> bool:
    """The chain is intact, a torn last line aside (the writer cuts it on open)."""
    return report.records > 0 and all(_INCOMPLETE in p.message for p in report.problems)


def test_one_input(data: bytes) -> None:
    lines = data.count(b"\n") + (not data.endswith(b"\n") and bool(data))
    path = _fresh(data)
    report = verify([path])
    _check_report(report, lines)
    _check_report(verify([path], partial=True), lines)
    intact = _verifies(report)

    # The readers that rewrite records: a chain that verified still does.
    erase_user(path, "fuzz-user", now=_NOW)
    pseudonymize(path, timedelta(days=1), now=_NOW)
    if intact:
        assert _verifies(verify([path])), verify([path]).problems

    try:
        writer = ChainWriter(_ROOT)
    except AuditLogCorrupt:
        assert not intact, "a writer refused a log that verifies"
        return
    with writer:
        writer.append(admin_action(action="fuzz", result="ok", user="fuzz-user"))
    if intact:
        after = verify(sorted(_ROOT.glob("audit-*.jsonl")))
        assert after.ok, after.problems


def seeds() -> Iterable[bytes]:
    """A small real log: file start, a request with personal values, an admin record,
    a pseudonymized record; and the same log with a torn tail."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with ChainWriter(directory) as writer:
            writer.append(api_request(request_id="r1", method="POST", path="/v1/chat/completions",
                                      status=200, latency_us=1200, user="alice",
                                      client="127.0.0.1", prompt="hello"))
            writer.append(admin_action(action="key.create", result="ok", user="bob"))
        log = (directory / file_name(1)).read_bytes()
        yield log
        yield log + b'{"v":1,"seq":3'
        erase_user(directory, "alice", now=_NOW)
        yield (directory / file_name(1)).read_bytes()


if __name__ == "__main__":
    run(test_one_input, seeds)
