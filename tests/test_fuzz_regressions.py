"""Inputs on which a fuzz harness (tests/fuzz/) once crashed, replayed through the normal
code paths: each must now get the documented outcome. The inputs live in
tests/data/fuzz_regressions/<target>/; README "Fuzzing" lists how each was found."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmward.audit.chain import AuditLogCorrupt, ChainWriter
from llmward.audit.events import admin_action
from llmward.audit.files import file_name
from llmward.audit.redact import erase_user, pseudonymize
from llmward.audit.verify import verify

REGRESSIONS = Path(__file__).parent / "data" / "fuzz_regressions"
AUDIT_INPUTS = sorted((REGRESSIONS / "audit_log").iterdir())


@pytest.fixture(params=AUDIT_INPUTS, ids=[p.name for p in AUDIT_INPUTS])
def audit_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    directory = tmp_path / request.param.name  # the input's name, for per-input checks
    directory.mkdir()
    path = directory / file_name(1)
    shutil.copyfile(request.param, path)
    return path


def test_audit_regressions_are_reported_not_raised(audit_file: Path) -> None:
    # Every input is an edited record: verification reports it (and does not raise).
    for partial in (False, True):
        report = verify([audit_file], partial=partial)
        assert not report.ok
        assert report.problems


def test_audit_regressions_do_not_break_redaction(audit_file: Path) -> None:
    later = datetime(2100, 1, 1, tzinfo=timezone.utc)
    erase_user(audit_file, "alice", now=later)
    pseudonymize(audit_file, timedelta(0), now=later)
    if audit_file.parent.name.startswith("redact-"):
        # A malformed earlier `redacted` note (outside the hash) does not stop the
        # erasure: the clear values are gone and the rewritten chain verifies.
        assert b'"clear":{' not in audit_file.read_bytes()
        assert verify([audit_file]).ok
    else:
        assert not verify([audit_file]).ok  # the edited record is still caught


def test_audit_regressions_refuse_or_continue_the_writer(audit_file: Path) -> None:
    try:
        writer = ChainWriter(audit_file.parent)
    except AuditLogCorrupt:
        return  # the documented refusal: the last record is not a valid record
    with writer:
        writer.append(admin_action(action="regression", result="ok"))


def test_a_last_record_holding_nan_is_corrupt_not_a_crash(tmp_path: Path) -> None:
    shutil.copyfile(REGRESSIONS / "audit_log" / "writer-nan-last-record", tmp_path / file_name(1))
    with pytest.raises(AuditLogCorrupt, match="not a valid record"):
        ChainWriter(tmp_path)
