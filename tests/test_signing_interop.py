"""Interoperability with the OpenSSF reference tool (PyPI `model-signing`, key mode):
what llmward signs, model_signing verifies, and the reverse; a tampered or an
extra file is rejected by both. Runs model_signing's own CLI in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from integrity_helpers import make_model_dir, write_ec_keypair
from llmward.integrity.keys import load_signing_key, load_verifying_key
from llmward.integrity.signing import sign_model, verify_model

pytest.importorskip("model_signing",
                    reason="the interop extra (model-signing) is missing; make test installs it")
pytest.importorskip("OpenSSL", reason="model_signing's key mode needs pyOpenSSL")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_ec_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model_dir(tmp_path / "model")


def model_signing(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "model_signing", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def reference_verifies(model: Path, signature: Path, public: Path) -> bool:
    done = model_signing("verify", "key", str(model), "--signature", str(signature),
                         "--public_key", str(public))
    assert ("Verification succeeded" in done.stdout) == (done.returncode == 0), done
    return done.returncode == 0


def llmward_verifies(model: Path, signature: Path, public: Path) -> bool:
    return verify_model(model, load_verifying_key(public), signature).tree.ok


def test_llmward_signature_verifies_with_model_signing_and_both_reject_tampering(
        model: Path, keys: tuple[Path, Path]) -> None:
    signature = model / "model.sig"
    sign_model(model, load_signing_key(keys[0]), signature)
    assert reference_verifies(model, signature, keys[1])

    (model / "weights.bin").write_bytes(b"tampered weights")
    assert not reference_verifies(model, signature, keys[1])
    assert not llmward_verifies(model, signature, keys[1])


def test_extra_file_in_llmward_signed_model_is_rejected_by_both(
        model: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    signature = tmp_path / "outside.sig"  # the other placement: beside the model
    sign_model(model, load_signing_key(keys[0]), signature)
    assert reference_verifies(model, signature, keys[1])

    (model / "tokenizer" / "injected.py").write_bytes(b"import os; os.system('id')")
    assert not reference_verifies(model, signature, keys[1])
    assert not llmward_verifies(model, signature, keys[1])


def test_model_signing_signature_verifies_with_llmward_and_both_reject_changes(
        model: Path, keys: tuple[Path, Path]) -> None:
    signature = model / "model.sig"
    done = model_signing("sign", "key", str(model), "--signature", str(signature),
                         "--private_key", str(keys[0]))
    assert done.returncode == 0, done.stderr
    assert llmward_verifies(model, signature, keys[1])

    (model / "extra.bin").write_bytes(b"extra")
    assert not llmward_verifies(model, signature, keys[1])
    assert not reference_verifies(model, signature, keys[1])
    (model / "extra.bin").unlink()

    (model / "config.json").write_bytes(b'{"arch": "other"}')
    assert not llmward_verifies(model, signature, keys[1])
    assert not reference_verifies(model, signature, keys[1])


def test_model_signing_rejects_llmward_signature_under_another_key(
        model: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    _, other_public = write_ec_keypair(tmp_path, stem="other")
    sign_model(model, load_signing_key(keys[0]), model / "model.sig")
    assert not reference_verifies(model, model / "model.sig", other_public)
