"""The audit records about a user, for an export: those whose clear `user` value (see
`llmward.audit.personal`) is the user's id. Pseudonymized and erased records no longer
name anyone and are not found, by design.

Reads the files without the writer lock (the server may be appending): a last line not
yet complete is skipped, and a file replaced by a redaction while being read is read
whole from the version opened.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmward.audit.chain import MAX_LINE_BYTES
from llmward.audit.files import log_files


def audit_records_about(directory: Path, user: str) -> list[dict[str, Any]]:
    if not directory.is_dir():
        return []
    found = []
    for path in log_files(directory):
        with path.open("rb") as f:
            while line := f.readline(MAX_LINE_BYTES + 1):
                record = _about(line, user)
                if record is not None:
                    found.append({"file": path.name, **record})
    return found


def _about(line: bytes, user: str) -> dict[str, Any] | None:
    if not line.endswith(b"\n"):
        return None  # being written, or longer than any record (verify reports it)
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("clear"), dict):
        return None
    clear = record["clear"]
    entry = clear.get("user")
    if not isinstance(entry, dict) or entry.get("value") != user:
        return None
    personal = {name: value.get("value") for name, value in clear.items()
                if isinstance(value, dict)}
    return {"seq": record.get("seq"), "time": record.get("time"), "kind": record.get("kind"),
            "data": record.get("data"), "personal": personal}
