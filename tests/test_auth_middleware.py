"""The auth middleware and the admin key routes through aiohttp's test server
(loopback): 401/403 bodies and headers, revoked and expired keys refused on their
next request, public routes, the Principal downstream and in the rate limiter,
and /v1/admin/keys end to end.

Against the real SQLite key store (`llmward.auth.keys.SqliteKeyStore`) in a
temporary directory.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Collection, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from llmward.auth.keys import DEFAULT_ROLES, KeyRecord, SqliteKeyStore
from llmward.auth.middleware import (
    KEY_RECORD_KEY,
    MAX_AUTHORIZATION_CHARS,
    Refusal,
    auth_middleware,
)
from llmward.auth.rbac import Rbac
from llmward.ratelimit.config import RateLimitConfig
from llmward.ratelimit.middleware import PRINCIPAL_KEY
from llmward.ratelimit.policy import Principal, RateLimitPolicy
from llmward.server.admin_keys import MAX_BODY_BYTES
from llmward.server.app import build_app
from llmward.server.routes import register

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


class RecordingKeyStore(SqliteKeyStore):
    """The SQLite key store on a clock the test moves (`now`), noting the threads its
    methods run on."""

    def __init__(self, path: Path, roles: Collection[str] = DEFAULT_ROLES) -> None:
        self.now = START
        self.threads: list[int] = []
        super().__init__(path, roles=roles, clock=lambda: self.now)

    def create(self, user: str, role: str, *, expires_in: timedelta | None = None,
               limits: Mapping[str, int | float] | None = None) -> tuple[str, KeyRecord]:
        self.threads.append(threading.get_ident())
        return super().create(user, role, expires_in=expires_in, limits=limits)

    def authenticate(self, presented: str) -> KeyRecord | None:
        self.threads.append(threading.get_ident())
        return super().authenticate(presented)

    def get(self, key_id: str) -> KeyRecord | None:
        self.threads.append(threading.get_ident())
        return super().get(key_id)

    def list(self) -> list[KeyRecord]:
        self.threads.append(threading.get_ident())
        return super().list()

    def revoke(self, key_id: str) -> bool:
        self.threads.append(threading.get_ident())
        return super().revoke(key_id)


Client = TestClient[web.Request, web.Application]


class Env:
    def __init__(
        self, client: Client, store: RecordingKeyStore, refusals: list[tuple[str, Refusal]]
    ) -> None:
        self.client, self.store, self.refusals = client, store, refusals
        self.keys = {
            role: store.create(f"{role}-1", role)[0]
            for role in ("admin", "developer", "user", "viewer")
        }

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


async def _serve(app: web.Application) -> Client:
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = RecordingKeyStore(tmp_path / "keys.sqlite3")
    refusals: list[tuple[str, Refusal]] = []
    app = build_app(store, Rbac(), on_refusal=lambda request, r: refusals.append((request.path, r)))
    client = await _serve(app)
    yield Env(client, store, refusals)
    await client.close()


UNAUTHORIZED = {
    "error": {
        "message": "Incorrect or missing API key. Provide your llmward API key as "
        "'Authorization: Bearer lw_...'.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}


def _other_last(secret: str) -> str:
    """The secret with its last character changed (a quarter of secrets end in "A")."""
    return secret[:-1] + ("Q" if secret.endswith("A") else "A")


async def _assert_401(client: Client, headers: Any, path: str = "/v1/admin/keys") -> None:
    response = await client.get(path, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="llmward"'
    assert response.content_type == "application/json"
    assert await response.json() == UNAUTHORIZED


@pytest.mark.asyncio
async def test_public_routes_need_no_key(env: Env) -> None:
    env.store.threads.clear()
    for path, status in (("/health", "ok"), ("/ready", "ready")):
        for headers in ({}, {"Authorization": "Bearer nonsense"}):
            response = await env.client.get(path, headers=headers)
            assert response.status == 200
            assert await response.json() == {"status": status}
    assert env.store.threads == []  # no credential was even read
    # A public path answers only its declared method: POST needs a key like any other.
    response = await env.client.post("/health")
    assert response.status == 401


@pytest.mark.asyncio
async def test_every_bad_credential_gets_the_same_401(env: Env) -> None:
    admin = env.keys["admin"]
    key_id, secret = admin.split("_", 2)[1:]
    for headers in (
        {},  # missing
        {"X-API-Key": admin},  # not read, by design
        {"Authorization": admin},  # no scheme
        {"Authorization": f"Basic {admin}"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer   "},
        {"Authorization": f"Bearer {admin} extra"},
        {"Authorization": f"Bearer lw_{'f' * 24}_{secret}"},  # unknown id
        {"Authorization": f"Bearer lw_{key_id}_{_other_last(secret)}"},  # wrong secret
        {"Authorization": f"Bearer lw_{secret}_{secret}"},  # not an id: none claimed
        {"Authorization": f"Bearer lw_{key_id}"},  # malformed
        {"Authorization": "Bearer " + "x" * MAX_AUTHORIZATION_CHARS},  # too long
    ):
        await _assert_401(env.client, headers)
    # Two Authorization headers, even both valid: which would a proxy have checked?
    await _assert_401(env.client, [("Authorization", f"Bearer {admin}")] * 2)
    reasons = [r.reason for _, r in env.refusals]
    assert reasons == ["missing"] * 2 + ["malformed"] * 5 + ["rejected"] * 4 + ["malformed"] * 2
    # For the audit log: the id a rejected key claimed, never its secret.
    claimed = [r.claimed_key_id for _, r in env.refusals if r.reason == "rejected"]
    assert claimed == ["f" * 24, key_id, None, None]
    assert not any(secret[:20] in repr(r) for _, r in env.refusals)


@pytest.mark.asyncio
async def test_scheme_is_case_insensitive(env: Env) -> None:
    response = await env.client.get(
        "/v1/admin/keys", headers={"Authorization": f"bearer {env.keys['admin']}"}
    )
    assert response.status == 200


@pytest.mark.asyncio
async def test_unknown_paths_need_a_key_before_they_404(env: Env) -> None:
    await _assert_401(env.client, {}, "/v1/nothing-here")
    response = await env.client.get("/v1/nothing-here", headers=env.auth(env.keys["viewer"]))
    assert response.status == 404
    response = await env.client.put("/v1/admin/keys", headers=env.auth(env.keys["viewer"]))
    assert response.status == 405


@pytest.mark.asyncio
async def test_403_for_a_valid_key_without_the_permission(env: Env) -> None:
    for role in ("developer", "user", "viewer"):
        response = await env.client.get("/v1/admin/keys", headers=env.auth(env.keys[role]))
        assert response.status == 403
        assert "WWW-Authenticate" not in response.headers
        assert await response.json() == {
            "error": {
                "message": "You have insufficient permissions for this operation: the API key's "
                "role does not grant the permission it needs ('user:manage').",
                "type": "invalid_request_error",
                "param": None,
                "code": "insufficient_permissions",
            }
        }
    refusal = env.refusals[-1][1]
    assert (refusal.status, refusal.reason, refusal.permission) == (403, "forbidden", "user:manage")
    assert refusal.principal is not None and refusal.principal.role == "viewer"


@pytest.mark.asyncio
async def test_revoked_and_expired_keys_are_refused_on_their_next_request(env: Env) -> None:
    store = env.store
    revoked, _ = store.create("a", "admin")
    expiring, _ = store.create("b", "admin", expires_in=timedelta(days=1))
    for key in (revoked, expiring):
        assert (await env.client.get("/v1/admin/keys", headers=env.auth(key))).status == 200
    store.revoke(revoked.split("_")[1])
    await _assert_401(env.client, env.auth(revoked))
    store.now += timedelta(days=1)
    await _assert_401(env.client, env.auth(expiring))
    assert (
        await env.client.get("/v1/admin/keys", headers=env.auth(env.keys["admin"]))
    ).status == 200


@pytest.mark.asyncio
async def test_store_calls_run_off_the_event_loop(env: Env) -> None:
    loop_thread = threading.get_ident()
    env.store.threads.clear()
    headers = env.auth(env.keys["admin"])
    await env.client.get("/v1/admin/keys", headers=headers)
    await env.client.post("/v1/admin/keys", json={"user": "u", "role": "user"}, headers=headers)
    assert len(env.store.threads) == 4  # authenticate, list, authenticate, create
    assert loop_thread not in env.store.threads


@pytest.mark.asyncio
async def test_the_key_is_never_logged(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = env.keys["admin"]
    await env.client.get("/v1/admin/keys", headers=env.auth(key))
    await env.client.get("/v1/admin/keys", headers=env.auth(key + "x"))
    await env.client.get("/v1/nothing", headers=env.auth(key))
    secret = key.split("_", 2)[2]
    assert caplog.records and secret not in caplog.text


@pytest.mark.asyncio
async def test_principal_reaches_the_handler(tmp_path: Path) -> None:
    store = RecordingKeyStore(tmp_path / "keys.sqlite3")
    key, record = store.create("alice", "admin")
    seen: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request[PRINCIPAL_KEY], request[KEY_RECORD_KEY]))
        return web.Response()

    app = web.Application(middlewares=[auth_middleware(store, Rbac())])
    register(app, {("GET", "/v1/admin/keys"): handler})
    client = await _serve(app)
    try:
        assert (await client.get("/v1/admin/keys", headers=Env.auth(key))).status == 200
    finally:
        await client.close()
    principal, seen_record = seen[0]
    assert principal == Principal(key_id=record.key_id, user="alice", role="admin")
    assert seen_record.key_id == record.key_id and seen_record.last_used_at == store.now


@pytest.mark.asyncio
async def test_an_undeclared_route_is_refused_to_everyone(tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="secret")

    store = RecordingKeyStore(tmp_path / "keys.sqlite3")
    key, _ = store.create("root", "admin")
    app = build_app(store, Rbac())
    app.router.add_get("/v1/secret", handler)  # around the routes table
    client = await _serve(app)
    try:
        response = await client.get("/v1/secret", headers=Env.auth(key))
        assert response.status == 403
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_rate_limiter_after_auth_applies_the_roles_limits(tmp_path: Path) -> None:
    store = RecordingKeyStore(tmp_path / "keys.sqlite3")
    config = RateLimitConfig.from_dict({"roles": {"admin": {"requests_per_minute": 3}}})
    app = build_app(store, Rbac(), ratelimit=RateLimitPolicy(config))
    first, second = store.create("a", "admin")[0], store.create("b", "admin")[0]
    client = await _serve(app)
    try:
        for remaining in (2, 1, 0):
            response = await client.get("/v1/admin/keys", headers=Env.auth(first))
            assert response.status == 200
            # The admin role's limit (3), not the anonymous one (5): the principal arrived.
            assert response.headers["RateLimit-Limit"] == "3"
            assert response.headers["RateLimit-Remaining"] == str(remaining)
        assert (await client.get("/v1/admin/keys", headers=Env.auth(first))).status == 429
        # Keyed by API key: another admin key has its own bucket.
        assert (await client.get("/v1/admin/keys", headers=Env.auth(second))).status == 200
        # Refused credentials never reach the limiter (no RateLimit headers on a 401).
        response = await client.get("/v1/admin/keys")
        assert response.status == 401 and "RateLimit-Limit" not in response.headers
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_admin_keys_end_to_end(env: Env) -> None:
    admin = env.auth(env.keys["admin"])
    response = await env.client.post(
        "/v1/admin/keys",
        headers=admin,
        json={
            "user": "bob",
            "role": "developer",
            "expires_in_days": 30,
            "limits": {"requests_per_minute": 10, "tokens_burst": 5000},
        },
    )
    assert response.status == 201
    assert response.headers["Cache-Control"] == "no-store"
    created = await response.json()
    key = created.pop("key")
    assert key.startswith(f"lw_{created['id']}_")
    assert created == {
        "object": "api_key",
        "id": created["id"],
        "user": "bob",
        "role": "developer",
        "created_at": "2026-01-01T00:00:00+00:00",
        "expires_at": "2026-01-31T00:00:00+00:00",
        "last_used_at": None,
        "revoked_at": None,
        "limits": {"requests_per_minute": 10, "tokens_burst": 5000},
    }

    # The new key works, for what its role allows.
    bob = env.auth(key)
    assert (await env.client.get("/v1/admin/keys", headers=bob)).status == 403

    response = await env.client.get("/v1/admin/keys", headers=admin)
    assert response.status == 200
    text = await response.text()
    assert key.split("_", 2)[2] not in text and '"key"' not in text
    listing = json.loads(text)
    assert listing["object"] == "list"
    assert {r["user"] for r in listing["data"]} == {
        "admin-1",
        "developer-1",
        "user-1",
        "viewer-1",
        "bob",
    }
    bob_record = next(r for r in listing["data"] if r["id"] == created["id"])
    assert bob_record["last_used_at"] == "2026-01-01T00:00:00+00:00"

    response = await env.client.delete(f"/v1/admin/keys/{created['id']}", headers=admin)
    assert response.status == 200
    assert (await response.json())["revoked_at"] == "2026-01-01T00:00:00+00:00"
    await _assert_401(env.client, bob)
    # Revoking again is idempotent; an unknown id is 404; a malformed one 400.
    response = await env.client.delete(f"/v1/admin/keys/{created['id']}", headers=admin)
    assert response.status == 200
    response = await env.client.delete("/v1/admin/keys/0123456789abcdef01234567", headers=admin)
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "key_not_found"
    response = await env.client.delete("/v1/admin/keys/a.b", headers=admin)
    assert response.status == 400
    # Revoking needs the permission too.
    response = await env.client.delete(
        f"/v1/admin/keys/{created['id']}", headers=env.auth(env.keys["developer"])
    )
    assert response.status == 403


@pytest.mark.asyncio
async def test_admin_keys_over_http_only(tmp_path: Path) -> None:
    """Create, list, revoke and the 401 after, through HTTP alone, on the store's
    own clock (no test clock)."""
    store = SqliteKeyStore(tmp_path / "keys.sqlite3")
    admin, _ = store.create("root", "admin")
    client = await _serve(build_app(store, Rbac()))
    try:
        response = await client.post(
            "/v1/admin/keys",
            headers=Env.auth(admin),
            json={"user": "dave", "role": "user", "expires_in_days": 1},
        )
        assert response.status == 201
        created = await response.json()
        key = created["key"]
        assert created["expires_at"] is not None and created["revoked_at"] is None
        # The new key is valid, its role holds model:list but not user:manage.
        assert (await client.get("/v1/admin/keys", headers=Env.auth(key))).status == 403
        response = await client.get("/v1/admin/keys", headers=Env.auth(admin))
        text = await response.text()
        assert key not in text and key.split("_", 2)[2] not in text
        assert created["id"] in {r["id"] for r in json.loads(text)["data"]}
        response = await client.delete(f"/v1/admin/keys/{created['id']}", headers=Env.auth(admin))
        assert response.status == 200
        assert (await response.json())["revoked_at"] is not None
        await _assert_401(client, Env.auth(key))
        assert (await client.get("/v1/admin/keys", headers=Env.auth(admin))).status == 200
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_create_without_optional_fields(env: Env) -> None:
    response = await env.client.post(
        "/v1/admin/keys",
        headers=env.auth(env.keys["admin"]),
        json={"user": "carol", "role": "viewer"},
    )
    body = await response.json()
    assert response.status == 201
    assert body["expires_at"] is None and body["limits"] is None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        (b"[]", None, "must be a JSON object"),
        (b"{", None, "not valid JSON"),
        (b"\xff", None, "not valid JSON"),
        (b'{"user": "a", "role": "user", "expires_in_days": NaN}', None, "not valid JSON"),
        (b'{"user": "a", "user": "b", "role": "user"}', None, "duplicate field"),
        (b"[" * 16_000, None, "nested too deeply"),  # was a RecursionError: 500
        (  # was an OverflowError (float() of the integer): 500
            b'{"user": "a", "role": "user", "limits": {"requests_burst": 1' + b"0" * 400 + b"}}",
            "limits",
            "limits.requests_burst: expected an integer",
        ),
        ({"user": "a", "role": "user", "admin": True}, "admin", "unknown field 'admin'"),
        ({"role": "user"}, "user", "user: expected"),
        ({"user": "", "role": "user"}, "user", "user: expected"),
        ({"user": "a" * 257, "role": "user"}, "user", "user: expected"),
        ({"user": "a\nb", "role": "user"}, "user", "user: expected"),
        ({"user": 1, "role": "user"}, "user", "user: expected"),
        ({"user": "a", "role": "root"}, "role", "role: expected one of"),
        ({"user": "a", "role": "anonymous"}, "role", "role: expected one of"),
        ({"user": "a", "role": "user", "expires_in_days": True}, "expires_in_days", "between"),
        ({"user": "a", "role": "user", "expires_in_days": 0}, "expires_in_days", "between"),
        ({"user": "a", "role": "user", "expires_in_days": 1.5}, "expires_in_days", "between"),
        ({"user": "a", "role": "user", "expires_in_days": 3651}, "expires_in_days", "between"),
        ({"user": "a", "role": "user", "limits": []}, "limits", "expected an object"),
        ({"user": "a", "role": "user", "limits": {}}, "limits", "expected an object"),
        ({"user": "a", "role": "user", "limits": {"rpm": 1}}, "limits", "unknown limit 'rpm'"),
        (
            {"user": "a", "role": "user", "limits": {"requests_burst": 1.5}},
            "limits",
            "limits.requests_burst: expected an integer",
        ),
        (
            {"user": "a", "role": "user", "limits": {"requests_per_minute": 0}},
            "limits",
            "limits.requests_per_minute: expected a number",
        ),
        (
            {"user": "a", "role": "user", "limits": {"concurrent_requests": True}},
            "limits",
            "limits.concurrent_requests",
        ),
        (
            {
                "user": "a",
                "role": "user",
                "limits": {"requests_per_minute": 1e-6, "requests_burst": 10},
            },
            "limits",
            "more than a year to refill",
        ),
    ],
)
async def test_create_validates_the_body(
    env: Env, body: Any, param: str | None, message: str
) -> None:
    before = len(env.store.list())
    headers = env.auth(env.keys["admin"])
    if isinstance(body, bytes):
        response = await env.client.post("/v1/admin/keys", data=body, headers=headers)
    else:
        response = await env.client.post("/v1/admin/keys", json=body, headers=headers)
    assert response.status == 400
    error = (await response.json())["error"]
    assert message in error["message"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert len(env.store.list()) == before


@pytest.mark.asyncio
async def test_create_bounds_the_body(env: Env) -> None:
    headers = env.auth(env.keys["admin"])
    big = json.dumps({"user": "a", "role": "user", "pad": "x" * MAX_BODY_BYTES}).encode()
    response = await env.client.post("/v1/admin/keys", data=big, headers=headers)
    assert response.status == 413

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(3):
            yield b" " * (MAX_BODY_BYTES // 2)

    response = await env.client.post("/v1/admin/keys", data=chunked(), headers=headers)
    assert response.status == 413


@pytest.mark.asyncio
async def test_configured_roles_reach_the_middleware(tmp_path: Path) -> None:
    store = RecordingKeyStore(tmp_path / "keys.sqlite3",
                              roles={"keymaster", "ghost", *DEFAULT_ROLES})
    rbac = Rbac.from_dict(
        {"roles": {"keymaster": {"inherits": "viewer", "permissions": ["user:manage"]}}}
    )
    keymaster, _ = store.create("k", "keymaster")
    ghost, _ = store.create("g", "ghost")  # a role no longer configured: holds nothing
    client = await _serve(build_app(store, rbac))
    try:
        response = await client.get("/v1/admin/keys", headers=Env.auth(keymaster))
        assert response.status == 200
        response = await client.get("/v1/admin/keys", headers=Env.auth(ghost))
        assert response.status == 403
        # The admin API creates keys for configured roles only.
        response = await client.post(
            "/v1/admin/keys", headers=Env.auth(keymaster), json={"user": "u", "role": "keymaster"}
        )
        assert response.status == 201
        response = await client.post(
            "/v1/admin/keys", headers=Env.auth(keymaster), json={"user": "u", "role": "ghost"}
        )
        assert response.status == 400
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_a_role_the_store_does_not_know_is_a_400(tmp_path: Path) -> None:
    """RBAC configured with a role the key store was not opened with: the store's
    refusal is a 400 naming the field, not a 500."""
    store = RecordingKeyStore(tmp_path / "keys.sqlite3")
    admin, _ = store.create("root", "admin")
    rbac = Rbac.from_dict({"roles": {"auditor": {"permissions": ["system:monitor"]}}})
    client = await _serve(build_app(store, rbac))
    try:
        response = await client.post("/v1/admin/keys", headers=Env.auth(admin),
                                     json={"user": "u", "role": "auditor"})
        assert response.status == 400
        error = (await response.json())["error"]
        assert error["param"] == "role" and error["message"].startswith("role: expected one of")
    finally:
        await client.close()
