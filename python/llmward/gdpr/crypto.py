"""AES-256-GCM for the GDPR store.

Each user has a random 256-bit data key; the store keeps it only wrapped (encrypted) under
a key derived from the master key, so destroying the wrapped copy makes everything
encrypted under it unreadable (crypto-shredding). Records are encrypted under the user's
data key with a fresh 96-bit nonce; the associated data binds the user id, the record's
id and its kind, so a ciphertext moved to another user, row or column fails to decrypt.

From the master key, HKDF-SHA-256 derives separate keys (one job each): the wrapping key,
the lookup key (HMAC of user ids, so the database never holds a user id in clear), and a
check value stored in the database to detect a store opened with another master key.
"""

from __future__ import annotations

import hmac
import os
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12
_HKDF_INFO = b"llmward-gdpr-v1 "
_WRAP_AAD = b"llmward-gdpr-data-key-v1\x00"
_RECORD_AAD = b"llmward-gdpr-record-v1\x00"


class DecryptionFailed(Exception):
    """A ciphertext does not open under this key and context: another user's or row's,
    altered, or wrapped under another master key."""


def _derive(master: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None,
                info=_HKDF_INFO + label).derive(master)


def _context(*parts: str) -> bytes:
    """Length-prefixed fields: ("ab", "c") and ("a", "bc") give different bytes."""
    out = bytearray()
    for part in parts:
        data = part.encode("utf-8")
        out += len(data).to_bytes(4, "big") + data
    return bytes(out)


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < NONCE_BYTES + 16:
        raise DecryptionFailed("ciphertext too short")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionFailed("ciphertext does not authenticate") from None


class MasterKey:
    """The 32-byte master key and the keys derived from it. Never shown by repr."""

    __slots__ = ("_wrap", "_lookup", "check_value", "source")

    def __init__(self, key: bytes, source: str) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the master key must be {KEY_BYTES} bytes")
        self._wrap = _derive(key, b"wrap")
        self._lookup = _derive(key, b"lookup")
        self.check_value = _derive(key, b"check")  # stored; one-way, reveals no key
        self.source = source  # "secret (environment)", "file <path>": for diagnostics

    def __repr__(self) -> str:
        return f"MasterKey(****, source={self.source!r})"

    def user_tag(self, user: str) -> bytes:
        """The user's lookup tag: HMAC-SHA-256(lookup key, user id)."""
        return hmac.new(self._lookup, user.encode("utf-8"), sha256).digest()

    def wrap(self, user: str, data_key: bytes) -> bytes:
        return _encrypt(self._wrap, data_key, _WRAP_AAD + _context(user))

    def unwrap(self, user: str, wrapped: bytes) -> bytes:
        key = _decrypt(self._wrap, wrapped, _WRAP_AAD + _context(user))
        if len(key) != KEY_BYTES:
            raise DecryptionFailed("wrapped data key has the wrong length")
        return key


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=8 * KEY_BYTES)


def encrypt_record(data_key: bytes, user: str, record_id: str, kind: str,
                   plaintext: bytes) -> bytes:
    """nonce || AES-256-GCM(data key, plaintext, AAD = user, record id, kind)."""
    return _encrypt(data_key, plaintext, _RECORD_AAD + _context(user, record_id, kind))


def decrypt_record(data_key: bytes, user: str, record_id: str, kind: str, blob: bytes) -> bytes:
    return _decrypt(data_key, blob, _RECORD_AAD + _context(user, record_id, kind))
