"""The API key format `lw_<key id>_<secret>`: generation, constant-time parsing, hashing.

The key id is 24 hex characters (96 random bits: collisions are checked anyway by the
store's primary key); the secret is `secrets.token_urlsafe(32)`, 43 characters holding 256
random bits. Both have a fixed length, so a well-formed key is exactly KEY_CHARS long and
parsing needs no separator search (the secret's alphabet includes `_`).

Hashing: HMAC-SHA-256 of the secret under a per-store random pepper. A slow KDF (bcrypt,
scrypt, Argon2) exists to make guessing low-entropy passwords expensive; a 256-bit random
secret cannot be guessed, so one fast keyed hash is as strong and keeps validation in the
microseconds. The pepper, kept in a file apart from the database, means a leaked database
alone does not even allow offline checking of candidate keys.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import NamedTuple

PREFIX = "lw_"
KEY_ID_CHARS = 24
SECRET_BYTES = 32
SECRET_CHARS = 43  # len(secrets.token_urlsafe(32)): base64url without padding
KEY_CHARS = len(PREFIX) + KEY_ID_CHARS + 1 + SECRET_CHARS
DIGEST_BYTES = 32

_KEY_ID = re.compile(rf"[0-9a-f]{{{KEY_ID_CHARS}}}")
# The last base64url character of 32 bytes carries 2 padding bits, so only a quarter of
# the alphabet can end a canonical secret; accept any base64url character: the hash decides.
_SECRET = re.compile(rf"[A-Za-z0-9_-]{{{SECRET_CHARS}}}")
_FILLER = b"\0" * KEY_CHARS


def is_key_id(text: str) -> bool:
    """Whether `text` has the shape of a key id (for CLI and HTTP arguments)."""
    return _KEY_ID.fullmatch(text) is not None


def new_key_id() -> str:
    return secrets.token_hex(KEY_ID_CHARS // 2)


def new_key(key_id: str) -> tuple[str, str]:
    """(plaintext key, secret) for `key_id`."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return f"{PREFIX}{key_id}_{secret}", secret


class Parsed(NamedTuple):
    well_formed: bool
    key_id: str  # always KEY_ID_CHARS characters, even for a malformed key
    secret: bytes  # always SECRET_CHARS bytes


def parse(presented: str) -> Parsed:
    """Split a presented key without an early exit: every input, whatever its shape or
    length, goes through the same steps on a fixed-size buffer. Only the first
    KEY_CHARS + 1 characters are looked at, so a huge input costs no more than a short one."""
    head = presented[: KEY_CHARS + 1]
    raw = head.encode("utf-8", "replace")  # non-ASCII: replaced, fails the regexes below
    right_length = len(raw) == KEY_CHARS
    buf = (raw + _FILLER)[:KEY_CHARS]
    key_id_bytes = buf[len(PREFIX) : len(PREFIX) + KEY_ID_CHARS]
    secret = buf[len(PREFIX) + KEY_ID_CHARS + 1 :]
    key_id = key_id_bytes.decode("ascii", "replace")
    checks = (
        right_length,
        hmac.compare_digest(buf[: len(PREFIX)], PREFIX.encode()),
        buf[len(PREFIX) + KEY_ID_CHARS] == ord("_"),
        _KEY_ID.fullmatch(key_id) is not None,
        _SECRET.fullmatch(secret.decode("ascii", "replace")) is not None,
    )
    # all() would stop at the first False; sum every check instead.
    return Parsed(sum(checks) == len(checks), key_id, secret)


def digest(pepper: bytes, secret: bytes) -> bytes:
    return hmac.new(pepper, secret, hashlib.sha256).digest()
