"""`llmward keys create|list|revoke`: manage API keys in the data directory's key store.

The plaintext key is printed once, by `create`; nothing else ever shows a secret or a hash.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Collection
from datetime import datetime, timedelta, timezone
from typing import Any

from llmward.auth.key_format import is_key_id
from llmward.auth.key_validate import DEFAULT_ROLES, MAX_EXPIRES_IN, KeyInputError
from llmward.auth.keys import KeyRecord, open_key_store
from llmward.cli import EXIT_OK, CliError
from llmward.cli.audit_trail import audited
from llmward.paths import data_dir

MAX_LIMITS_CHARS = 4096
_DURATION = re.compile(r"([1-9][0-9]{0,6})([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def register(subparsers: Any, roles: Collection[str] = DEFAULT_ROLES) -> None:
    parser = subparsers.add_parser(
        "keys", help="create, list and revoke API keys",
        description="Manage the API keys in the key store under the data directory.")
    commands = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    create = commands.add_parser("create", help="create a key and print it once")
    create.add_argument("--user", required=True, help="the key's owner (user id)")
    create.add_argument("--role", required=True, choices=sorted(roles))
    create.add_argument("--expires", metavar="DURATION",
                        help="lifetime: N followed by d, h or m, e.g. 90d (default: never)")
    create.add_argument("--limits", metavar="JSON",
                        help='per-key limit overrides, e.g. {"requests_per_minute": 30}')
    create.set_defaults(handler=run_create, roles=frozenset(roles))

    listing = commands.add_parser("list", help="list keys (never their secrets)")
    listing.set_defaults(handler=run_list, roles=frozenset(roles))

    revoke = commands.add_parser("revoke", help="revoke a key: refused from its next request")
    revoke.add_argument("key_id", metavar="ID")
    revoke.set_defaults(handler=run_revoke, roles=frozenset(roles))

    for sub in (create, listing, revoke):
        sub.add_argument("--data-dir", help="state directory (default: $LLMWARD_DATA_DIR, "
                         "else $XDG_DATA_HOME/llmward or ~/.local/share/llmward)")
        sub.add_argument("--json", action="store_true", help="print JSON")


def run_create(args: argparse.Namespace) -> int:
    expires_in = parse_duration(args.expires) if args.expires is not None else None
    limits = _parse_limits(args.limits) if args.limits is not None else None
    directory = data_dir(args.data_dir)
    with (audited(directory, "POST /v1/admin/keys") as audit,
          open_key_store(directory, roles=args.roles) as store):
        try:
            plaintext, record = store.create(args.user, args.role, expires_in=expires_in,
                                             limits=limits)
        except KeyInputError as error:
            raise CliError(str(error)) from None
        audit("key.create", "ok", target=record.key_id,
              detail={"role": record.role, "expires": _time(record.expires_at) or "never"})
    if args.json:
        print(json.dumps({"key": plaintext, **record_json(record)}, indent=2))
    else:
        print(plaintext)
        print(f"id {record.key_id}  user {record.user}  role {record.role}  expires "
              f"{_time(record.expires_at) or 'never'}", file=sys.stderr)
        print("This is the only time the key is shown; store it now.", file=sys.stderr)
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    with open_key_store(data_dir(args.data_dir), roles=args.roles) as store:
        records = store.list()
    now = datetime.now(timezone.utc)
    if args.json:
        print(json.dumps([{**record_json(r), "status": status(r, now)} for r in records],
                         indent=2))
        return EXIT_OK
    print(f"{'ID':24}  {'STATUS':7}  {'ROLE':9}  {'CREATED':20}  {'EXPIRES':20}  "
          f"{'LAST USED':20}  USER")
    for r in records:
        print(f"{r.key_id:24}  {status(r, now):7}  {r.role:9}  {_short(r.created_at):20}  "
              f"{_short(r.expires_at) or '-':20}  {_short(r.last_used_at) or '-':20}  "
              f"{json.dumps(r.user)}")  # quoted: a user name cannot forge table rows
    return EXIT_OK


def run_revoke(args: argparse.Namespace) -> int:
    if not is_key_id(args.key_id):
        raise CliError(f"{args.key_id[:64]!r} is not a key id (24 hex digits)")
    directory = data_dir(args.data_dir)
    with (audited(directory, "DELETE /v1/admin/keys/{id}") as audit,
          open_key_store(directory, roles=args.roles) as store):
        if store.get(args.key_id) is None:
            raise CliError(f"no key with id {args.key_id}")
        newly = store.revoke(args.key_id)
        record = store.get(args.key_id)
        audit("key.revoke", "ok" if newly else "already revoked", target=args.key_id)
    if record is None:  # keys are revoked, never deleted: only a concurrent tamper gets here
        raise CliError(f"key {args.key_id} disappeared while it was revoked")
    if args.json:
        print(json.dumps(record_json(record), indent=2))
    else:
        print(f"revoked {record.key_id}" if newly else f"{record.key_id} was already revoked")
    return EXIT_OK


def parse_duration(text: str) -> timedelta:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise CliError(f"--expires: expected N followed by d, h or m (e.g. 90d), "
                       f"got {text[:32]!r}")
    duration = timedelta(**{_UNITS[match[2]]: int(match[1])})
    if duration > MAX_EXPIRES_IN:
        raise CliError(f"--expires: at most {MAX_EXPIRES_IN.days}d")
    return duration


def status(record: KeyRecord, now: datetime) -> str:
    if record.revoked_at is not None:
        return "revoked"
    return "active" if record.active(now) else "expired"


def record_json(record: KeyRecord) -> dict[str, Any]:
    return {
        "id": record.key_id, "user": record.user, "role": record.role,
        "created_at": _time(record.created_at), "expires_at": _time(record.expires_at),
        "last_used_at": _time(record.last_used_at), "revoked_at": _time(record.revoked_at),
        "limits": None if record.limits is None else dict(record.limits),
    }


def _parse_limits(text: str) -> dict[str, Any]:
    if len(text) > MAX_LIMITS_CHARS:
        raise CliError(f"--limits: longer than {MAX_LIMITS_CHARS} characters")
    try:
        value = json.loads(text)
    except ValueError as error:
        raise CliError(f"--limits: not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise CliError("--limits: expected a JSON object")
    return value


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _short(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")
