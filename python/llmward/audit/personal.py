"""Personal fields (user id, client address, raw prompt) are committed to, not hashed
in clear, so they can be removed later without breaking the chain.

A record stores, for each personal field present, `sealed[name]` = SHA-256 over a domain
tag, the field name, a fresh 16-byte random salt and the value; the chain hash covers
`sealed`. The value and its salt sit in `clear[name]`, outside the hash. Verification
recomputes the commitment whenever `clear[name]` is present (so editing a clear value is
caught); removing `clear[name]` leaves an opaque, unlinkable commitment (the salt is gone,
so it cannot be brute-forced from a list of user ids) and an intact chain.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

PERSONAL_FIELDS = ("user", "client", "prompt")
SALT_BYTES = 16
_DOMAIN = b"llmward-audit-personal-v1\x00"


def commitment(name: str, salt_hex: str, value: str) -> str:
    salt = bytes.fromhex(salt_hex)
    return hashlib.sha256(_DOMAIN + name.encode("utf-8") + b"\x00" + salt
                          + value.encode("utf-8")).hexdigest()


def seal(values: Mapping[str, str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(sealed, clear) for the given personal values."""
    sealed: dict[str, str] = {}
    clear: dict[str, dict[str, str]] = {}
    for name, value in values.items():
        salt = secrets.token_hex(SALT_BYTES)
        sealed[name] = commitment(name, salt, value)
        clear[name] = {"salt": salt, "value": value}
    return sealed, clear


def check_clear(record: Mapping[str, Any]) -> str | None:
    """None when every clear value matches its commitment, else what is wrong."""
    sealed = record.get("sealed", {})
    clear = record.get("clear", {})
    if not isinstance(sealed, dict) or not isinstance(clear, dict):
        return "sealed/clear are not objects"
    for name, entry in clear.items():
        if name not in sealed:
            return f"clear value {name!r} has no commitment"
        if (not isinstance(entry, dict) or set(entry) != {"salt", "value"}
                or not isinstance(entry["salt"], str) or not isinstance(entry["value"], str)):
            return f"clear value {name!r} is malformed"
        try:
            expected = commitment(name, entry["salt"], entry["value"])
        except ValueError:
            return f"clear value {name!r} has a malformed salt"
        # compare_digest refuses non-ASCII str (TypeError): a tampered commitment may be.
        committed = sealed[name]
        if (not isinstance(committed, str) or not committed.isascii()
                or not hmac.compare_digest(expected, committed)):
            return f"clear value {name!r} does not match its commitment"
    return None
