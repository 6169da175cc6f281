"""The `[audit]` table of the server's configuration file.

    [audit]
    fsync = "record"          # or "batch": see FsyncPolicy
    fsync_max_records = 100   # batch only: records between two fsyncs at most
    fsync_max_ms = 50         # batch only: milliseconds between two fsyncs at most
    queue_size = 1024         # records in flight before callers wait (backpressure)
    max_file_mb = 64          # rotate to a new file beyond this size
    include_prompt = false    # raw prompts in records (sealed personal field); off by default

Unknown keys and out-of-range values are errors naming the setting. The log itself is
always on in the server: a security product does not run without its record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmward.audit.writer import FsyncPolicy

MAX_QUEUE = 1_000_000
MAX_FILE_MB = 16 * 1024
MAX_FSYNC_RECORDS = 1_000_000
MAX_FSYNC_MS = 60_000


@dataclass(frozen=True)
class AuditConfig:
    fsync: FsyncPolicy = field(default_factory=FsyncPolicy)
    queue_size: int = 1024
    max_file_bytes: int = 64 * 1024 * 1024
    include_prompt: bool = False

    @classmethod
    def from_dict(cls, table: Mapping[str, Any]) -> AuditConfig:
        if not isinstance(table, Mapping):
            raise ValueError("[audit] must be a table")
        allowed = {"fsync", "fsync_max_records", "fsync_max_ms", "queue_size", "max_file_mb",
                   "include_prompt"}
        unknown = set(table) - allowed
        if unknown:
            raise ValueError(f"[audit]: unknown keys {sorted(unknown)}; allowed: "
                             f"{sorted(allowed)}")
        mode = table.get("fsync", "record")
        if mode not in ("record", "batch"):
            raise ValueError(f"audit.fsync: expected \"record\" or \"batch\", got {mode!r}")
        policy = FsyncPolicy(mode=mode,
                             max_records=_int(table, "fsync_max_records", 100, 1,
                                              MAX_FSYNC_RECORDS),
                             max_ms=_int(table, "fsync_max_ms", 50, 0, MAX_FSYNC_MS))
        include_prompt = table.get("include_prompt", False)
        if not isinstance(include_prompt, bool):
            raise ValueError(f"audit.include_prompt: expected true or false, got "
                             f"{include_prompt!r}")
        return cls(fsync=policy, queue_size=_int(table, "queue_size", 1024, 1, MAX_QUEUE),
                   max_file_bytes=_int(table, "max_file_mb", 64, 1, MAX_FILE_MB) * 1024 * 1024,
                   include_prompt=include_prompt)


def _int(table: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"audit.{name}: expected an integer between {low} and {high:_}, "
                         f"got {value!r}")
    return value
