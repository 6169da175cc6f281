"""RBAC: the seed's role-permission table exactly, its extension from `[rbac]`
configuration with errors naming the setting, and the routes table (every route of
the application `build_app` returns declares its permission)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from llmward.auth.keys import SqliteKeyStore
from llmward.auth.rbac import PERMISSIONS, Rbac
from llmward.server.app import build_app
from llmward.server.routes import (
    PUBLIC,
    ROUTES,
    TABLE,
    Route,
    UndeclaredRoute,
    _index,
    register,
    undeclared_routes,
)

# The seed's table (security/rbac.py), written out here rather than imported.
SEED = {
    "admin": {
        "model:load",
        "model:unload",
        "model:list",
        "inference:basic",
        "inference:advanced",
        "inference:batch",
        "system:config",
        "system:monitor",
        "user:manage",
    },
    "developer": {
        "model:list",
        "inference:basic",
        "inference:advanced",
        "inference:batch",
        "system:monitor",
    },
    "user": {"model:list", "inference:basic"},
    "viewer": {"model:list", "system:monitor"},
}


def test_seed_permissions() -> None:
    assert PERMISSIONS == (
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


def test_seed_table_exactly() -> None:
    rbac = Rbac()
    assert set(rbac.roles) == set(SEED)
    for role, granted in SEED.items():
        for permission in PERMISSIONS:
            assert rbac.allows(role, permission) is (permission in granted), (role, permission)


def test_unknown_role_holds_nothing_and_unknown_permission_is_an_error() -> None:
    rbac = Rbac()
    assert not any(rbac.allows("anonymous", p) for p in PERMISSIONS)
    assert not rbac.allows("", "model:list")
    with pytest.raises(ValueError, match="unknown permission 'model:lst'"):
        rbac.allows("admin", "model:lst")


def test_config_adds_roles_and_grants() -> None:
    rbac = Rbac.from_dict(
        {
            "roles": {
                # `ops` inherits `user` before `user`'s own table: order must not matter.
                "ops": {"inherits": "user", "permissions": ["model:load", "model:unload"]},
                "user": {"permissions": ["inference:advanced"]},
                "auditor": {"permissions": ["system:monitor"]},
                "nobody": {},
            }
        }
    )
    assert rbac.permissions_of("user") == frozenset(SEED["user"] | {"inference:advanced"})
    assert rbac.permissions_of("ops") == frozenset(
        SEED["user"] | {"inference:advanced", "model:load", "model:unload"}
    )
    assert rbac.permissions_of("auditor") == {"system:monitor"}
    assert rbac.permissions_of("nobody") == frozenset()
    for role in ("admin", "developer", "viewer"):  # untouched
        assert rbac.permissions_of(role) == SEED[role]


def test_config_from_file(tmp_path: Path) -> None:
    path = tmp_path / "llmward.toml"
    path.write_text('[ratelimit]\n[rbac.roles.viewer]\npermissions = ["inference:basic"]\n')
    assert Rbac.from_file(path).allows("viewer", "inference:basic")
    path.write_text("[ratelimit]\n")
    assert Rbac.from_file(path).permissions_of("viewer") == SEED["viewer"]
    path.write_text('[rbac.roles.viewer]\npermissions = ["inference:basicc"]\n')
    with pytest.raises(
        ValueError,
        match=rf"^{path}: rbac.roles.viewer.permissions: unknown "
        "permission 'inference:basicc'",
    ):
        Rbac.from_file(path)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([], r"\[rbac\] must be a table"),
        ({"role": {}}, r"\[rbac\]: unknown keys \['role'\]"),
        ({"roles": []}, "rbac.roles: expected a table of roles"),
        ({"roles": {"ops": []}}, "rbac.roles.ops: expected a table"),
        ({"roles": {"ops": {"permission": []}}}, r"rbac.roles.ops: unknown keys \['permission'\]"),
        (
            {"roles": {"ops": {"permissions": "model:list"}}},
            "rbac.roles.ops.permissions: expected an array",
        ),
        ({"roles": {"ops": {"permissions": [1]}}}, "rbac.roles.ops.permissions: expected an array"),
        (
            {"roles": {"ops": {"permissions": ["model:*"]}}},
            "rbac.roles.ops.permissions: unknown permission 'model:\\*'",
        ),
        ({"roles": {"Ops": {}}}, "rbac.roles.Ops: a role name is"),
        ({"roles": {"o" * 65: {}}}, "a role name is 1 to 64"),
        ({"roles": {"anonymous": {}}}, "rbac.roles.anonymous: 'anonymous' is reserved"),
        (
            {"roles": {"user": {"inherits": "admin"}}},
            "rbac.roles.user.inherits: a seed role cannot inherit",
        ),
        ({"roles": {"ops": {"inherits": "root"}}}, "rbac.roles.ops.inherits: unknown role 'root'"),
        ({"roles": {"ops": {"inherits": "ops"}}}, "rbac.roles.ops.inherits: unknown role 'ops'"),
        ({"roles": {"ops": {"inherits": 1}}}, "rbac.roles.ops.inherits: expected a role name"),
        (
            {"roles": {"a": {"inherits": "b"}, "b": {"inherits": "a"}}},
            r"rbac.roles: inheritance cycle among \['a', 'b'\]",
        ),
    ],
)
def test_config_errors_name_the_setting(table: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rbac.from_dict(table)  # type: ignore[arg-type]


def test_rbac_constructor_refuses_unknown_permissions() -> None:
    with pytest.raises(ValueError, match=r"role 'x': unknown permissions \['nope'\]"):
        Rbac({"x": ["nope"]})


def test_routes_table_declares_a_known_permission_for_every_route() -> None:
    public = {(r.method, r.path) for r in ROUTES if r.permission is PUBLIC}
    assert public == {("GET", "/health"), ("GET", "/ready")}
    for route in ROUTES:
        assert route.permission is PUBLIC or route.permission in PERMISSIONS
    assert TABLE[("DELETE", "/v1/admin/keys/{key_id}")].permission == "user:manage"


def test_routes_table_refuses_duplicates_and_unknown_permissions() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        _index((Route("GET", "/x", PUBLIC, ""), Route("GET", "/x", "model:list", "")))
    with pytest.raises(ValueError, match="unknown permission 'model:lst'"):
        _index((Route("GET", "/x", "model:lst", ""),))


def _app_routes(app: web.Application) -> set[tuple[str, str]]:
    routes = set()
    for route in app.router.routes():
        assert route.resource is not None
        routes.add((route.method, route.resource.canonical))
    return routes


def test_every_route_of_the_app_is_declared(tmp_path: Path) -> None:
    """The check issue 6 asks for: enumerate the application's routes and fail on
    any route the table does not declare."""
    app = build_app(SqliteKeyStore(tmp_path / "keys.sqlite3"), Rbac())
    routes = _app_routes(app)
    assert routes  # the enumeration found the routes...
    assert routes <= set(TABLE), routes - set(TABLE)  # ...and every one is declared
    assert undeclared_routes(app) == []
    # Every route served today is there; no implicit HEAD routes slipped in.
    assert routes == {
        ("GET", "/health"),
        ("GET", "/ready"),
        ("POST", "/v1/admin/keys"),
        ("GET", "/v1/admin/keys"),
        ("DELETE", "/v1/admin/keys/{key_id}"),
        ("DELETE", "/v1/admin/users/{user_id}"),
        ("GET", "/v1/admin/users/{user_id}/export"),
    }


def test_the_check_catches_an_undeclared_route(tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app = build_app(SqliteKeyStore(tmp_path / "keys.sqlite3"), Rbac())
    app.router.add_get("/v1/secret", handler)  # around `register`: HEAD comes with it
    assert set(undeclared_routes(app)) == {("GET", "/v1/secret"), ("HEAD", "/v1/secret")}
    assert not _app_routes(app) <= set(TABLE)


def test_register_refuses_an_undeclared_route(tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    with pytest.raises(UndeclaredRoute, match="POST /health is not declared"):
        register(web.Application(), {("POST", "/health"): handler})
    with pytest.raises(UndeclaredRoute, match="GET /v1/secret"):
        build_app(SqliteKeyStore(tmp_path / "keys.sqlite3"), Rbac(),
                  extra_handlers={("GET", "/v1/secret"): handler})
