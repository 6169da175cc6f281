"""Tamper-evident audit log (issue 6): JSON Lines records in a SHA-256 hash chain that
spans rotated files, written off the event loop, with personal fields sealed so they can
be pseudonymized or erased without breaking verification. See README "Audit log"."""

from __future__ import annotations

from llmward.audit.chain import AuditLogCorrupt, ChainWriter, Head
from llmward.audit.events import Event, admin_action, api_request, auth_failure, model_event
from llmward.audit.files import AuditLogBusy, audit_dir
from llmward.audit.redact import erase_user, pseudonymize
from llmward.audit.verify import Problem, VerifyReport, verify
from llmward.audit.writer import AuditLog, AuditWriteError, FsyncPolicy

__all__ = [
    "AuditLog", "AuditLogBusy", "AuditLogCorrupt", "AuditWriteError", "ChainWriter", "Event",
    "FsyncPolicy", "Head", "Problem", "VerifyReport", "admin_action", "api_request",
    "audit_dir", "auth_failure", "erase_user", "model_event", "pseudonymize", "verify",
]
