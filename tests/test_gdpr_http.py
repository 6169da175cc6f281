"""`DELETE /v1/admin/users/{user_id}` and `GET /v1/admin/users/{user_id}/export` through
aiohttp's test server (loopback), on a real key store, GDPR store and running audit log:
authentication and permission, erasure inside the running server (the audit log is
redacted through its writer and still verifies), export, and the admin records."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from llmward.audit import AuditLog, api_request, verify
from llmward.audit.files import log_files
from llmward.auth.keys import SqliteKeyStore, open_key_store
from llmward.auth.rbac import Rbac
from llmward.gdpr import GdprConfig, GdprStore, open_gdpr_store
from llmward.secrets import EnvSource, SecretResolver
from llmward.server import admin_users
from llmward.server.app import build_app
from llmward.server.state import AUDIT_KEY, GDPR_KEY

ALICE = "alice@example.org"
BOB = "bob@example.org"

Client = TestClient[web.Request, web.Application]


class Env:
    def __init__(self, root: Path, client: Client, keys: SqliteKeyStore, gdpr: GdprStore,
                 audit: AuditLog, admin: str, others: dict[str, str]) -> None:
        self.root, self.client, self.keys, self.gdpr, self.audit = root, client, keys, gdpr, audit
        self.admin, self.others = admin, others

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for path in log_files(self.audit.directory)
                for line in path.read_bytes().splitlines()]


def make_app(keys: SqliteKeyStore, gdpr: GdprStore | None, audit: AuditLog | None
             ) -> web.Application:
    app = build_app(keys, Rbac(), extra_handlers=admin_users.handlers())
    if gdpr is not None:
        app[GDPR_KEY] = gdpr
    if audit is not None:
        app[AUDIT_KEY] = audit
    return app


async def serve(app: web.Application) -> Client:
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    root = tmp_path / "data"
    keys = open_key_store(root)
    gdpr = open_gdpr_store(root, GdprConfig(store_conversations=True),
                           secrets=SecretResolver([EnvSource(environ={})]))
    audit = await AuditLog(root / "audit").start()
    admin = keys.create("root", "admin")[0]
    others = {role: keys.create(f"{role}-1", role)[0] for role in ("developer", "user", "viewer")}
    client = await serve(make_app(keys, gdpr, audit))
    yield Env(root, client, keys, gdpr, audit, admin, others)
    await client.close()
    await audit.close()
    gdpr.close()
    keys.close()


async def seed(env: Env) -> str:
    """Alice's key, stored conversation, processing entry and audit records (and bob's)."""
    alice_key = env.keys.create(ALICE, "user")[0]
    env.keys.create(BOB, "user")
    for user in (ALICE, BOB):
        env.gdpr.store_conversation(user, f"req-{user}", f"PROMPT of {user}", "RESPONSE")
        for n in range(3):
            await env.audit.log(api_request(request_id=f"r{n}", method="POST", path="/v1/x",
                                            status=200, latency_us=1, user=user,
                                            client="192.0.2.4"))
    return alice_key


def path(user: str, export: bool = False) -> str:
    return f"/v1/admin/users/{quote(user, safe='')}" + ("/export" if export else "")


@pytest.mark.asyncio
async def test_401_without_a_key_and_403_without_the_permission(env: Env) -> None:
    await seed(env)
    for method, url in (("DELETE", path(ALICE)), ("GET", path(ALICE, export=True))):
        response = await env.client.request(method, url)
        assert response.status == 401
        for key in env.others.values():
            response = await env.client.request(method, url, headers=env.auth(key))
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "insufficient_permissions"
    assert len(env.gdpr.conversations(ALICE)) == 2  # nothing happened


@pytest.mark.asyncio
async def test_erase(env: Env) -> None:
    alice_key = await seed(env)
    assert (await env.client.get("/v1/admin/keys", headers=env.auth(alice_key))).status == 403
    response = await env.client.delete(path(ALICE), headers=env.auth(env.admin))
    assert response.status == 200
    report = await response.json()
    assert report == {
        "object": "user_erasure", "user": ALICE,
        "api_keys": {"keys": 1, "revoked": 1, "owner_unlinked": True},
        "stored_data": {"conversations_deleted": 2, "data_key_destroyed": True,
                        "processing_entries_unlinked": 1, "wal_truncated": True},
        "audit": {"records_redacted": 3},
    }
    # Alice's key is refused from now on; her data is gone; bob's is not.
    assert (await env.client.get("/v1/admin/keys", headers=env.auth(alice_key))).status == 401
    assert env.gdpr.conversations(ALICE) == [] and len(env.gdpr.conversations(BOB)) == 2
    # The server's audit log kept running: the erasure is recorded after the redaction,
    # by the admin's key, with counts and without alice's id.
    records = env.records()
    erasure = records[-1]
    assert erasure["kind"] == "admin" and erasure["data"]["action"] == "user.erase"
    assert erasure["data"]["result"] == "ok"
    assert erasure["data"]["detail"]["audit.records_redacted"] == 3
    admin_key_id = env.admin.split("_")[1]
    assert erasure["data"]["key_id"] == admin_key_id
    assert erasure["clear"]["user"]["value"] == "root"  # the actor, sealed and erasable
    raw = b"".join(p.read_bytes() for p in log_files(env.audit.directory))
    assert ALICE.encode() not in raw and BOB.encode() in raw
    # Still appending, still one chain.
    await env.audit.log(api_request(request_id="after", method="GET", path="/v1/x",
                                    status=200, latency_us=1, user=BOB))
    await env.audit.close()
    result = verify([env.audit.directory])
    assert result.ok, result.problems
    assert result.redacted == 3


@pytest.mark.asyncio
async def test_erase_is_idempotent(env: Env) -> None:
    await seed(env)
    for expected in (2, 0):
        response = await env.client.delete(path(ALICE), headers=env.auth(env.admin))
        assert response.status == 200
        assert (await response.json())["stored_data"]["conversations_deleted"] == expected
    response = await env.client.delete(path("nobody"), headers=env.auth(env.admin))
    assert response.status == 200
    assert (await response.json())["api_keys"] == {"keys": 0, "revoked": 0,
                                                   "owner_unlinked": True}


@pytest.mark.asyncio
async def test_export(env: Env) -> None:
    alice_key = await seed(env)
    response = await env.client.get(path(ALICE, export=True), headers=env.auth(env.admin))
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = await response.text()
    export = json.loads(text)
    assert export["object"] == "user_export" and export["user"] == ALICE
    assert [k["user"] for k in export["api_keys"]] == [ALICE]
    assert alice_key.split("_", 2)[2] not in text
    assert [m["text"] for m in export["stored_data"]["conversations"]] == [
        f"PROMPT of {ALICE}", "RESPONSE"]
    assert [e["legal_basis"] for e in export["stored_data"]["processing"]] == ["consent"]
    assert len(export["audit_records"]) == 3
    assert {r["personal"]["user"] for r in export["audit_records"]} == {ALICE}
    assert BOB not in text
    record = env.records()[-1]
    assert record["data"]["action"] == "user.export"
    assert record["data"]["detail"] == {"api_keys": 1, "conversations": 2,
                                        "processing_entries": 1, "audit_records": 3}
    assert ALICE not in json.dumps(record)


@pytest.mark.asyncio
async def test_bad_user_ids_are_400(env: Env) -> None:
    for user in (" alice", "x" * 257, "a\tb"):
        for method, url in (("DELETE", path(user)), ("GET", path(user, export=True))):
            response = await env.client.request(method, url, headers=env.auth(env.admin))
            assert response.status == 400, user
            error = (await response.json())["error"]
            assert error["param"] == "user_id" and error["type"] == "invalid_request_error"


@pytest.mark.asyncio
async def test_503_without_a_gdpr_store(tmp_path: Path) -> None:
    with open_key_store(tmp_path / "data") as keys:
        admin = keys.create("root", "admin")[0]
        client = await serve(make_app(keys, None, None))
        try:
            for method, url in (("DELETE", path(ALICE)), ("GET", path(ALICE, export=True))):
                response = await client.request(method, url, headers=Env.auth(admin))
                assert response.status == 503
                assert (await response.json())["error"]["code"] == "gdpr_unavailable"
        finally:
            await client.close()


@pytest.mark.asyncio
async def test_without_an_audit_log(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with open_key_store(root) as keys, open_gdpr_store(
            root, secrets=SecretResolver([EnvSource(environ={})])) as gdpr:
        admin = keys.create("root", "admin")[0]
        gdpr.record_processing(ALICE, "security")
        client = await serve(make_app(keys, gdpr, None))
        try:
            response = await client.get(path(ALICE, export=True), headers=Env.auth(admin))
            assert response.status == 200
            export = await response.json()
            assert export["audit_records"] == []
            assert len(export["stored_data"]["processing"]) == 1
            response = await client.delete(path(ALICE), headers=Env.auth(admin))
            assert response.status == 200
            report = await response.json()
            assert report["audit"] is None
            assert report["stored_data"]["processing_entries_unlinked"] == 1
        finally:
            await client.close()
