"""Role-based access control: which role holds which permission.

The seed's four roles and nine permissions, with the seed's table, are built in.
The `[rbac]` table of a TOML configuration file may add roles and grant existing
roles more permissions; it cannot take a permission away from a seed role (define
a narrower role instead) and cannot invent permissions: every permission is one a
route in `llmward.server.routes` can require, so a misspelt one is an error rather
than a grant that silently matches nothing.

    [rbac.roles.auditor]            # a new role
    inherits = "viewer"             # optional: start from another role's permissions
    permissions = ["system:config"]

    [rbac.roles.user]               # a seed role: these are added to the seed's
    permissions = ["inference:advanced"]
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from llmward.config_file import load_toml

# The seed's permissions, in its order.
PERMISSIONS: tuple[str, ...] = (
    "model:load",
    "model:unload",
    "model:list",
    "inference:basic",
    "inference:advanced",
    "inference:batch",
    "system:config",
    "system:monitor",
    "user:manage",
)

# The seed's role-permission table, exactly (admin: every permission).
SEED_ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "developer": frozenset({
        "model:list",
        "inference:basic",
        "inference:advanced",
        "inference:batch",
        "system:monitor",
    }),
    "user": frozenset({"model:list", "inference:basic"}),
    "viewer": frozenset({"model:list", "system:monitor"}),
}

# The rate limiter's name for callers no key identified: never a role a key can hold.
RESERVED_ROLES = frozenset({"anonymous"})
ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
MAX_ROLES = 256


class Rbac:
    """An immutable role -> permissions table. `allows` is a set lookup: an unknown
    role holds no permission."""

    def __init__(self, role_permissions: Mapping[str, Iterable[str]] | None = None) -> None:
        table = SEED_ROLE_PERMISSIONS if role_permissions is None else role_permissions
        known = frozenset(PERMISSIONS)
        self._table: dict[str, frozenset[str]] = {}
        for role, permissions in table.items():
            granted = frozenset(permissions)
            unknown = granted - known
            if unknown:
                raise ValueError(f"role {role!r}: unknown permissions {sorted(unknown)}")
            self._table[role] = granted

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self._table)

    def permissions_of(self, role: str) -> frozenset[str]:
        return self._table.get(role, frozenset())

    def allows(self, role: str, permission: str) -> bool:
        if permission not in PERMISSIONS:
            # A typo in a route's declaration must fail loudly, not deny everyone quietly.
            raise ValueError(f"unknown permission {permission!r}")
        return permission in self._table.get(role, frozenset())

    def __repr__(self) -> str:
        return f"Rbac(roles={list(self._table)})"

    @classmethod
    def from_dict(cls, table: Mapping[str, Any]) -> Rbac:
        """From the contents of an `[rbac]` table (as `tomllib` returns it)."""
        return cls(_parse(table))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Rbac:
        """From the `[rbac]` table of a TOML file; the seed's table when the file has
        none. Other tables belong to other components and are not read here."""
        source = Path(path)
        document = load_toml(source)
        if "rbac" not in document:
            return cls()
        try:
            return cls.from_dict(document["rbac"])
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None


def _parse(table: Any) -> dict[str, frozenset[str]]:
    if not isinstance(table, Mapping):
        raise ValueError("[rbac] must be a table")
    _only(table, {"roles"}, "[rbac]")
    roles = table.get("roles", {})
    if not isinstance(roles, Mapping):
        raise ValueError("rbac.roles: expected a table of roles")
    if len(roles) > MAX_ROLES:
        raise ValueError(f"rbac.roles: at most {MAX_ROLES} roles")
    result = dict(SEED_ROLE_PERMISSIONS)
    # Rounds: a role is resolved once the role it inherits is, in any order of tables.
    pending = dict(roles)
    while pending:
        progressed = False
        for name in list(pending):
            where = f"rbac.roles.{name}"
            spec = pending[name]
            if not isinstance(spec, Mapping):
                raise ValueError(f"{where}: expected a table")
            _only(spec, {"permissions", "inherits"}, where)
            _check_name(name, where)
            parent = spec.get("inherits")
            if parent is not None:
                if name in SEED_ROLE_PERMISSIONS:
                    raise ValueError(f"{where}.inherits: a seed role cannot inherit; grant "
                                     "it permissions instead")
                if not isinstance(parent, str):
                    raise ValueError(f"{where}.inherits: expected a role name")
                if parent in pending and parent != name:
                    continue  # its own table comes first: it may add to the parent
                if parent not in result:
                    raise ValueError(f"{where}.inherits: unknown role {parent!r}")
            granted = _permissions(spec.get("permissions", []), f"{where}.permissions")
            base = result.get(name, frozenset()) if parent is None else result[parent]
            result[name] = base | granted
            del pending[name]
            progressed = True
        if not progressed:
            cycle = sorted(pending)
            raise ValueError(f"rbac.roles: inheritance cycle among {cycle}")
    return result


def _check_name(name: object, where: str) -> None:
    if not isinstance(name, str) or not ROLE_NAME.fullmatch(name):
        raise ValueError(f"{where}: a role name is 1 to 64 characters: a lowercase letter, "
                         "then lowercase letters, digits, '_' or '-'")
    if name in RESERVED_ROLES:
        raise ValueError(f"{where}: {name!r} is reserved for unauthenticated callers")


def _permissions(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError(f"{where}: expected an array of permission names")
    unknown = [p for p in value if p not in PERMISSIONS]
    if unknown:
        raise ValueError(f"{where}: unknown permission {unknown[0]!r}; known: "
                         f"{list(PERMISSIONS)}")
    return frozenset(value)


def _only(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
