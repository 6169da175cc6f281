"""OpenSSF model signatures (format, tamper detection, malformed bundles), key
loading errors, and the seed's detached RSA-PSS signatures."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from integrity_helpers import (
    MODEL_FILES,
    RECORDED,
    seed_sign,
    sha256_hex,
    write_ec_keypair,
    write_rsa_keypair,
)
from llmward.integrity import hashing, seed_signature, verify_cache
from llmward.integrity.dsse_bundle import build_bundle, pae
from llmward.integrity.errors import FormatError, IntegrityError
from llmward.integrity.keys import (
    load_rsa_public_key,
    load_signing_key,
    load_verifying_key,
    public_key_hint,
)
from llmward.integrity.seed_signature import verify_seed_signature
from llmward.integrity.signing import sign_model, verify_model
from llmward.paths import data_dir

PAYLOAD_TYPE = "application/vnd.in-toto+json"




@pytest.fixture
def signed(model: Path, keys: tuple[Path, Path]) -> Path:
    sign_model(model, load_signing_key(keys[0]), model / "model.sig")
    return model / "model.sig"


def verify(model: Path, public: Path, signature: Path, **kwargs: Any) -> Any:
    return verify_model(model, load_verifying_key(public), signature, **kwargs)


def bundle_of(path: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(path.read_text())
    return body


def statement_of(bundle: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return body


def resign(private: Path, statement: dict[str, Any], out: Path) -> None:
    """A validly signed bundle around an arbitrary statement (what a key holder can do)."""
    key = load_signing_key(private)
    payload = json.dumps(statement).encode()
    signature = key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    out.write_bytes(build_bundle(payload, signature, public_key_hint(key.public_key())))


# --- format ---------------------------------------------------------------------------

def test_bundle_layout(signed: Path, keys: tuple[Path, Path]) -> None:
    bundle = bundle_of(signed)
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["verificationMaterial"] == {
        "publicKey": {"hint": hashlib.sha256(keys[1].read_bytes()).hexdigest()},
        "tlogEntries": []}
    envelope = bundle["dsseEnvelope"]
    assert envelope["payloadType"] == PAYLOAD_TYPE
    assert [set(s) for s in envelope["signatures"]] == [{"sig", "keyid"}]


def test_statement_layout(signed: Path, model: Path) -> None:
    statement = statement_of(bundle_of(signed))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://model_signing/signature/v1.0"
    resources = statement["predicate"]["resources"]
    names = [r["name"] for r in resources]
    # model_signing's order: by path components, so "a/b" precedes "a.b".
    assert names == sorted(RECORDED, key=lambda n: tuple(n.split("/")))
    assert names.index("a/b") < names.index("a.b")
    for resource in resources:
        assert resource["algorithm"] == "sha256"
        assert resource["digest"] == sha256_hex(MODEL_FILES[resource["name"]])
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    assert statement["subject"] == [{"name": "model", "digest": {"sha256": root}}]
    serialization_ = statement["predicate"]["serialization"]
    assert serialization_["method"] == "files" and serialization_["hash_type"] == "sha256"
    assert serialization_["allow_symlinks"] is False
    assert serialization_["ignore_paths"][0] == "model.sig"
    assert {".git", ".github", ".gitattributes", ".gitignore"} <= set(
        serialization_["ignore_paths"])


def test_signature_is_ecdsa_over_the_dsse_pae(signed: Path, keys: tuple[Path, Path]) -> None:
    envelope = bundle_of(signed)["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"])
    message = b"DSSEv1 28 application/vnd.in-toto+json %d %s" % (len(payload), payload)
    key = serialization.load_pem_public_key(keys[1].read_bytes())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(base64.b64decode(envelope["signatures"][0]["sig"]), message,
               ec.ECDSA(hashes.SHA256()))


def test_p384_keys_sign_and_verify(model: Path, tmp_path: Path) -> None:
    private, public = write_ec_keypair(tmp_path, ec.SECP384R1(), stem="p384")
    sign_model(model, load_signing_key(private), tmp_path / "p384.sig")
    assert verify(model, public, tmp_path / "p384.sig").tree.ok


# --- verification ---------------------------------------------------------------------

def test_untouched_model_verifies(signed: Path, model: Path, keys: tuple[Path, Path]) -> None:
    result = verify(model, keys[1], signed)
    assert result.tree.ok and result.tree.matched == RECORDED and result.model.name == "model"


def test_tampered_file_is_a_mismatch(signed: Path, model: Path, keys: tuple[Path, Path]) -> None:
    (model / "weights.bin").write_bytes(b"backdoored")
    tree = verify(model, keys[1], signed).tree
    assert not tree.ok
    [mismatch] = tree.mismatched
    assert (mismatch.path, mismatch.actual) == ("weights.bin", sha256_hex(b"backdoored"))


def test_extra_and_missing_files_fail(signed: Path, model: Path, keys: tuple[Path, Path]) -> None:
    (model / "extra.py").write_bytes(b"import os")
    (model / "config.json").unlink()
    tree = verify(model, keys[1], signed).tree
    assert tree.extra == ["extra.py"] and tree.missing == ["config.json"] and not tree.ok


def test_signature_outside_the_directory(model: Path, keys: tuple[Path, Path],
                                         tmp_path: Path) -> None:
    sign_model(model, load_signing_key(keys[0]), tmp_path / "out.sig")
    statement = statement_of(bundle_of(tmp_path / "out.sig"))
    assert "model.sig" not in statement["predicate"]["serialization"]["ignore_paths"]
    assert verify(model, keys[1], tmp_path / "out.sig").tree.ok


def test_altered_statement_fails_the_signature(signed: Path, model: Path,
                                               keys: tuple[Path, Path]) -> None:
    bundle = bundle_of(signed)
    statement = statement_of(bundle)
    statement["predicate"]["resources"][0]["digest"] = "0" * 64
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    signed.write_text(json.dumps(bundle))
    with pytest.raises(IntegrityError, match="bad signature"):
        verify(model, keys[1], signed)


def test_another_key_is_refused(signed: Path, model: Path, tmp_path: Path) -> None:
    _, other_public = write_ec_keypair(tmp_path, stem="other")
    with pytest.raises(IntegrityError, match="different key"):
        verify(model, other_public, signed)
    bundle = bundle_of(signed)  # without the (unauthenticated) hint, the signature decides
    del bundle["verificationMaterial"]["publicKey"]["hint"]
    signed.write_text(json.dumps(bundle))
    with pytest.raises(IntegrityError, match="bad signature"):
        verify(model, other_public, signed)


def test_missing_signature_is_an_integrity_failure(model: Path, keys: tuple[Path, Path]) -> None:
    with pytest.raises(IntegrityError, match="no signature"):
        verify(model, keys[1], model / "model.sig")


@pytest.mark.parametrize("mutate, message", [
    (lambda b: "not json", "not JSON"),
    (lambda b: {**b, "mediaType": "application/vnd.dev.sigstore.bundle.v0.1+json"},
     "media type"),
    (lambda b: {k: v for k, v in b.items() if k != "dsseEnvelope"}, "dsseEnvelope"),
    (lambda b: {**b, "verificationMaterial": {"certificate": {}, "tlogEntries": []}},
     "not key-signed"),
    (lambda b: {**b, "dsseEnvelope": {**b["dsseEnvelope"], "payload": "%%%"}}, "base64"),
    (lambda b: {**b, "dsseEnvelope": {**b["dsseEnvelope"], "signatures": []}}, "no signature"),
])
def test_malformed_bundles_are_format_errors(signed: Path, model: Path, keys: tuple[Path, Path],
                                             mutate: Any, message: str) -> None:
    changed = mutate(bundle_of(signed))
    signed.write_text(changed if isinstance(changed, str) else json.dumps(changed))
    with pytest.raises(FormatError, match=message):
        verify(model, keys[1], signed)


def test_inconsistent_subject_digest_is_refused(model: Path, keys: tuple[Path, Path],
                                                signed: Path) -> None:
    statement = statement_of(bundle_of(signed))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    resign(keys[0], statement, signed)
    with pytest.raises(IntegrityError, match="inconsistent"):
        verify(model, keys[1], signed)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["predicate"]["serialization"].update(method="shards"), "not supported"),
    (lambda s: s.update(predicateType="https://model_signing/Digests/v0.1"), "predicate type"),
    (lambda s: s["predicate"]["resources"][0].update(name="../../etc/passwd"), "relative path"),
])
def test_signed_but_unreadable_statements_are_refused(model: Path, keys: tuple[Path, Path],
                                                      signed: Path, edit: Any,
                                                      message: str) -> None:
    statement = statement_of(bundle_of(signed))
    edit(statement)
    resign(keys[0], statement, signed)
    with pytest.raises(FormatError, match=message):
        verify(model, keys[1], signed)


def test_ignoring_the_whole_model_is_not_honoured(model: Path, keys: tuple[Path, Path],
                                                  signed: Path) -> None:
    # An empty resource list with ignore_paths ["."] would match any directory if the
    # entry were honoured (model_signing honours it); llmward drops it.
    statement = statement_of(bundle_of(signed))
    statement["predicate"]["resources"] = []
    statement["predicate"]["serialization"]["ignore_paths"] = [".", "", "/"]
    statement["subject"][0]["digest"]["sha256"] = hashlib.sha256(b"").hexdigest()
    resign(keys[0], statement, signed)
    tree = verify(model, keys[1], signed).tree
    assert not tree.ok and "weights.bin" in tree.extra


def test_verify_cache_is_bound_to_the_signed_statement(
        signed: Path, model: Path, keys: tuple[Path, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_cache, "RACY_WINDOW_NS", 0)
    assert verify(model, keys[1], signed, data_dir=data_dir()).tree.cached == 0
    assert verify(model, keys[1], signed, data_dir=data_dir()).tree.cached == len(RECORDED)
    assert verify(model, keys[1], signed, data_dir=data_dir(), full=True).tree.cached == 0
    statement = statement_of(bundle_of(signed))
    statement["predicate"]["extra_field_v1_ignores"] = True  # same files, new statement
    resign(keys[0], statement, signed)
    assert verify(model, keys[1], signed, data_dir=data_dir()).tree.cached == 0


# --- keys -----------------------------------------------------------------------------

def test_key_type_errors(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    rsa_private, rsa_public = write_rsa_keypair(tmp_path)
    with pytest.raises(FormatError, match="RSA-2048 key; model signing needs an ECDSA"):
        load_signing_key(rsa_private)
    with pytest.raises(FormatError, match="RSA-2048 key; an OpenSSF model signature"):
        load_verifying_key(rsa_public)
    with pytest.raises(FormatError, match="EC key on secp256r1; the seed's .sig"):
        load_rsa_public_key(keys[1])
    with pytest.raises(FormatError, match="no private key"):
        load_signing_key(keys[1])
    with pytest.raises(FormatError, match="is a private key"):
        load_verifying_key(keys[0])
    k1_private, _ = write_ec_keypair(tmp_path, ec.SECP256K1(), stem="k1")
    with pytest.raises(FormatError, match="secp256k1 is not supported"):
        load_signing_key(k1_private)
    (tmp_path / "garbage.pem").write_bytes(b"hello")
    with pytest.raises(FormatError, match="not a PEM file"):
        load_verifying_key(tmp_path / "garbage.pem")


def test_passphrase_errors_never_echo_the_passphrase(tmp_path: Path) -> None:
    phrase = b"correct horse battery staple"
    private, _ = write_ec_keypair(tmp_path, passphrase=phrase, stem="locked")
    assert isinstance(load_signing_key(private, phrase), ec.EllipticCurvePrivateKey)
    with pytest.raises(FormatError, match="encrypted; give its passphrase"):
        load_signing_key(private)
    with pytest.raises(FormatError, match="wrong passphrase") as wrong:
        load_signing_key(private, b"tr0ub4dor&3")
    assert "tr0ub4dor" not in str(wrong.value)
    plain, _ = write_ec_keypair(tmp_path, stem="plain")
    with pytest.raises(FormatError, match="not encrypted"):
        load_signing_key(plain, phrase)


# --- the seed's detached RSA-PSS signatures -------------------------------------------

@pytest.fixture(scope="module")
def rsa_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_rsa_keypair(tmp_path_factory.mktemp("rsa"))


def test_seed_signature_verifies_streamed(tmp_path: Path, rsa_keys: tuple[Path, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    model_file = tmp_path / "llama-2-7b.gguf"
    model_file.write_bytes(MODEL_FILES["weights.bin"])
    seed_sign(rsa_keys[0], model_file, tmp_path / "llama-2-7b.gguf.sig")

    read_whole: list[Path] = []
    streamed: list[Path] = []
    original_read_bytes, original_hash_file = Path.read_bytes, hashing.hash_file

    def spy_read_bytes(self: Path) -> bytes:
        read_whole.append(self)
        return original_read_bytes(self)

    def spy_hash_file(path: Path, *args: Any, **kwargs: Any) -> dict[str, str]:
        streamed.append(path)
        return original_hash_file(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_bytes", spy_read_bytes)
    monkeypatch.setattr(seed_signature, "hash_file", spy_hash_file)
    digest = verify_seed_signature(model_file, tmp_path / "llama-2-7b.gguf.sig",
                                   load_rsa_public_key(rsa_keys[1]))
    assert digest == sha256_hex(MODEL_FILES["weights.bin"])
    assert streamed == [model_file] and model_file not in read_whole


def test_seed_signature_rejects_tampering_and_other_keys(tmp_path: Path,
                                                         rsa_keys: tuple[Path, Path]) -> None:
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"GGUF original")
    signature = tmp_path / "m.gguf.sig"
    seed_sign(rsa_keys[0], model_file, signature)
    _, other_public = write_rsa_keypair(tmp_path, stem="other")
    with pytest.raises(IntegrityError, match="bad signature"):
        verify_seed_signature(model_file, signature, load_rsa_public_key(other_public))
    model_file.write_bytes(b"GGUF tampered")
    with pytest.raises(IntegrityError, match="bad signature"):
        verify_seed_signature(model_file, signature, load_rsa_public_key(rsa_keys[1]))
    with pytest.raises(IntegrityError, match="no signature"):
        verify_seed_signature(model_file, tmp_path / "absent.sig",
                              load_rsa_public_key(rsa_keys[1]))
