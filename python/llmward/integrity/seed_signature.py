"""The seed's detached signatures: `model.gguf.sig` holds the raw RSA-PSS signature
(MGF1-SHA256, maximum salt length, SHA-256) over the whole model file.

The seed verified by reading the model into memory; here the file is streamed
through SHA-256 and the digest verified as prehashed, which the PSS math allows
because it only ever signs the message digest.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from llmward.integrity.errors import IntegrityError, read_signature_file
from llmward.integrity.hashing import Progress, hash_file

SEED_PADDING = padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                           salt_length=padding.PSS.MAX_LENGTH)
MAX_SIGNATURE_BYTES = 64 << 10  # RSA-16384 signs in 2 KB; anything this large is the wrong file


def verify_seed_signature(model_file: Path, signature_file: Path, key: rsa.RSAPublicKey, *,
                          threads: int = 0, progress: Progress | None = None) -> str:
    """The model's SHA-256 hex when `signature_file` is `key`'s signature over it;
    IntegrityError when the signature is missing or does not verify."""
    signature = read_signature_file(signature_file, MAX_SIGNATURE_BYTES, IntegrityError,
                                    "an RSA signature")
    digest = hash_file(model_file, ("sha256",), threads=threads, progress=progress)["sha256"]
    try:
        key.verify(signature, bytes.fromhex(digest), SEED_PADDING,
                   utils.Prehashed(hashes.SHA256()))
    except InvalidSignature:
        raise IntegrityError(f"{signature_file}: bad signature over {model_file}") from None
    return digest
