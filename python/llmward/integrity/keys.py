"""PEM key loading with errors that say what is wrong: the wrong kind of key, a
missing or wrong passphrase, a file that is not a key.

Messages never contain key material or the passphrase.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from llmward.integrity.errors import FormatError

MAX_KEY_FILE_BYTES = 1 << 20  # a PEM key is a few KB; anything this large is the wrong file
# The curves the OpenSSF model signing format accepts, with the digest each signs with.
EC_SIGNATURE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384, "secp521r1": hashes.SHA512}


def load_signing_key(path: Path, passphrase: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """An ECDSA private key (P-256, P-384 or P-521) for OpenSSF model signing."""
    key = _load_private(path, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise FormatError(f"{path}: {describe_key(key)}; model signing needs an ECDSA "
                          f"private key (P-256, P-384 or P-521)")
    _check_curve(path, key.curve)
    return key


def load_verifying_key(path: Path) -> ec.EllipticCurvePublicKey:
    """An ECDSA public key for OpenSSF model signature verification."""
    key = _load_public(path)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise FormatError(f"{path}: {describe_key(key)}; an OpenSSF model signature is "
                          f"verified with an ECDSA public key")
    _check_curve(path, key.curve)
    return key


def load_rsa_public_key(path: Path) -> rsa.RSAPublicKey:
    """An RSA public key, for the seed's detached RSA-PSS `.sig` files."""
    key = _load_public(path)
    if not isinstance(key, rsa.RSAPublicKey):
        raise FormatError(f"{path}: {describe_key(key)}; the seed's .sig files are "
                          f"verified with an RSA public key")
    return key


def signature_hash(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey
                   ) -> hashes.HashAlgorithm:
    return EC_SIGNATURE_HASHES[key.curve.name]()


def public_key_hint(key: ec.EllipticCurvePublicKey) -> str:
    """The bundle's `verificationMaterial.publicKey.hint` as model_signing writes and
    checks it: SHA-256 hex of the key's SubjectPublicKeyInfo PEM text."""
    pem = key.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def describe_key(key: PrivateKeyTypes | PublicKeyTypes) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return f"an RSA-{key.key_size} key"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return f"an EC key on {key.curve.name}"
    return f"a {type(key).__name__.lstrip('_')}"


def _check_curve(path: Path, curve: ec.EllipticCurve) -> None:
    if curve.name not in EC_SIGNATURE_HASHES:
        raise FormatError(f"{path}: EC curve {curve.name} is not supported "
                          f"(use P-256, P-384 or P-521)")


def _read_pem(path: Path) -> bytes:
    if path.stat().st_size > MAX_KEY_FILE_BYTES:
        raise FormatError(f"{path}: too large to be a PEM key file")
    data = path.read_bytes()
    if b"-----BEGIN " not in data:
        raise FormatError(f"{path}: not a PEM file (no -----BEGIN line)")
    if b"-----BEGIN CERTIFICATE" in data:
        raise FormatError(f"{path}: is a certificate; pass a PEM key")
    return data


def _load_private(path: Path, passphrase: bytes | None) -> PrivateKeyTypes:
    data = _read_pem(path)
    if b"PRIVATE KEY-----" not in data:
        raise FormatError(f"{path}: holds no private key (a public key? signing needs the "
                          f"private key)")
    encrypted = b"ENCRYPTED" in data  # PKCS#8 "ENCRYPTED PRIVATE KEY" or "Proc-Type: 4,ENCRYPTED"
    if encrypted and passphrase is None:
        raise FormatError(f"{path}: the private key is encrypted; give its passphrase "
                          f"(--passphrase-env VAR)")
    if not encrypted and passphrase is not None:
        raise FormatError(f"{path}: a passphrase was given but the private key is not "
                          f"encrypted")
    try:
        return serialization.load_pem_private_key(data, passphrase)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        if encrypted:
            raise FormatError(f"{path}: wrong passphrase, or a damaged key") from None
        raise FormatError(f"{path}: not a usable private key ({error})") from None


def _load_public(path: Path) -> PublicKeyTypes:
    data = _read_pem(path)
    if b"PRIVATE KEY-----" in data:
        raise FormatError(f"{path}: is a private key; verify with the public key "
                          f"(and keep the private key off machines that only verify)")
    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as error:
        raise FormatError(f"{path}: not a usable public key ({error})") from None
