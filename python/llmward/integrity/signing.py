"""Sign and verify model directories in the OpenSSF model signing format v1.0
(the `model_signing` tool's key mode): a Sigstore bundle v0.3 whose DSSE envelope
carries an in-toto statement listing every file's SHA-256.

Verification order matters: the envelope signature is checked before the
statement inside it is parsed, and the statement before any file is trusted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from llmward.integrity.dsse_bundle import (
    IN_TOTO_PAYLOAD_TYPE,
    MAX_BUNDLE_BYTES,
    build_bundle,
    pae,
    parse_bundle,
)
from llmward.integrity.errors import FormatError, IntegrityError, read_signature_file
from llmward.integrity.hashing import Progress
from llmward.integrity.keys import public_key_hint, signature_hash
from llmward.integrity.model_statement import SignedModel, build_statement, parse_statement
from llmward.integrity.tree_check import (
    GIT_PATHS,
    TreeReport,
    check_tree,
    hash_files,
    relative_inside,
    select_files,
    usable_ignore_paths,
)
from llmward.integrity.verify_cache import VerifyCache

SIGNATURE_NAME = "model.sig"  # model_signing's default name


@dataclass(frozen=True)
class SignResult:
    signature_path: Path
    model_name: str
    root_digest: str
    files: int
    key_hint: str


@dataclass(frozen=True)
class VerifyResult:
    model: SignedModel
    tree: TreeReport


def default_signature_path(root: Path) -> Path:
    return root / SIGNATURE_NAME


def sign_model(root: Path, key: ec.EllipticCurvePrivateKey, signature_path: Path, *,
               threads: int = 0, progress: Progress | None = None) -> SignResult:
    """Digest every file of `root` (less git metadata and the signature itself),
    sign the statement and write the bundle to `signature_path`."""
    own = relative_inside(root, signature_path)
    # Recorded in the statement, so both tools verify with the same exclusions.
    ignore = usable_ignore_paths([*([own] if own else []), *GIT_PATHS])
    names = select_files(root, ignore)
    digests = {name: found["sha256"] for name, found, _ in hash_files(
        root, names, lambda _name: ("sha256",), threads=threads, progress=progress)}
    model_name = root.resolve().name
    payload = build_statement(
        model_name, digests, ignore_paths=ignore,
        allow_symlinks=any((root / name).is_symlink() for name in names))
    signature = key.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload), ec.ECDSA(signature_hash(key)))
    hint = public_key_hint(key.public_key())
    signature_path.write_bytes(build_bundle(payload, signature, hint))
    return SignResult(signature_path, model_name, parse_statement(payload).root_digest,
                      len(digests), hint)


def read_signed_model(signature_path: Path, key: ec.EllipticCurvePublicKey
                      ) -> tuple[SignedModel, bytes]:
    """The statement of a bundle whose signature `key` made, with its raw payload.

    IntegrityError: no signature file, another key's, or a bad signature.
    FormatError: a bundle or statement llmward cannot read.
    """
    data = read_signature_file(signature_path, MAX_BUNDLE_BYTES, FormatError,
                              "a signature bundle")
    try:
        envelope = parse_bundle(data)
    except FormatError as error:
        raise FormatError(f"{signature_path}: {error}") from None
    if envelope.key_hint is not None and envelope.key_hint != public_key_hint(key):
        raise IntegrityError(f"{signature_path}: signed by a different key "
                             f"(bundle key hint {envelope.key_hint})")
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise FormatError(f"{signature_path}: payload type {envelope.payload_type!r} is not "
                          f"{IN_TOTO_PAYLOAD_TYPE}")
    message = pae(envelope.payload_type, envelope.payload)
    if not any(_signature_valid(key, sig, message) for sig in envelope.signatures):
        raise IntegrityError(f"{signature_path}: bad signature (the bundle was altered, or "
                             f"the key is not the signer's)")
    return parse_statement(envelope.payload), envelope.payload


def verify_model(root: Path, key: ec.EllipticCurvePublicKey, signature_path: Path, *,
                 data_dir: Path | None = None, full: bool = False, allow_extra: bool = False,
                 threads: int = 0, progress: Progress | None = None) -> VerifyResult:
    """Check the signature, then every file against the signed digests. A non-ok
    `tree` is a mismatch, a missing or an extra file; other failures raise."""
    model, payload = read_signed_model(signature_path, key)
    own = relative_inside(root, signature_path)
    cache = None
    if data_dir is not None:
        binding = "openssf:sha256:" + hashlib.sha256(payload).hexdigest()
        cache = VerifyCache.open(data_dir, root, binding, trust_existing=not full)
    tree = check_tree(root, model.files,
                      ignore_paths=usable_ignore_paths([*model.ignore_paths,
                                                        *([own] if own else [])]),
                      cache=cache, allow_extra=allow_extra, threads=threads, progress=progress)
    return VerifyResult(model, tree)


def _signature_valid(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message, ec.ECDSA(signature_hash(key)))
    except InvalidSignature:
        return False
    return True
