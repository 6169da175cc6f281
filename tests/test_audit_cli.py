"""`llmward audit verify|pseudonymize` through llmward.cli.main: exit codes 0/1/2, --json."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmward import cli
from llmward.audit import ChainWriter, api_request


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    if "llmward.cli.audit_cmd" not in cli.COMMANDS:
        monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "llmward.cli.audit_cmd"))


def write(directory: Path, count: int = 5, days_ago: int = 0) -> None:
    when = datetime.now(timezone.utc) - timedelta(days=days_ago)
    with ChainWriter(directory, max_file_bytes=4096) as writer:
        for i in range(count):
            writer.append(
                api_request(
                    request_id=f"r{i}",
                    method="GET",
                    path="/",
                    status=200,
                    latency_us=i,
                    user="alice",
                    when=when,
                )
            )


def test_verify_ok_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path)
    assert cli.main(["audit", "verify", str(tmp_path / "audit-000001.jsonl")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 6 records in 1 file(s); head 5:")


def test_verify_tampered_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path)
    path = tmp_path / "audit-000001.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    del lines[2]
    path.write_bytes(b"".join(lines))
    assert cli.main(["audit", "verify", "--json", str(tmp_path)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["problems"][0]["file"] == "audit-000001.jsonl"
    assert report["problems"][0]["line"] == 3 and report["problems"][0]["seq"] == 3


def test_verify_text_failure_names_the_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path)
    with (tmp_path / "audit-000001.jsonl").open("ab") as f:
        f.write(b"junk")
    assert cli.main(["audit", "verify", str(tmp_path)]) == 1
    assert capsys.readouterr().out.startswith("FAILED audit-000001.jsonl:7: incomplete last")


def test_verify_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["audit", "verify", str(tmp_path / "nope")]) == 2
    assert cli.main(["audit", "verify", str(tmp_path)]) == 2  # no audit files
    write(tmp_path)
    assert cli.main(["audit", "verify", "--anchor", "x", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_verify_anchor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path)
    assert cli.main(["audit", "verify", "--json", str(tmp_path)]) == 0
    head = json.loads(capsys.readouterr().out)
    anchor = f"{head['last_seq']}:{head['last_hash']}"
    path = tmp_path / "audit-000001.jsonl"
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:-1]))
    assert cli.main(["audit", "verify", str(tmp_path)]) == 0
    assert cli.main(["audit", "verify", "--anchor", anchor, str(tmp_path)]) == 1


def test_verify_defaults_to_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "audit").mkdir(parents=True)
    write(data / "audit")
    assert cli.main(["audit", "verify", "--data-dir", str(data)]) == 0


def test_pseudonymize_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, days_ago=100)
    assert (
        cli.main(["audit", "pseudonymize", "--older-than", "90", "--dir", str(tmp_path), "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["pseudonymized"] == 5
    assert cli.main(["audit", "verify", str(tmp_path)]) == 0
    assert "5 pseudonymized" in capsys.readouterr().out
    assert b"alice" not in (tmp_path / "audit-000001.jsonl").read_bytes()


def test_pseudonymize_busy_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path)
    with ChainWriter(tmp_path):
        assert cli.main(["audit", "pseudonymize", "--older-than", "1", "--dir", str(tmp_path)]) == 2
