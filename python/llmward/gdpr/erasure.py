"""Whole-user operations across llmward's stores: erasure (GDPR Art. 17) and export
(Art. 15 and 20). The CLI and the HTTP API both call these; they differ only in how the
audit log is reached, so the audit step is a parameter: the CLI redacts the files
directly (the server must be stopped), the server through `AuditLog.exclusive`.

Erasure runs in this order, each step idempotent:
1. API keys: revoked first, so the user starts no new request while the rest runs, then
   unlinked from the user (`key_owner`).
2. GDPR store: stored prompts and responses deleted, data key destroyed, processing
   entries unlinked (`GdprStore.erase`).
3. Audit log: the clear personal values of every record about the user removed; the
   sealed commitments stay, so the chain still verifies (`llmward.audit.erase_user`).
   Last, so it also catches records of requests that were in flight during steps 1-2.
When a step fails, `ErasureIncomplete` says which, with the report of the steps done;
running the erasure again completes it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmward.auth.keys import KeyRecord, KeyStore
from llmward.gdpr.audit_records import audit_records_about
from llmward.gdpr.inputs import check_user
from llmward.gdpr.key_owner import erase_key_owner, keys_of
from llmward.gdpr.store import GdprStore

# Given the user id, removes the audit log's clear values about the user and returns how
# many records changed.
AuditEraser = Callable[[str], int]


class ErasureIncomplete(RuntimeError):
    def __init__(self, step: str, report: dict[str, Any], cause: BaseException) -> None:
        super().__init__(f"erasure stopped at the {step} step ({type(cause).__name__}: "
                         f"{cause}); the steps before it are done, and running the erasure "
                         "again completes it")
        self.step, self.report = step, report


def erase_user_everywhere(user: str, *, key_store: KeyStore | None, gdpr: GdprStore | None,
                          audit_erase: AuditEraser | None) -> dict[str, Any]:
    """Erase `user` from every store given (None: that store is not in use). The report
    says what each step did; a skipped step is null."""
    user = check_user(user)
    report: dict[str, Any] = {"object": "user_erasure", "user": user,
                              "api_keys": None, "stored_data": None, "audit": None}
    step = "api_keys"
    try:
        if key_store is not None:
            report["api_keys"] = erase_key_owner(key_store, user).as_dict()
        step = "stored_data"
        if gdpr is not None:
            report["stored_data"] = gdpr.erase(user).as_dict()
        step = "audit"
        if audit_erase is not None:
            report["audit"] = {"records_redacted": audit_erase(user)}
    except Exception as error:
        raise ErasureIncomplete(step, report, error) from error
    return report


def erasure_counts(report: dict[str, Any]) -> dict[str, int | bool]:
    """The report's numbers (`api_keys.revoked`, ...) for the audit record of an erasure:
    nothing in them names the user."""
    counts: dict[str, int | bool] = {}
    for section in ("api_keys", "stored_data", "audit"):
        for name, value in (report.get(section) or {}).items():
            if isinstance(value, int):  # bools included
                counts[f"{section}.{name}"] = value
    return counts


def export_user_everywhere(user: str, *, key_store: KeyStore | None, gdpr: GdprStore | None,
                           audit_dir: Path | None) -> dict[str, Any]:
    """Everything held about `user`, JSON-serializable: API key records (never a secret or
    digest: the store has none to give), stored prompts and responses decrypted, the
    processing log's entries with their purposes and legal bases, and the audit records
    that name the user."""
    user = check_user(user)
    return {
        "object": "user_export",
        "user": user,
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "api_keys": [] if key_store is None else [key_json(r) for r in keys_of(key_store, user)],
        "stored_data": None if gdpr is None else gdpr.export(user),
        "audit_records": [] if audit_dir is None else audit_records_about(audit_dir, user),
    }


def key_json(record: KeyRecord) -> dict[str, Any]:
    return {
        "id": record.key_id, "user": record.user, "role": record.role,
        "created_at": _time(record.created_at), "expires_at": _time(record.expires_at),
        "last_used_at": _time(record.last_used_at), "revoked_at": _time(record.revoked_at),
        "limits": None if record.limits is None else dict(record.limits),
    }


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
