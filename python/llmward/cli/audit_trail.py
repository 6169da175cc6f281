"""Administrative CLI commands record what they do in the audit log, like the HTTP API.

The log's writer lock is taken before the action and held until its record is durable,
so an action is never done without its record. A running server holds the lock for its
lifetime: the command then refuses before doing anything and points at the HTTP admin
API, which records the action itself.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from llmward.audit.chain import ChainWriter
from llmward.audit.events import Scalar, admin_action
from llmward.audit.files import AuditLogBusy, audit_dir
from llmward.cli import CliError

HOST_ROLE = "host"  # the actor is someone with a shell on the host, not an API key


class AdminRecorder(Protocol):
    def __call__(self, action: str, result: str, *, target: str | None = None,
                 detail: Mapping[str, Scalar] | None = None) -> None: ...


@contextmanager
def audited(data_directory: Path, http_alternative: str) -> Iterator[AdminRecorder]:
    """Hold the audit log for one administrative command; the yielded function appends
    an admin record (fsynced) for the local user."""
    try:
        writer = ChainWriter(audit_dir(data_directory / "audit"))
    except AuditLogBusy:
        raise CliError("the audit log is held by a running llmward server; use "
                       f"{http_alternative} on it (recorded there) or stop it first") from None

    def record(action: str, result: str, *, target: str | None = None,
               detail: Mapping[str, Scalar] | None = None) -> None:
        writer.append(admin_action(action=action, result=result, target=target,
                                   user=_local_user(), role=HOST_ROLE, detail=detail))
        writer.sync()

    with writer:
        yield record


def _local_user() -> str:
    try:
        return f"host:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers) and no $USER
        return "host:unknown"
