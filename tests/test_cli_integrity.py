"""`llmward manifest create|verify`, `llmward sign` and `llmward verify`: output,
--json, and the exit codes (0 ok, 1 integrity failure, 2 input error)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from integrity_helpers import (
    MODEL_FILES,
    RECORDED,
    seed_sign,
    sha256_hex,
    write_ec_keypair,
    write_rsa_keypair,
)
from llmward.cli import build_parser, main
from llmward.integrity import verify_cache


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, *argv, "--json")
    body: dict[str, Any] = json.loads(out)
    return code, body


def test_commands_are_registered() -> None:
    parser = build_parser()
    for argv in (["manifest", "create", "d"], ["manifest", "verify", "d"],
                 ["sign", "d", "--key", "k"], ["verify", "d", "--key", "k"]):
        assert callable(parser.parse_args(argv).handler)


# --- manifest -------------------------------------------------------------------------

def test_manifest_create_then_verify(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, created = run_json(capsys, "manifest", "create", str(model))
    assert code == 0 and created["files"] == len(RECORDED) and created["format"] == "llmward"
    assert Path(created["manifest"]) == model / "llmward-manifest.json"
    code, report = run_json(capsys, "manifest", "verify", str(model))
    assert code == 0 and report["ok"] and report["matched"] == len(RECORDED)


def test_manifest_verify_failures_exit_1(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "manifest", "create", str(model))
    (model / "config.json").write_bytes(b"{}")
    (model / "a.b").unlink()
    (model / "new.txt").write_bytes(b"new")
    code, out, _ = run(capsys, "manifest", "verify", str(model))
    assert code == 1
    assert (f"MISMATCH config.json: sha256 expected {sha256_hex(MODEL_FILES['config.json'])}, "
            f"actual {sha256_hex(b'{}')}") in out
    assert "MISSING  a.b" in out and "EXTRA    new.txt" in out
    code, report = run_json(capsys, "manifest", "verify", str(model))
    assert code == 1 and not report["ok"]
    assert report["mismatched"] == [{"path": "config.json", "algorithm": "sha256",
                                     "expected": sha256_hex(MODEL_FILES["config.json"]),
                                     "actual": sha256_hex(b"{}")}]
    assert report["missing"] == ["a.b"] and report["extra"] == ["new.txt"]


def test_manifest_allow_extra(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "manifest", "create", str(model))
    (model / "new.txt").write_bytes(b"new")
    code, out, _ = run(capsys, "manifest", "verify", str(model), "--allow-extra")
    assert code == 0 and "EXTRA    new.txt (allowed)" in out


def test_manifest_verify_cache_and_full(model: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_cache, "RACY_WINDOW_NS", 0)
    data = tmp_path / "flag-data"
    run(capsys, "manifest", "create", str(model))
    verify = ("manifest", "verify", str(model), "--data-dir", str(data))
    assert run_json(capsys, *verify)[1]["cached"] == 0
    assert run_json(capsys, *verify)[1]["cached"] == len(RECORDED)
    assert run_json(capsys, *verify, "--full")[1]["cached"] == 0
    assert stat.S_IMODE(data.stat().st_mode) & 0o077 == 0


def test_checksums_json_format(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "manifest", "create", str(model), "--format", "checksums")
    assert code == 0
    body = json.loads((model / "checksums.json").read_text())
    assert body == {name: sha256_hex(MODEL_FILES[name]) for name in RECORDED}
    code, report = run_json(capsys, "manifest", "verify", str(model))  # found by default
    assert code == 0 and report["format"] == "checksums"


@pytest.mark.parametrize("argv_tail, message", [
    (["manifest", "verify"], "no llmward-manifest.json or checksums.json"),
    (["manifest", "create", "--format", "checksums", "--exclude", "x"], "--exclude"),
    (["manifest", "create", "--algo", "md5"], "algorithms must include sha256"),
    (["manifest", "create", "--threads", "-1"], "--threads"),
])
def test_manifest_usage_errors_exit_2(model: Path, capsys: pytest.CaptureFixture[str],
                                      argv_tail: list[str], message: str) -> None:
    code, _, err = run(capsys, *argv_tail[:2], str(model), *argv_tail[2:])
    assert code == 2 and message in err


def test_malformed_manifest_exits_2(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (model / "llmward-manifest.json").write_text("{not json")
    code, _, err = run(capsys, "manifest", "verify", str(model))
    assert code == 2 and "not JSON" in err


def test_not_a_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "manifest", "verify", str(tmp_path / "absent"))
    assert code == 2 and "not a directory" in err


# --- sign / verify --------------------------------------------------------------------

def test_sign_then_verify(model: Path, keys: tuple[Path, Path],
                          capsys: pytest.CaptureFixture[str]) -> None:
    code, signed = run_json(capsys, "sign", str(model), "--key", str(keys[0]))
    assert code == 0 and signed["files"] == len(RECORDED)
    assert Path(signed["signature"]) == model / "model.sig"
    code, report = run_json(capsys, "verify", str(model), "--key", str(keys[1]))
    assert code == 0 and report["ok"] and report["model"] == "model"
    code, out, _ = run(capsys, "verify", str(model), "--key", str(keys[1]))
    assert code == 0 and out.startswith("OK:")


def test_verify_integrity_failures_exit_1(model: Path, keys: tuple[Path, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, "verify", str(model), "--key", str(keys[1]))
    assert code == 1 and "no signature" in report["error"]  # unsigned model
    run(capsys, "sign", str(model), "--key", str(keys[0]))
    _, other_public = write_ec_keypair(tmp_path, stem="other")
    code, out, _ = run(capsys, "verify", str(model), "--key", str(other_public))
    assert code == 1 and "different key" in out
    (model / "weights.bin").write_bytes(b"tampered")
    code, out, _ = run(capsys, "verify", str(model), "--key", str(keys[1]))
    assert code == 1 and "MISMATCH weights.bin" in out


def test_verify_malformed_bundle_exits_2(model: Path, keys: tuple[Path, Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (model / "model.sig").write_text('{"mediaType": "text/plain"}')
    code, _, err = run(capsys, "verify", str(model), "--key", str(keys[1]))
    assert code == 2 and "unsupported bundle media type" in err


def test_sign_with_wrong_key_type_exits_2(model: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rsa_private, _ = write_rsa_keypair(tmp_path)
    code, _, err = run(capsys, "sign", str(model), "--key", str(rsa_private))
    assert code == 2 and "RSA-2048 key; model signing needs an ECDSA" in err
    assert not (model / "model.sig").exists()


def test_passphrase_from_environment(model: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    phrase = "s3cret-unlock-phrase"
    private, public = write_ec_keypair(tmp_path, passphrase=phrase.encode(), stem="locked")
    sign = ("sign", str(model), "--key", str(private), "--passphrase-env", "MODEL_KEY_PASS")
    code, _, err = run(capsys, *sign)
    assert code == 2 and "MODEL_KEY_PASS is not set" in err
    monkeypatch.setenv("MODEL_KEY_PASS", "not-the-" + phrase)
    code, out, err = run(capsys, *sign)
    assert code == 2 and "wrong passphrase" in err and phrase not in out + err
    monkeypatch.setenv("MODEL_KEY_PASS", phrase)
    code, out, err = run(capsys, *sign)
    assert code == 0 and phrase not in out + err
    assert run(capsys, "verify", str(model), "--key", str(public))[0] == 0


def test_seed_signature(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private, public = write_rsa_keypair(tmp_path)
    model_file = tmp_path / "llama-2-7b.gguf"
    model_file.write_bytes(b"GGUF" + bytes(5000))
    seed_sign(private, model_file, tmp_path / "llama-2-7b.gguf.sig")
    argv = ("verify", str(model_file), "--seed-sig", str(tmp_path / "llama-2-7b.gguf.sig"),
            "--key", str(public))
    code, report = run_json(capsys, *argv)
    assert code == 0 and report["ok"] and report["sha256"] == sha256_hex(model_file.read_bytes())
    model_file.write_bytes(b"GGUF" + bytes(4999) + b"\x01")
    code, report = run_json(capsys, *argv)
    assert code == 1 and "bad signature" in report["error"]
    code, _, err = run(capsys, "verify", str(model_file), "--seed-sig", "x.sig", "--key",
                       str(private))
    assert code == 2 and "is a private key" in err
