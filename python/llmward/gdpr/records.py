"""What the GDPR store returns: decrypted messages, processing entries, erasure reports,
each with its JSON form for exports and reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return (moment - _EPOCH) // _US


def from_us(value: int) -> datetime:
    return _EPOCH + value * _US


@dataclass(frozen=True)
class StoredMessage:
    """One stored prompt or response, decrypted."""

    id: str
    created_at: datetime
    kind: str  # "prompt" or "response"
    request_id: str
    purpose: str
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class ProcessingEntry:
    """One entry of the processing log (GDPR Art. 30): what was done with whose data, why,
    and on which legal basis."""

    id: str
    created_at: datetime
    purpose: str
    legal_basis: str
    data_categories: tuple[str, ...]
    request_id: str | None
    detail: str | None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "created_at": self.created_at.isoformat(),
                "data_categories": list(self.data_categories)}


@dataclass(frozen=True)
class ErasureReport:
    conversations_deleted: int
    data_key_destroyed: bool
    processing_entries_unlinked: int
    # The write-ahead log was emptied, so no page from before the erasure survives in it;
    # False when a reader in another process kept the checkpoint from completing.
    wal_truncated: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
