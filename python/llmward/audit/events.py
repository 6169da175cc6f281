"""The audit events, validated and bounded before they reach the log.

Over-long strings are cut to their bound and the field is named in `truncated`, so an
attacker-controlled path or user agent cannot grow a record without limit but the event
is still recorded. Wrong types are programming errors and raise `ValueError`. No floats:
latency is integer microseconds, so the canonical bytes are the same in every language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

KINDS = frozenset({"api_request", "model", "admin", "auth_failure",
                   # written by the log itself
                   "file_start", "recovery"})
MODEL_ACTIONS = frozenset({"load", "unload", "verify"})

MAX_ID = 128          # request ids, key ids, roles, rule ids, actions
MAX_USER = 256
MAX_PATH = 2048
MAX_TEXT = 1024       # reasons, results, targets, model names, decisions
MAX_RULES = 64
MAX_DETAIL_ITEMS = 32
DEFAULT_MAX_PROMPT = 16384

Scalar = str | int | bool | None


@dataclass(frozen=True)
class Event:
    """What happened (`data`, hashed in clear) and who it concerns (`personal`, sealed)."""

    kind: str
    time: str
    data: Mapping[str, object]
    personal: Mapping[str, str] = field(default_factory=dict)


def utc_time(when: datetime | None = None) -> str:
    """RFC 3339 UTC with microseconds and a Z, the only time format in records."""
    when = when or datetime.now(timezone.utc)
    if when.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


class _Builder:
    def __init__(self) -> None:
        self.data: dict[str, object] = {}
        self.personal: dict[str, str] = {}
        self.truncated: list[str] = []

    def text(self, name: str, value: str | None, bound: int, *, personal: bool = False) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"{name} is not valid Unicode text") from error
        if len(value) > bound:
            value = value[:bound]
            self.truncated.append(name)
        (self.personal if personal else self.data)[name] = value

    def integer(self, name: str, value: int | None, low: int, high: int) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer in [{low}, {high}]")
        self.data[name] = value

    def ids(self, name: str, values: Sequence[str]) -> None:
        if isinstance(values, str):
            raise ValueError(f"{name} must be a sequence of strings")
        kept = []
        for value in list(values)[:MAX_RULES]:
            if not isinstance(value, str):
                raise ValueError(f"{name} must be strings")
            kept.append(value[:MAX_ID])
        if len(values) > MAX_RULES or any(len(v) > MAX_ID for v in values):
            self.truncated.append(name)
        self.data[name] = kept

    def detail(self, value: Mapping[str, Scalar] | None) -> None:
        if not value:
            return
        out: dict[str, Scalar] = {}
        for key, item in list(value.items())[:MAX_DETAIL_ITEMS]:
            if not isinstance(key, str) or not (item is None or isinstance(item, str | int)):
                raise ValueError("detail maps strings to strings, integers, booleans or null")
            out[key[:MAX_ID]] = item[:MAX_TEXT] if isinstance(item, str) else item
        if len(value) > MAX_DETAIL_ITEMS:
            self.truncated.append("detail")
        self.data["detail"] = out

    def event(self, kind: str, when: datetime | None) -> Event:
        if self.truncated:
            self.data["truncated"] = sorted(set(self.truncated))
        return Event(kind, utc_time(when), self.data, self.personal)


def api_request(*, request_id: str, method: str, path: str, status: int, latency_us: int,
                key_id: str | None = None, user: str | None = None, role: str | None = None,
                client: str | None = None, decision: str | None = None,
                rule_ids: Sequence[str] = (), prompt: str | None = None,
                max_prompt: int = DEFAULT_MAX_PROMPT, when: datetime | None = None) -> Event:
    """One API request. `prompt` is recorded only when the caller passes it, which the
    server does only when raw prompt logging is configured (off by default)."""
    b = _Builder()
    b.text("request_id", request_id, MAX_ID)
    b.text("method", method, 16)
    b.text("path", path, MAX_PATH)
    b.integer("status", status, 100, 599)
    b.integer("latency_us", latency_us, 0, 2**53)
    b.text("key_id", key_id, MAX_ID)
    b.text("role", role, MAX_ID)
    b.text("decision", decision, MAX_TEXT)
    b.ids("rule_ids", rule_ids)
    b.text("user", user, MAX_USER, personal=True)
    b.text("client", client, MAX_TEXT, personal=True)
    b.text("prompt", prompt, max_prompt, personal=True)
    return b.event("api_request", when)


def model_event(*, action: str, model: str, result: str, user: str | None = None,
                key_id: str | None = None, detail: Mapping[str, Scalar] | None = None,
                when: datetime | None = None) -> Event:
    """A model load, unload or verification, with its result ("ok", "refused: ...")."""
    if action not in MODEL_ACTIONS:
        raise ValueError(f"model action must be one of {sorted(MODEL_ACTIONS)}")
    b = _Builder()
    b.data["action"] = action
    b.text("model", model, MAX_TEXT)
    b.text("result", result, MAX_TEXT)
    b.text("key_id", key_id, MAX_ID)
    b.text("user", user, MAX_USER, personal=True)
    b.detail(detail)
    return b.event("model", when)


def admin_action(*, action: str, result: str, target: str | None = None,
                 user: str | None = None, key_id: str | None = None, role: str | None = None,
                 detail: Mapping[str, Scalar] | None = None,
                 when: datetime | None = None) -> Event:
    """An administrative action (key created or revoked, config changed, user erased)."""
    b = _Builder()
    b.text("action", action, MAX_ID)
    b.text("result", result, MAX_TEXT)
    b.text("target", target, MAX_TEXT)
    b.text("key_id", key_id, MAX_ID)
    b.text("role", role, MAX_ID)
    b.text("user", user, MAX_USER, personal=True)
    b.detail(detail)
    return b.event("admin", when)


def auth_failure(*, reason: str, method: str, path: str, request_id: str | None = None,
                 key_id: str | None = None, client: str | None = None,
                 when: datetime | None = None) -> Event:
    """A refused credential. `key_id` is the id the caller claimed (never the secret)."""
    b = _Builder()
    b.text("reason", reason, MAX_TEXT)
    b.text("method", method, 16)
    b.text("path", path, MAX_PATH)
    b.text("request_id", request_id, MAX_ID)
    b.text("key_id", key_id, MAX_ID)
    b.text("client", client, MAX_TEXT, personal=True)
    return b.event("auth_failure", when)
