"""Guard configuration from a TOML file.

Unknown sections or keys are errors, not warnings: a typo in a security
policy must not silently fall back to a default. See README.md
("Guard configuration") for the format.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast, get_args

from llmward.config_file import load_toml
from llmward.guard.rules import ALL_VIEWS, Action, RuleSpec, ViewName

PACKS = frozenset({"injection", "pii", "secrets", "content"})
ACTIONS: frozenset[str] = frozenset(get_args(Action))


@dataclass(frozen=True, slots=True)
class Limits:
    max_chars: int = 4096  # prompt length in characters (the seed's default)
    max_tokens: int = 2048  # prompt length in tokens (estimated unless a tokenizer is given)
    max_output_chars: int = 1_048_576  # redact() and stream redaction input


@dataclass(frozen=True, slots=True)
class ActionOverride:
    prompt: Action | None = None
    output: Action | None = None


@dataclass(frozen=True, slots=True)
class GuardConfig:
    limits: Limits = field(default_factory=Limits)
    packs: frozenset[str] = PACKS
    content_dir: Path | None = None  # banned_terms.txt and filters/*.txt; None: built-in lists
    actions: Mapping[str, ActionOverride] = field(default_factory=dict)  # by category prefix
    placeholders: Mapping[str, str] = field(default_factory=dict)  # by category prefix
    allowlist: Mapping[str, frozenset[str]] = field(default_factory=dict)  # rule id or category
    canary: str | None = None  # None: a random canary per Guard
    views: frozenset[ViewName] = ALL_VIEWS
    rules: tuple[RuleSpec, ...] = ()  # custom rules added to the packs

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> GuardConfig:
        source = Path(path)
        document = load_toml(source)
        try:
            return _parse(document, source.parent)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None


def _parse(doc: dict[str, Any], base: Path) -> GuardConfig:
    _only(doc, {"limits", "packs", "actions", "placeholders", "allowlist", "canary", "views",
                "rules"}, "top level")
    config = GuardConfig()
    if "limits" in doc:
        table = _table(doc, "limits")
        _only(table, {"max_chars", "max_tokens", "max_output_chars"}, "[limits]")
        values = {key: _positive_int(table[key], f"limits.{key}") for key in table}
        config = replace(config, limits=replace(config.limits, **values))
    if "packs" in doc:
        table = _table(doc, "packs")
        _only(table, {"enabled", "content_dir"}, "[packs]")
        if "enabled" in table:
            enabled = _strings(table["enabled"], "packs.enabled")
            unknown = set(enabled) - PACKS
            if unknown:
                raise ValueError(f"packs.enabled: unknown packs {sorted(unknown)}; "
                                 f"known: {sorted(PACKS)}")
            config = replace(config, packs=frozenset(enabled))
        if "content_dir" in table:
            directory = (base / _string(table["content_dir"], "packs.content_dir")).resolve()
            if not directory.is_dir():
                raise ValueError(f"packs.content_dir: {directory} is not a directory")
            config = replace(config, content_dir=directory)
    if "actions" in doc:
        config = replace(config, actions=_actions(_table(doc, "actions")))
    if "placeholders" in doc:
        table = _table(doc, "placeholders")
        config = replace(config, placeholders={
            key: _string(value, f"placeholders.{key}", max_len=64) for key, value in table.items()
        })
    if "allowlist" in doc:
        table = _table(doc, "allowlist")
        config = replace(config, allowlist={
            key: frozenset(s.casefold() for s in _strings(value, f"allowlist.{key}"))
            for key, value in table.items()
        })
    if "canary" in doc:
        table = _table(doc, "canary")
        config = replace(config, canary=_canary(table))
    if "views" in doc:
        views = _strings(doc["views"], "views")
        unknown = set(views) - ALL_VIEWS
        if unknown or "raw" not in views:
            raise ValueError(f"views: must include 'raw' and name only {sorted(ALL_VIEWS)}")
        config = replace(config, views=frozenset(cast(list[ViewName], views)))
    if "rules" in doc:
        if not isinstance(doc["rules"], list):
            raise ValueError("rules: expected an array of tables ([[rules]])")
        config = replace(config, rules=tuple(_rule(r, i) for i, r in enumerate(doc["rules"])))
    return config


def _actions(table: dict[str, Any]) -> dict[str, ActionOverride]:
    out = {}
    for category, value in table.items():
        where = f"actions.{category}"
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a table like {{ prompt = \"block\" }}")
        _only(value, {"prompt", "output"}, where)
        out[category] = ActionOverride(
            prompt=_action(value["prompt"], f"{where}.prompt") if "prompt" in value else None,
            output=_action(value["output"], f"{where}.output") if "output" in value else None,
        )
    return out


def _canary(table: dict[str, Any]) -> str:
    from llmward.guard.canary import validate_canary

    _only(table, {"token", "token_env", "token_file"}, "[canary]")
    if len(table) != 1:
        raise ValueError("[canary]: give exactly one of token, token_env, token_file")
    if "token" in table:
        return validate_canary(_string(table["token"], "canary.token"))
    if "token_env" in table:
        name = _string(table["token_env"], "canary.token_env")
        if name not in os.environ:
            raise ValueError(f"canary.token_env: environment variable {name} is not set")
        return validate_canary(os.environ[name])
    path = Path(_string(table["token_file"], "canary.token_file"))
    try:
        return validate_canary(path.read_text(encoding="utf-8").strip())
    except OSError as error:
        raise ValueError(f"canary.token_file: cannot read {path}: {error.strerror}") from None


def _rule(value: Any, index: int) -> RuleSpec:
    where = f"rules[{index}]"
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a table")
    _only(value, {"id", "pattern", "category", "action", "output_action", "literal", "caseless",
                  "views", "placeholder", "description", "dotall", "multiline", "ucp",
                  "requires_any"}, where)
    for key in ("id", "pattern", "category"):
        if key not in value:
            raise ValueError(f"{where}: missing '{key}'")
    views = _strings(value.get("views", sorted(ALL_VIEWS)), f"{where}.views")
    if set(views) - ALL_VIEWS:
        raise ValueError(f"{where}.views: name only {sorted(ALL_VIEWS)}")
    return RuleSpec(
        id=_string(value["id"], f"{where}.id", max_len=200),
        pattern=_string(value["pattern"], f"{where}.pattern", max_len=4096),
        category=_string(value["category"], f"{where}.category", max_len=200),
        action=_action(value.get("action", "block"), f"{where}.action"),
        output_action=_action(value.get("output_action", "redact"), f"{where}.output_action"),
        literal=_bool(value.get("literal", False), f"{where}.literal"),
        caseless=_bool(value.get("caseless", True), f"{where}.caseless"),
        views=frozenset(cast(list[ViewName], views)),
        placeholder=(_string(value["placeholder"], f"{where}.placeholder", max_len=64)
                     if "placeholder" in value else None),
        description=_string(value.get("description", ""), f"{where}.description", max_len=1000,
                            allow_empty=True),
        dotall=_bool(value.get("dotall", False), f"{where}.dotall"),
        multiline=_bool(value.get("multiline", False), f"{where}.multiline"),
        ucp=_bool(value.get("ucp", False), f"{where}.ucp"),
        requires_any=_string(value.get("requires_any", ""), f"{where}.requires_any", max_len=128,
                             allow_empty=True),
    )


def _only(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")


def _table(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = doc[key]
    if not isinstance(value, dict):
        raise ValueError(f"[{key}] must be a table")
    return value


def _string(value: Any, where: str, *, max_len: int = 4096, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ValueError(f"{where}: expected a non-empty string")
    if len(value) > max_len:
        raise ValueError(f"{where}: longer than {max_len} characters")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}: expected an array of non-empty strings")
    return list(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: expected true or false")
    return value


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 2**31:
        raise ValueError(f"{where}: expected an integer between 1 and {2**31}")
    return value


def _action(value: Any, where: str) -> Action:
    if value not in ACTIONS:
        raise ValueError(f"{where}: expected one of {sorted(ACTIONS)}, got {value!r}")
    return cast(Action, value)
