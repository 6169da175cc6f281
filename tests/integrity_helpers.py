"""Keys and model directories for the integrity tests (manifests, signatures)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

# Contents chosen so that path-component order differs from plain string order
# ("a.b" < "a/b" as strings, but ("a", "b") < ("a.b",) as components).
MODEL_FILES = {
    "weights.bin": os.urandom(200_000),
    "config.json": b'{"arch": "llama"}\n',
    "a/b": b"component order\n",
    "a.b": b"string order\n",
    "tokenizer/tokenizer.model": b"\x00\x01tokens",
    ".gitignore": b"*.tmp\n",
    ".git/HEAD": b"ref: refs/heads/main\n",
}
RECORDED = sorted(name for name in MODEL_FILES if not name.startswith(".git"))


def make_model_dir(root: Path) -> Path:
    for name, data in MODEL_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_ec_keypair(directory: Path, curve: ec.EllipticCurve | None = None,
                     passphrase: bytes | None = None, stem: str = "ec") -> tuple[Path, Path]:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    return _write_pair(directory, key, passphrase, stem)


def write_rsa_keypair(directory: Path, stem: str = "rsa") -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _write_pair(directory, key, None, stem)


def seed_sign(private_pem: Path, model_file: Path, signature_file: Path) -> None:
    """Exactly what the seed's ModelSigner.sign_model does: RSA-PSS over the whole file."""
    key = serialization.load_pem_private_key(private_pem.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(model_file.read_bytes(),
                         padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                     salt_length=padding.PSS.MAX_LENGTH),
                         hashes.SHA256())
    signature_file.write_bytes(signature)


def _write_pair(directory: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
                passphrase: bytes | None, stem: str) -> tuple[Path, Path]:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    private = directory / f"{stem}-private.pem"
    public = directory / f"{stem}-public.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8, encryption))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public
