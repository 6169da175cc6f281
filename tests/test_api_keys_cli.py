"""`llmward keys create|list|revoke` through llmward.cli.main, on a real key store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmward import cli
from llmward.auth import open_key_store


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    if "llmward.cli.keys_cmd" not in cli.COMMANDS:
        monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "llmward.cli.keys_cmd"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "d")
    code, out, err = run(capsys, "keys", "create", "--user", "alice", "--role", "developer",
                         "--expires", "90d", "--limits", '{"requests_per_minute": 30}',
                         "--data-dir", data)
    assert code == 0
    plaintext = out.strip()
    assert plaintext.startswith("lw_") and "only time" in err
    store = open_key_store(Path(data))
    record = store.authenticate(plaintext)
    assert record is not None and record.user == "alice" and record.role == "developer"
    assert record.expires_at is not None and dict(record.limits or {}) == \
        {"requests_per_minute": 30}
    assert record.key_id in err

    code, out, _ = run(capsys, "keys", "list", "--data-dir", data)
    assert code == 0 and record.key_id in out and "active" in out and '"alice"' in out
    assert plaintext[28:] not in out

    code, out, _ = run(capsys, "keys", "revoke", record.key_id, "--data-dir", data)
    assert code == 0 and f"revoked {record.key_id}" in out
    assert store.authenticate(plaintext) is None
    code, out, _ = run(capsys, "keys", "revoke", record.key_id, "--data-dir", data)
    assert code == 0 and "already revoked" in out

    code, out, _ = run(capsys, "keys", "list", "--json", "--data-dir", data)
    [listed] = json.loads(out)
    assert listed["status"] == "revoked" and listed["revoked_at"] is not None
    assert "key" not in listed and "digest" not in listed


def test_json_create_and_env_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMWARD_DATA_DIR", str(tmp_path / "env"))
    code, out, _ = run(capsys, "keys", "create", "--user", "bob", "--role", "viewer", "--json")
    assert code == 0
    created = json.loads(out)
    assert created["role"] == "viewer" and created["expires_at"] is None
    record = open_key_store(tmp_path / "env").authenticate(created["key"])
    assert record is not None and record.key_id == created["id"]


@pytest.mark.parametrize("argv,message", [
    (["--expires", "90"], "--expires"), (["--expires", "0d"], "--expires"),
    (["--expires", "3651d"], "at most"), (["--expires=-1d"], "--expires"),
    (["--limits", "{"], "not valid JSON"), (["--limits", "[1]"], "JSON object"),
    (["--limits", '{"bogus": 1}'], "unknown limit"),
    (["--limits", '{"requests_per_minute": NaN}'], "limits"),
    (["--limits", " " * 5000], "longer than"),
])
def test_create_refuses_bad_options(capsys: pytest.CaptureFixture[str], argv: list[str],
                                    message: str) -> None:
    code, out, err = run(capsys, "keys", "create", "--user", "a", "--role", "user", *argv)
    assert code == 2 and message in err and out == ""


def test_create_refuses_unknown_role_and_bad_user(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["keys", "create", "--user", "a", "--role", "root"])
    assert exit_.value.code == 2
    code, _, err = run(capsys, "keys", "create", "--user", "a\nb", "--role", "user")
    assert code == 2 and "user" in err


def test_revoke_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "keys", "revoke", "not-an-id")
    assert code == 2 and "not a key id" in err
    code, _, err = run(capsys, "keys", "revoke", "0" * 24)
    assert code == 2 and "no key" in err


def test_register_with_custom_roles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from llmward.cli import keys_cmd

    parser = argparse.ArgumentParser()
    keys_cmd.register(parser.add_subparsers(), roles={"auditor"})
    args = parser.parse_args(["keys", "create", "--user", "a", "--role", "auditor",
                              "--data-dir", str(tmp_path)])
    assert args.handler(args) == 0
    assert open_key_store(tmp_path, roles={"auditor"}).list()[0].role == "auditor"
