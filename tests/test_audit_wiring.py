"""The audit log wired into the server: every API request, every refused credential and
every admin action is recorded, through aiohttp's test server (loopback), a real SQLite
key store and a real audit directory; the chain verifies afterwards."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from llmward.audit import AuditLog, verify
from llmward.audit.files import log_files
from llmward.auth.keys import SqliteKeyStore
from llmward.auth.rbac import Rbac
from llmward.ratelimit.policy import RateLimitPolicy
from llmward.server.app import build_app
from llmward.server.audit_middleware import GUARD_SUMMARY_KEY, GuardSummary

Client = TestClient[web.Request, web.Application]


class Env:
    def __init__(self, client: Client, store: SqliteKeyStore, audit: AuditLog,
                 directory: Path) -> None:
        self.client, self.store, self.audit, self.directory = client, store, audit, directory
        self.admin = store.create("alice", "admin")[0]
        self.user_key, self.user_record = store.create("bob", "user")

    def records(self) -> list[dict[str, Any]]:
        lines = [line for path in log_files(self.directory)
                 for line in path.read_text().splitlines()]
        return [r for r in map(json.loads, lines) if r["kind"] not in ("file_start", "recovery")]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = SqliteKeyStore(tmp_path / "keys.sqlite3")
    directory = tmp_path / "audit"
    audit = await AuditLog(directory).start()
    app = build_app(store, Rbac(), audit=audit, ratelimit=RateLimitPolicy())
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield Env(client, store, audit, directory)
    await client.close()
    await audit.close()
    store.close()


@pytest.mark.asyncio
async def test_each_request_has_one_record_with_its_outcome(env: Env) -> None:
    ok = await env.client.get("/v1/admin/keys", headers=bearer(env.admin))
    missing = await env.client.get("/v1/admin/keys")
    forbidden = await env.client.get("/v1/admin/keys", headers=bearer(env.user_key))
    not_found = await env.client.get("/v1/nowhere", headers=bearer(env.admin))
    assert [r.status for r in (ok, missing, forbidden, not_found)] == [200, 401, 403, 404]
    requests = [r for r in env.records() if r["kind"] == "api_request"]
    assert [(r["data"]["path"], r["data"]["status"]) for r in requests] == [
        ("/v1/admin/keys", 200), ("/v1/admin/keys", 401), ("/v1/admin/keys", 403),
        ("/v1/nowhere", 404)]
    # The id on the response is the id in the record.
    ids = [r.headers["X-Request-Id"] for r in (ok, missing, forbidden, not_found)]
    assert ids == [r["data"]["request_id"] for r in requests]
    assert len(set(ids)) == 4
    first = requests[0]
    assert first["data"]["key_id"] and first["data"]["role"] == "admin"
    assert first["data"]["method"] == "GET" and first["data"]["latency_us"] >= 0
    # Personal values are sealed, in clear beside the hash (so they can be erased).
    assert first["clear"]["user"]["value"] == "alice"
    assert first["clear"]["client"]["value"] == "127.0.0.1"
    assert "user" not in first["data"] and "client" not in first["data"]
    assert requests[1]["data"].get("key_id") is None
    assert requests[2]["data"]["key_id"] == env.user_record.key_id  # valid key, no permission
    assert verify([env.directory]).ok


@pytest.mark.asyncio
async def test_refused_credentials_are_recorded_without_the_secret(env: Env) -> None:
    wrong = env.user_key[:-4] + ("AAAA" if not env.user_key.endswith("AAAA") else "BBBB")
    await env.client.get("/v1/admin/keys", headers=bearer(wrong))
    await env.client.get("/v1/admin/keys", headers={"Authorization": "Basic x"})
    await env.client.get("/v1/admin/keys", headers=bearer(env.user_key))
    failures = [r for r in env.records() if r["kind"] == "auth_failure"]
    assert [f["data"]["reason"] for f in failures] == [
        "rejected", "malformed", "forbidden: user:manage"]
    assert failures[0]["data"]["key_id"] == env.user_record.key_id  # the id it claimed
    assert failures[2]["data"]["key_id"] == env.user_record.key_id
    raw = b"".join(p.read_bytes() for p in log_files(env.directory))
    assert env.user_key.encode() not in raw and wrong.encode() not in raw
    # nor the secret part alone (its alphabet includes "_": split once after the id)
    assert env.user_key.split("_", 2)[2].encode() not in raw


@pytest.mark.asyncio
async def test_admin_actions_are_recorded(env: Env) -> None:
    created = await env.client.post("/v1/admin/keys", headers=bearer(env.admin),
                                    json={"user": "carol", "role": "developer"})
    assert created.status == 201
    key_id = (await created.json())["id"]
    revoked = await env.client.delete(f"/v1/admin/keys/{key_id}", headers=bearer(env.admin))
    assert revoked.status == 200
    unknown = await env.client.delete("/v1/admin/keys/" + "0" * 24, headers=bearer(env.admin))
    assert unknown.status == 404
    admin = [r for r in env.records() if r["kind"] == "admin"]
    assert [(a["data"]["action"], a["data"]["result"], a["data"]["target"]) for a in admin] == [
        ("key.create", "ok", key_id), ("key.revoke", "ok", key_id),
        ("key.revoke", "not found", "0" * 24)]
    assert admin[0]["data"]["detail"]["role"] == "developer"
    assert admin[0]["clear"]["user"]["value"] == "alice"  # the actor
    # The admin record carries the request's id: the two records can be joined.
    request_ids = {r["data"]["request_id"] for r in env.records() if r["kind"] == "api_request"}
    assert {a["data"]["detail"]["request_id"] for a in admin} <= request_ids
    raw = b"".join(p.read_bytes() for p in log_files(env.directory))
    assert b"carol" not in raw  # the new key's owner is not hashed in clear anywhere
    assert verify([env.directory]).ok


@pytest.mark.asyncio
async def test_probes_are_not_recorded(env: Env) -> None:
    for path in ("/health", "/ready"):
        response = await env.client.get(path)
        assert response.status == 200 and "X-Request-Id" not in response.headers
    assert env.records() == []


@pytest.mark.asyncio
async def test_rate_limited_requests_are_recorded(tmp_path: Path) -> None:
    store = SqliteKeyStore(tmp_path / "keys.sqlite3")
    key, _ = store.create("dave", "user", limits={"requests_per_minute": 1})
    async with AuditLog(tmp_path / "audit") as audit:
        app = build_app(store, Rbac(), audit=audit, ratelimit=RateLimitPolicy())
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            first = await client.get("/v1/nowhere", headers=bearer(key))
            second = await client.get("/v1/nowhere", headers=bearer(key))
    store.close()
    assert (first.status, second.status) == (404, 429)  # the key's own limit applied
    lines = [json.loads(line) for p in log_files(tmp_path / "audit")
             for line in p.read_text().splitlines()]
    statuses = [r["data"]["status"] for r in lines if r["kind"] == "api_request"]
    assert statuses == [404, 429]


@pytest.mark.asyncio
async def test_guard_summary_reaches_the_record_and_the_prompt_only_when_configured(
        tmp_path: Path) -> None:
    from llmward.server.routes import TABLE

    store = SqliteKeyStore(tmp_path / "keys.sqlite3")
    key, _ = store.create("erin", "admin")

    async def guarded(request: web.Request) -> web.Response:  # stands in for issue 7's
        request[GUARD_SUMMARY_KEY] = GuardSummary("blocked", ("inj.override",), "my prompt")
        return web.json_response({"blocked": True}, status=400)

    route = ("GET", "/v1/admin/keys")  # a declared route, served by a stand-in handler
    assert route in TABLE
    for include_prompt in (False, True):
        directory = tmp_path / f"audit-{include_prompt}"
        async with AuditLog(directory, include_prompt=include_prompt) as audit:
            app = build_app(store, Rbac(), audit=audit, extra_handlers={route: guarded})
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                response = await client.get("/v1/admin/keys", headers=bearer(key))
                assert response.status == 400
        record = next(json.loads(line) for p in log_files(directory)
                      for line in p.read_text().splitlines() if '"api_request"' in line)
        assert record["data"]["decision"] == "blocked"
        assert record["data"]["rule_ids"] == ["inj.override"]
        assert ("prompt" in record["clear"]) is include_prompt
        assert (b"my prompt" in b"".join(p.read_bytes() for p in log_files(directory))) \
            is include_prompt
    store.close()


@pytest.mark.asyncio
async def test_a_request_that_cannot_be_recorded_is_refused(env: Env) -> None:
    await env.audit.close()  # the writer is gone: nothing can be recorded
    response = await env.client.get("/v1/admin/keys", headers=bearer(env.admin))
    assert response.status == 503
    body = await response.json()
    assert body["error"]["code"] == "audit_unavailable"
