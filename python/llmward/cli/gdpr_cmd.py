"""`llmward gdpr erase|export|retention|processing`: the data subject's rights and the
retention policy, over the stores in the data directory.

`erase` and `retention` rewrite audit files and so need the audit log's writer lock: with
the server running they fail (stop it, or use `DELETE /v1/admin/users/{id}`, which runs
the same erasure inside the server). `export` and `processing` only read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from llmward.audit import AuditLogBusy, ChainWriter, admin_action, erase_user, pseudonymize
from llmward.audit.chain import AuditLogCorrupt
from llmward.audit.files import directory_lock, log_files
from llmward.auth.keys import KeyStore, open_key_store
from llmward.cli import EXIT_OK, CliError
from llmward.gdpr.config import MAX_RETENTION_DAYS, GdprConfig
from llmward.gdpr.erasure import (
    ErasureIncomplete,
    erase_user_everywhere,
    erasure_counts,
    export_user_everywhere,
)
from llmward.gdpr.files import GdprStoreError
from llmward.gdpr.inputs import check_user
from llmward.gdpr.store import GdprStore, open_gdpr_store, store_path
from llmward.paths import data_dir

_BUSY_HINT = ("stop the server first, or erase through it: DELETE /v1/admin/users/{id} "
              "(retention: `llmward audit pseudonymize` has the same limit)")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gdpr", help="erase or export a user's data; apply retention",
        description="GDPR tooling over the stores in the data directory: API keys, the "
                    "processing log and stored conversations, the audit log.")
    commands = parser.add_subparsers(dest="gdpr_command", metavar="ACTION", required=True)

    erase = commands.add_parser(
        "erase", help="erase everything held about a user (cannot be undone)",
        description="Revoke the user's API keys and unlink them from the user, delete the "
                    "user's stored prompts and responses, destroy the user's data key, unlink "
                    "their processing entries and remove their id from the audit log (the "
                    "chain still verifies). Needs the server stopped.")
    erase.add_argument("user", metavar="USER")
    erase.add_argument("--yes", action="store_true", help="confirm: erasure cannot be undone")
    erase.set_defaults(handler=run_erase)

    export = commands.add_parser(
        "export", help="export everything held about a user as JSON",
        description="API key records (never secrets), stored prompts and responses "
                    "decrypted, processing log entries, audit records naming the user.")
    export.add_argument("user", metavar="USER")
    export.add_argument("--output", metavar="FILE",
                        help="write to FILE (created 0600; an existing file is refused)")
    export.set_defaults(handler=run_export)

    retention = commands.add_parser(
        "retention", help="pseudonymize old audit records, delete old stored conversations",
        description="Remove user ids in clear from audit records older than the audit "
                    "retention (the chain still verifies) and delete stored prompts and "
                    "responses older than the conversation retention. Defaults come from "
                    "[gdpr] in --config. Needs the server stopped for the audit step.")
    retention.add_argument("--audit-days", type=int, metavar="N",
                           help="pseudonymize audit records older than N days")
    retention.add_argument("--conversation-days", type=int, metavar="N",
                           help="delete stored conversations older than N days")
    retention.add_argument("--config", metavar="FILE", help="TOML file with a [gdpr] table")
    retention.set_defaults(handler=run_retention)

    processing = commands.add_parser(
        "processing", help="list the processing log's entries about a user",
        description="What was done with the user's data, for which purpose, on which "
                    "legal basis.")
    processing.add_argument("user", metavar="USER")
    processing.set_defaults(handler=run_processing)

    for sub in (erase, export, retention, processing):
        sub.add_argument("--data-dir", help="state directory (default: $LLMWARD_DATA_DIR, "
                         "else $XDG_DATA_HOME/llmward or ~/.local/share/llmward)")
        if sub is not export:
            sub.add_argument("--json", action="store_true", help="print JSON")


# -- commands ------------------------------------------------------------------------------
def run_erase(args: argparse.Namespace) -> int:
    user = _user(args.user)
    if not args.yes:
        raise CliError("erasure cannot be undone; pass --yes to confirm")
    root = data_dir(args.data_dir)
    audit = _audit_dir(root)
    if audit is not None:
        _check_not_busy(audit)  # before any step, so a running server changes nothing
    with _stores(root) as (key_store, gdpr):
        try:
            report = erase_user_everywhere(
                user, key_store=key_store, gdpr=gdpr,
                audit_erase=None if audit is None else lambda u: erase_user(audit, u))
        except ErasureIncomplete as error:
            if isinstance(error.__cause__, AuditLogBusy):
                raise CliError(f"{error}; {_BUSY_HINT}") from error
            raise CliError(str(error)) from error
    if audit is not None:
        _record_erasure(audit, report)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print_erasure(report)
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    user = _user(args.user)
    root = data_dir(args.data_dir)
    with _stores(root) as (key_store, gdpr):
        export = export_user_everywhere(user, key_store=key_store, gdpr=gdpr,
                                        audit_dir=_audit_dir(root))
    text = json.dumps(export, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        _write_private(Path(args.output), text.encode("utf-8"))
        print(f"exported {user!r} to {args.output}", file=sys.stderr)
    return EXIT_OK


def run_retention(args: argparse.Namespace) -> int:
    try:
        config = GdprConfig.from_file(args.config) if args.config else GdprConfig()
    except (OSError, ValueError) as error:
        raise CliError(str(error)) from None
    audit_days = _days("--audit-days", args.audit_days, config.audit_retention_days)
    conversation_days = _days("--conversation-days", args.conversation_days,
                              config.conversation_retention_days)
    root = data_dir(args.data_dir)
    audit = _audit_dir(root)
    result: dict[str, Any] = {"audit_days": audit_days, "audit_pseudonymized": None,
                              "conversation_days": conversation_days,
                              "conversations_deleted": None}
    if audit is not None and audit_days is not None:
        try:
            result["audit_pseudonymized"] = pseudonymize(audit, timedelta(days=audit_days))
        except AuditLogBusy as error:
            raise CliError(f"{error}; {_BUSY_HINT}") from error
    with _stores(root, config, keys=False) as (_, gdpr):
        if gdpr is not None and conversation_days is not None:
            result["conversations_deleted"] = gdpr.expire(
                older_than=timedelta(days=conversation_days))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for what, key, days in (("audit records pseudonymized", "audit_pseudonymized",
                                 audit_days),
                                ("stored messages deleted", "conversations_deleted",
                                 conversation_days)):
            done = "skipped" if result[key] is None else result[key]
            print(f"{what} (older than {days if days is not None else '-'} days): {done}")
    return EXIT_OK


def run_processing(args: argparse.Namespace) -> int:
    user = _user(args.user)
    with _stores(data_dir(args.data_dir), keys=False) as (_, gdpr):
        entries = [] if gdpr is None else gdpr.processing(user)
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"{'TIME':27}  {'PURPOSE':22}  {'LEGAL BASIS':20}  REQUEST")
    for e in entries:
        print(f"{e.created_at.isoformat():27}  {e.purpose:22}  {e.legal_basis:20}  "
              f"{json.dumps(e.request_id)}")  # quoted: an id cannot forge table rows
    return EXIT_OK


# -- helpers -------------------------------------------------------------------------------
def _user(text: str) -> str:
    try:
        return check_user(text)
    except ValueError as error:
        raise CliError(str(error)) from None


def _days(option: str, given: int | None, default: int | None) -> int | None:
    if given is None:
        return default
    if not 0 <= given <= MAX_RETENTION_DAYS:
        raise CliError(f"{option}: expected 0 to {MAX_RETENTION_DAYS} days")
    return given


def _audit_dir(root: Path) -> Path | None:
    """The audit directory when it holds a log; None when there is nothing to read or
    redact (so these commands never create an audit log)."""
    directory = root / "audit"
    return directory if directory.is_dir() and log_files(directory) else None


def _check_not_busy(directory: Path) -> None:
    try:
        with directory_lock(directory):
            pass
    except AuditLogBusy as error:
        raise CliError(f"{error}; {_BUSY_HINT}") from error


@contextmanager
def _stores(root: Path, config: GdprConfig | None = None, *, keys: bool = True
            ) -> Iterator[tuple[KeyStore | None, GdprStore | None]]:
    """The stores that exist under the data directory; a command never creates one."""
    with ExitStack() as stack:
        key_store = None
        if keys and (root / "keys" / "keys.sqlite3").exists():
            key_store = stack.enter_context(open_key_store(root))
        gdpr = None
        if store_path(root).exists():
            try:
                gdpr = stack.enter_context(open_gdpr_store(root, config))
            except GdprStoreError as error:
                raise CliError(str(error)) from None
        yield key_store, gdpr


def _record_erasure(directory: Path, report: dict[str, Any]) -> None:
    """An admin record of the erasure, without the user's id (the log just lost it)."""
    detail: dict[str, str | int | bool | None] = {"via": "cli"}
    detail.update(erasure_counts(report))
    try:
        with ChainWriter(directory) as writer:
            writer.append(admin_action(action="user.erase", result="ok", detail=detail))
    except (AuditLogBusy, AuditLogCorrupt, OSError) as error:
        print(f"llmward: warning: the erasure is done but its audit record was not "
              f"written: {error}", file=sys.stderr)


def _print_erasure(report: dict[str, Any]) -> None:
    keys, stored, audit = report["api_keys"], report["stored_data"], report["audit"]
    print(f"erased {report['user']!r}:")
    print("  API keys: " + ("no key store" if keys is None else
                            f"{keys['keys']} found, {keys['revoked']} revoked, owner "
                            f"{'unlinked' if keys['owner_unlinked'] else 'kept'}"))
    print("  stored data: " + ("no GDPR store" if stored is None else
                               f"{stored['conversations_deleted']} messages deleted, data key "
                               f"{'destroyed' if stored['data_key_destroyed'] else 'absent'}"
                               f", {stored['processing_entries_unlinked']} processing "
                               "entries unlinked"))
    print("  audit log: " + ("no audit log" if audit is None else
                             f"{audit['records_redacted']} records redacted"))
    if stored is not None and not stored["wal_truncated"]:
        print("llmward: warning: another process kept the GDPR store's -wal file from "
              "being emptied; it is emptied at that process's next checkpoint",
              file=sys.stderr)


def _write_private(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise CliError(f"{path}: already exists; choose another file") from None
    except OSError as error:
        raise CliError(f"{path}: {error.strerror or error}") from None
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
