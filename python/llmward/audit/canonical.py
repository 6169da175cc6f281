"""Canonical record bytes and the record hash: sorted keys, no spaces, UTF-8, no floats,
so any implementation re-serializing a record gets the same bytes and the same hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64  # the `prev` of the very first record of a log
# Fields outside the hash: the record's own hash, the erasable clear values of personal
# fields (committed to by `sealed`, see personal.py) and the note saying they were removed.
UNHASHED = frozenset({"hash", "clear", "redacted"})


def canonical(obj: Any) -> bytes:
    """The one serialization every record is written and hashed in."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 (hex) over the canonical record without its unhashed fields."""
    hashed = {k: v for k, v in record.items() if k not in UNHASHED}
    return hashlib.sha256(canonical(hashed)).hexdigest()
