"""The `[gdpr]` table of the configuration file: what is stored, for how long, and the
register of processing purposes with their legal bases (GDPR Art. 6(1), Art. 30).

    [gdpr]
    store_conversations = false        # prompts and responses are not kept (default)
    conversation_retention_days = 30   # stored prompts/responses older are deleted
    audit_retention_days = 90          # audit user ids older are pseudonymized (default: off)

    [gdpr.purposes.support]            # added to (or replacing) the built-in purposes
    legal_basis = "contract"
    description = "Answering the user's support tickets"
    data_categories = ["user id", "prompts"]

Unknown keys, wrong types and out-of-range values are errors naming the setting. The
built-in purposes (`BUILTIN_PURPOSES`) always exist, because llmward itself records
processing under them; a configured purpose of the same name replaces the built-in one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from llmward.config_file import load_toml

# GDPR Art. 6(1)(a) to (f), in the regulation's order.
LEGAL_BASES = ("consent", "contract", "legal_obligation", "vital_interests", "public_task",
               "legitimate_interests")
MAX_RETENTION_DAYS = 36_500
MAX_PURPOSES = 64
MAX_DESCRIPTION_CHARS = 1024
MAX_CATEGORIES = 32
MAX_CATEGORY_CHARS = 64
PURPOSE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
SETTINGS = frozenset({"store_conversations", "conversation_retention_days",
                      "audit_retention_days", "purposes"})
PURPOSE_SETTINGS = frozenset({"legal_basis", "description", "data_categories"})

# The purposes llmward records processing under.
INFERENCE = "inference"
SECURITY = "security"
CONVERSATION_STORAGE = "conversation_storage"


@dataclass(frozen=True)
class Purpose:
    name: str
    legal_basis: str
    description: str
    data_categories: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "legal_basis": self.legal_basis,
                "description": self.description, "data_categories": list(self.data_categories)}


BUILTIN_PURPOSES: Mapping[str, Purpose] = MappingProxyType({
    INFERENCE: Purpose(INFERENCE, "contract", "Serving the user's inference requests",
                       ("user id", "prompts", "responses")),
    SECURITY: Purpose(SECURITY, "legitimate_interests",
                      "Abuse prevention: the audit log, authentication and rate limiting",
                      ("user id", "API key id", "client address", "request metadata")),
    CONVERSATION_STORAGE: Purpose(CONVERSATION_STORAGE, "consent",
                                  "Keeping the user's prompts and responses (encrypted)",
                                  ("prompts", "responses")),
})


@dataclass(frozen=True)
class GdprConfig:
    store_conversations: bool = False
    # 0 to MAX_RETENTION_DAYS; None (Python only) keeps stored conversations forever.
    conversation_retention_days: int | None = 30
    # None: the retention command leaves the audit log alone unless told a number of days.
    audit_retention_days: int | None = None
    purposes: Mapping[str, Purpose] = field(default_factory=lambda: BUILTIN_PURPOSES)

    def purpose(self, name: str) -> Purpose:
        """The configured purpose `name`; ValueError naming the known ones otherwise."""
        found = self.purposes.get(name) if isinstance(name, str) else None
        if found is None:
            raise ValueError(f"purpose: {str(name)[:64]!r} is not a configured purpose; "
                             f"known: {sorted(self.purposes)}")
        return found

    @classmethod
    def from_dict(cls, table: Mapping[str, Any]) -> GdprConfig:
        """From the contents of a `[gdpr]` table (as `tomllib` returns it)."""
        return _parse(table)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> GdprConfig:
        """From the `[gdpr]` table of a TOML file (the defaults when it has none); other
        tables belong to other components and are not read here."""
        source = Path(path)
        document = load_toml(source)
        try:
            return _parse(document.get("gdpr", {}))
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None


def _parse(table: Any) -> GdprConfig:
    if not isinstance(table, Mapping):
        raise ValueError("[gdpr] must be a table")
    unknown = set(table) - SETTINGS
    if unknown:
        raise ValueError(f"[gdpr]: unknown keys {sorted(unknown)}; allowed: {sorted(SETTINGS)}")
    store = table.get("store_conversations", False)
    if not isinstance(store, bool):
        raise ValueError(f"gdpr.store_conversations: expected true or false, got {store!r}")
    return GdprConfig(
        store_conversations=store,
        conversation_retention_days=_days(table, "conversation_retention_days", 30),
        audit_retention_days=_days(table, "audit_retention_days", None),
        purposes=_purposes(table.get("purposes", {})),
    )


def _days(table: Mapping[str, Any], name: str, default: int | None) -> int | None:
    if name not in table:
        return default
    value = table[name]
    if isinstance(value, bool) or not isinstance(value, int) or not (
            0 <= value <= MAX_RETENTION_DAYS):
        raise ValueError(f"gdpr.{name}: expected an integer number of days between 0 and "
                         f"{MAX_RETENTION_DAYS}, got {value!r}")
    return value


def _purposes(table: Any) -> Mapping[str, Purpose]:
    if not isinstance(table, Mapping):
        raise ValueError("gdpr.purposes: expected a table of purposes")
    if len(table) > MAX_PURPOSES:
        raise ValueError(f"gdpr.purposes: at most {MAX_PURPOSES} purposes")
    purposes = dict(BUILTIN_PURPOSES)
    for name, value in table.items():
        if not isinstance(name, str) or not PURPOSE_NAME.fullmatch(name):
            raise ValueError(f"gdpr.purposes: {str(name)[:64]!r} is not a purpose name "
                             "(lowercase letters, digits, '_' and '-', at most 64)")
        purposes[name] = _purpose(name, value, f"gdpr.purposes.{name}")
    return MappingProxyType(purposes)


def _purpose(name: str, value: Any, where: str) -> Purpose:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a table")
    unknown = set(value) - PURPOSE_SETTINGS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: "
                         f"{sorted(PURPOSE_SETTINGS)}")
    basis = value.get("legal_basis")
    if basis not in LEGAL_BASES:
        raise ValueError(f"{where}.legal_basis: expected one of {list(LEGAL_BASES)} "
                         f"(GDPR Art. 6(1)), got {str(basis)[:64]!r}")
    description = value.get("description")
    if (not isinstance(description, str) or not 0 < len(description) <= MAX_DESCRIPTION_CHARS
            or not description.isprintable()):
        raise ValueError(f"{where}.description: expected 1 to {MAX_DESCRIPTION_CHARS} "
                         "printable characters")
    categories = value.get("data_categories")
    if (not isinstance(categories, list) or not 0 < len(categories) <= MAX_CATEGORIES
            or not all(isinstance(c, str) and 0 < len(c) <= MAX_CATEGORY_CHARS
                       and c.isprintable() for c in categories)):
        raise ValueError(f"{where}.data_categories: expected an array of 1 to "
                         f"{MAX_CATEGORIES} strings of 1 to {MAX_CATEGORY_CHARS} printable "
                         "characters")
    return Purpose(name, basis, description, tuple(categories))
