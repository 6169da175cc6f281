"""Opening the server's control plane: one configuration file for RBAC, rate limits, the
audit log and GDPR; the bootstrap admin key on the first start only (generated and
returned once, or taken from a secret), its creation audited, never written in clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from llmward.audit import verify
from llmward.audit.files import log_files
from llmward.auth.key_format import new_key, new_key_id
from llmward.ratelimit.policy import Principal
from llmward.secrets import EnvSource, SecretResolver
from llmward.server.control_plane import ServerSettings, open_control_plane

CONFIG = """
[rbac.roles.auditor]
inherits = "viewer"
permissions = ["user:manage"]

[ratelimit.roles.auditor]
requests_per_minute = 7

[audit]
fsync = "batch"
fsync_max_records = 10

[gdpr]
store_conversations = false
"""


def no_secrets() -> SecretResolver:
    return SecretResolver([EnvSource(environ={})])


def test_one_file_configures_every_component(tmp_path: Path) -> None:
    path = tmp_path / "llmward.toml"
    path.write_text(CONFIG)
    settings = ServerSettings.from_file(path)
    assert "auditor" in settings.rbac.roles
    assert settings.rbac.allows("auditor", "user:manage")
    # A role added in [rbac] can be given limits in [ratelimit] ...
    assert settings.ratelimit.roles["auditor"].requests.per_minute == 7
    assert settings.audit.fsync.mode == "batch" and settings.audit.fsync.max_records == 10


def test_a_ratelimit_role_unknown_to_rbac_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "llmward.toml"
    path.write_text("[ratelimit.roles.auditor]\nrequests_per_minute = 7\n")
    with pytest.raises(ValueError, match=r"llmward.toml: .*unknown role 'auditor'.*\[rbac"):
        ServerSettings.from_file(path)


@pytest.mark.parametrize("text, named", [
    ("[ratelimt]\n", "ratelimt"),
    ("[audit]\nfsync = \"sometimes\"\n", "audit.fsync"),
    ("[audit]\nqueue_size = 0\n", "audit.queue_size"),
    ("[audit]\ninclude_prompt = 1\n", "audit.include_prompt"),
    ("[audit]\ncolour = 1\n", "colour"),
])
def test_bad_settings_name_the_setting(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "llmward.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=named):
        ServerSettings.from_file(path)


@pytest.mark.asyncio
async def test_bootstrap_key_on_first_start_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with await open_control_plane(data, ServerSettings(), secrets=no_secrets()) as plane:
        key = plane.bootstrap_key
        assert key is not None and key.startswith("lw_")
        assert "lw_" not in repr(plane)
        record = plane.key_store.authenticate(key)
        assert record is not None and record.role == "admin"
        async with TestClient(TestServer(plane.build_app(), host="127.0.0.1")) as client:
            listed = await client.get("/v1/admin/keys",
                                      headers={"Authorization": f"Bearer {key}"})
            assert listed.status == 200
    async with await open_control_plane(data, ServerSettings(), secrets=no_secrets()) as again:
        assert again.bootstrap_key is None  # shown once, on the first start
    lines = [json.loads(line) for p in log_files(data / "audit")
             for line in p.read_text().splitlines()]
    bootstraps = [r for r in lines if r["kind"] == "admin"
                  and r["data"]["action"] == "key.bootstrap"]
    assert len(bootstraps) == 1 and bootstraps[0]["data"]["target"] == record.key_id
    assert bootstraps[0]["data"]["detail"]["source"] == "generated"
    raw = b"".join(p.read_bytes() for p in log_files(data / "audit"))
    assert key.encode() not in raw
    assert verify([data / "audit"]).ok


@pytest.mark.asyncio
async def test_bootstrap_key_from_a_secret_is_not_returned(tmp_path: Path) -> None:
    key_id = new_key_id()
    preset = new_key(key_id)[0]
    secrets = SecretResolver([EnvSource(environ={"LLMWARD_SECRET_BOOTSTRAP_ADMIN_KEY": preset})])
    async with await open_control_plane(tmp_path, ServerSettings(), secrets=secrets) as plane:
        assert plane.bootstrap_key is None  # the operator already holds it
        record = plane.key_store.authenticate(preset)
        assert record is not None and record.key_id == key_id and record.role == "admin"


@pytest.mark.asyncio
async def test_key_limits_and_configured_role_limits_reach_the_rate_limiter(
        tmp_path: Path) -> None:
    path = tmp_path / "llmward.toml"
    path.write_text(CONFIG)
    settings = ServerSettings.from_file(path)
    async with await open_control_plane(tmp_path / "data", settings,
                                        secrets=no_secrets()) as plane:
        key, record = plane.key_store.create("frank", "auditor",
                                             limits={"concurrent_requests": 3})
        assert plane.ratelimit.limits_for(Principal(None, "x", "auditor")).requests.per_minute \
            == 7
        async with TestClient(TestServer(plane.build_app(), host="127.0.0.1")) as client:
            statuses = [(await client.get("/v1/admin/keys",
                                          headers={"Authorization": f"Bearer {key}"})).status
                        for _ in range(9)]
    assert statuses == [200] * 7 + [429] * 2


@pytest.mark.asyncio
async def test_erasure_through_the_full_stack_leaves_no_user_id_in_the_log(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with await open_control_plane(data, ServerSettings(), secrets=no_secrets()) as plane:
        admin = plane.bootstrap_key
        zed_key, _ = plane.key_store.create("zed-subject", "user")
        async with TestClient(TestServer(plane.build_app(), host="127.0.0.1")) as client:
            for _ in range(3):  # requests by the subject: their records name them (sealed)
                await client.get("/v1/models", headers={"Authorization": f"Bearer {zed_key}"})
            auth = {"Authorization": f"Bearer {admin}"}
            exported = await client.get("/v1/admin/users/zed-subject/export", headers=auth)
            assert exported.status == 200
            erased = await client.delete("/v1/admin/users/zed-subject", headers=auth)
            assert erased.status == 200
            after = await client.get("/v1/models", headers={"Authorization": f"Bearer {zed_key}"})
            assert after.status == 401  # the subject's keys were revoked
    raw = b"".join(p.read_bytes() for p in log_files(data / "audit"))
    assert b"zed-subject" not in raw  # not in records about them, nor in the admin routes' paths
    assert verify([data / "audit"]).ok
    paths = {json.loads(line)["data"].get("path") for p in log_files(data / "audit")
             for line in p.read_text().splitlines()}
    assert "/v1/admin/users/{user_id}" in paths
