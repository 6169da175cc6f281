"""The Vault KV v2 source.

HashiCorp Vault itself cannot be installed here, so these tests run against tests/fake_vault.py:
a small local HTTP(S) server implementing the documented endpoints the source uses (KV v2
``GET /v1/<mount>/data/<path>?version=N``, Kubernetes ``POST /v1/auth/<mount>/login``, the
X-Vault-Token and X-Vault-Namespace headers) with their documented response shapes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_vault import FakeVault
from llmward.secrets import (
    EnvSource,
    KubernetesAuth,
    Miss,
    SecretNotFound,
    SecretResolver,
    SecretValue,
    TokenAuth,
    VaultAuth,
    VaultError,
    VaultHttp,
    VaultRef,
    VaultSession,
    VaultSource,
)
from llmward.secrets.config import resolver_from_env

DISTINCTIVE = "s3cr3t-Zq9xWv-do-not-leak"
JWT = "eyJhbGciOiJSUzI1NiJ9.service-account.jwt"


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[FakeVault]:
    with FakeVault(tmp_path) as v:
        yield v


@pytest.fixture
def tls_vault(tmp_path: Path) -> Iterator[FakeVault]:
    with FakeVault(tmp_path, https=True) as v:
        yield v


def _http(vault: FakeVault, **kw: object) -> VaultHttp:
    if vault.addr.startswith("http://"):
        kw.setdefault("allow_http", True)
    return VaultHttp(vault.addr, **kw)  # type: ignore[arg-type]


def _source(http: VaultHttp, auth: VaultAuth, **kw: Any) -> VaultSource:
    return VaultSource(VaultSession(http, auth), **kw)


def _value(found: SecretValue | Miss) -> str:
    assert isinstance(found, SecretValue), found
    return found.reveal()


def _jwt_file(tmp_path: Path) -> Path:
    path = tmp_path / "sa-token"
    path.write_text(JWT + "\n")
    return path


def test_token_auth_reads_kv_v2_default_path_and_field(vault: FakeVault) -> None:
    token = vault.issue_token()
    vault.put("llmward/db_password", {"value": DISTINCTIVE})
    source = _source(_http(vault), TokenAuth(token))
    found = source.lookup("db_password")
    assert _value(found) == DISTINCTIVE and found.source == "vault"  # type: ignore[union-attr]
    method, path, ns, sent = vault.requests[-1]
    assert (method, path, ns, sent) == ("GET", "/v1/secret/data/llmward/db_password", None, token)


def test_explicit_ref_field_and_version(vault: FakeVault) -> None:
    token = vault.issue_token()
    vault.put("llama/prod", {"api_key": "v1-key", "other": "x"})
    vault.put("llama/prod", {"api_key": "v2-key"})
    refs = {
        "latest": VaultRef("llama/prod", "api_key"),
        "pinned": VaultRef("llama/prod", "api_key", version=1),
        "gone": VaultRef("llama/prod", "api_key", version=7),
        "nofield": VaultRef("llama/prod", "missing"),
    }
    source = _source(_http(vault), TokenAuth(token), mount="secret", refs=refs)
    assert _value(source.lookup("latest")) == "v2-key"
    assert _value(source.lookup("pinned")) == "v1-key"
    gone = source.lookup("gone")
    assert isinstance(gone, Miss) and "version 7" in gone.source and "no secret" in gone.reason
    nofield = source.lookup("nofield")
    assert isinstance(nofield, Miss) and "field 'missing' not in the secret" in nofield.reason


def test_version_query_is_sent(vault: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    token = vault.issue_token()
    vault.put("p", {"value": "a"})
    vault.put("p", {"value": "b"})
    seen: list[dict[str, str] | None] = []
    http = _http(vault)
    real = http.request

    def spy(method: str, path: str, **kw: object):  # type: ignore[no-untyped-def]
        seen.append(kw.get("query"))  # type: ignore[arg-type]
        return real(method, path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(http, "request", spy)
    source = _source(http, TokenAuth(token), refs={"x": VaultRef("p", version=1)})
    assert _value(source.lookup("x")) == "a"
    assert seen == [{"version": "1"}]


def test_namespace_header_selects_the_namespace(vault: FakeVault) -> None:
    token = vault.issue_token()
    vault.put("llmward/k", {"value": "team-a"}, ns="team-a")
    in_ns = _source(_http(vault, namespace="team-a"), TokenAuth(token))
    assert _value(in_ns.lookup("k")) == "team-a"
    assert vault.requests[-1][2] == "team-a"
    root = _source(_http(vault), TokenAuth(token))
    assert isinstance(root.lookup("k"), Miss)


def test_cache_ttl(vault: FakeVault) -> None:
    token = vault.issue_token()
    vault.put("llmward/k", {"value": "one"})
    cached = _source(_http(vault), TokenAuth(token), cache_ttl_s=60)
    assert _value(cached.lookup("k")) == "one"
    vault.put("llmward/k", {"value": "two"})
    assert _value(cached.lookup("k")) == "one"  # within the TTL
    assert len(vault.requests) == 1
    fresh = _source(_http(vault), TokenAuth(token), cache_ttl_s=0)
    assert _value(fresh.lookup("k")) == "two"


def test_bad_token_is_a_miss_naming_vault_not_the_token(vault: FakeVault) -> None:
    vault.put("llmward/k", {"value": DISTINCTIVE})
    bad = "hvs.not-a-real-token-1234"
    resolver = SecretResolver([EnvSource(environ={}), _source(_http(vault), TokenAuth(bad))])
    with pytest.raises(SecretNotFound) as info:
        resolver.get("k")
    text = str(info.value)
    assert "HTTP 403 (permission denied)" in text and "secret/data/llmward/k" in text
    assert bad not in text and DISTINCTIVE not in text
    assert len(vault.requests) == 2  # one retry after re-reading the (static) token


def test_token_file_is_reread_after_403(vault: FakeVault, tmp_path: Path) -> None:
    """Vault Agent rotates the token in its sink file; a 403 makes us pick up the new one."""
    vault.put("llmward/k", {"value": "v"})
    old = vault.issue_token()
    sink = tmp_path / "agent-token"
    sink.write_text(old + "\n")
    source = _source(_http(vault), TokenAuth(token_file=sink), cache_ttl_s=0)
    assert _value(source.lookup("k")) == "v"
    vault.tokens.discard(old)
    new = vault.issue_token()
    sink.write_text(new)
    assert _value(source.lookup("k")) == "v"
    assert [r[3] for r in vault.requests] == [old, old, new]


def test_kubernetes_auth_login_and_relogin_on_403(vault: FakeVault, tmp_path: Path) -> None:
    vault.k8s_roles[("kubernetes", "llmward")] = JWT
    vault.put("llmward/k", {"value": DISTINCTIVE})
    auth = KubernetesAuth("llmward", jwt_path=_jwt_file(tmp_path))
    source = _source(_http(vault), auth, cache_ttl_s=0)
    assert _value(source.lookup("k")) == DISTINCTIVE
    assert vault.requests[0][:2] == ("POST", "/v1/auth/kubernetes/login")
    assert vault.logins == 1
    assert _value(source.lookup("k")) == DISTINCTIVE
    assert vault.logins == 1  # the token is reused while its lease lasts
    vault.tokens.clear()  # revoked or expired server-side
    assert _value(source.lookup("k")) == DISTINCTIVE
    assert vault.logins == 2


def test_kubernetes_relogin_before_lease_ends(vault: FakeVault, tmp_path: Path) -> None:
    vault.k8s_roles[("kubernetes", "llmward")] = JWT
    vault.k8s_lease_s = 10  # inside the renewal margin: every read logs in first
    vault.put("llmward/k", {"value": "v"})
    source = _source(
        _http(vault), KubernetesAuth("llmward", jwt_path=_jwt_file(tmp_path)), cache_ttl_s=0
    )
    _value(source.lookup("k"))
    _value(source.lookup("k"))
    assert vault.logins == 2


def test_kubernetes_auth_custom_mount_and_bad_role(vault: FakeVault, tmp_path: Path) -> None:
    vault.k8s_roles[("k8s-prod", "llmward")] = JWT
    vault.put("llmward/k", {"value": "v"})
    good = KubernetesAuth("llmward", jwt_path=_jwt_file(tmp_path), mount="k8s-prod")
    assert _value(_source(_http(vault), good).lookup("k")) == "v"
    assert vault.requests[0][1] == "/v1/auth/k8s-prod/login"
    bad = KubernetesAuth("intruder", jwt_path=_jwt_file(tmp_path), mount="k8s-prod")
    miss = _source(_http(vault), bad).lookup("k")
    assert isinstance(miss, Miss)
    assert "login failed: HTTP 403" in miss.reason and JWT not in miss.reason
    missing_jwt = KubernetesAuth("llmward", jwt_path=tmp_path / "absent")
    miss = _source(_http(vault), missing_jwt).lookup("k")
    assert isinstance(miss, Miss) and "cannot read service account token file" in miss.reason


def test_tls_verified_with_ca_bundle(tls_vault: FakeVault) -> None:
    token = tls_vault.issue_token()
    tls_vault.put("llmward/k", {"value": "over-tls"})
    source = _source(VaultHttp(tls_vault.addr, ca_file=str(tls_vault.ca_file)), TokenAuth(token))
    assert _value(source.lookup("k")) == "over-tls"


def test_tls_verification_fails_without_the_ca_bundle(tls_vault: FakeVault) -> None:
    token = tls_vault.issue_token()
    tls_vault.put("llmward/k", {"value": "over-tls"})
    miss = _source(VaultHttp(tls_vault.addr), TokenAuth(token)).lookup("k")
    assert isinstance(miss, Miss)
    assert "TLS failure" in miss.reason and "CERTIFICATE_VERIFY_FAILED" in miss.reason
    assert token not in miss.reason
    assert tls_vault.requests == []  # the token never reached the server


def test_tls_verification_can_be_turned_off_only_explicitly(
    tls_vault: FakeVault, caplog: pytest.LogCaptureFixture
) -> None:
    token = tls_vault.issue_token()
    tls_vault.put("llmward/k", {"value": "unverified"})
    with caplog.at_level(logging.WARNING, logger="llmward.secrets"):
        http = VaultHttp(tls_vault.addr, verify_tls=False)
    assert "verification is OFF" in caplog.text
    assert _value(_source(http, TokenAuth(token)).lookup("k")) == "unverified"


def test_plain_http_needs_opt_in(vault: FakeVault) -> None:
    with pytest.raises(ValueError, match="http://"):
        VaultHttp(vault.addr)
    with pytest.raises(ValueError, match="http"):
        VaultHttp("ftp://vault.example")


def test_timeout(vault: FakeVault) -> None:
    token = vault.issue_token()
    vault.put("llmward/k", {"value": "slow"})
    vault.delay_s = 1.0
    miss = _source(_http(vault, timeout_s=0.2), TokenAuth(token)).lookup("k")
    assert isinstance(miss, Miss) and "timed out after 0.2s" in miss.reason


def test_slow_drip_hits_the_overall_deadline(vault: FakeVault) -> None:
    """Every read arrives within the socket timeout; the whole answer does not."""
    token = vault.issue_token()
    vault.put("llmward/k", {"value": "v"})
    vault.drip_s = 0.05  # a ~300-byte answer takes ~2 s
    start = time.monotonic()
    miss = _source(_http(vault, timeout_s=0.5), TokenAuth(token)).lookup("k")
    assert isinstance(miss, Miss) and "timed out after 0.5s" in miss.reason
    assert time.monotonic() - start < 1.5


@pytest.mark.parametrize("omit_length", [False, True])
def test_oversized_response_refused(vault: FakeVault, omit_length: bool) -> None:
    vault.omit_length = omit_length
    token = vault.issue_token()
    vault.put("llmward/k", {"value": DISTINCTIVE})
    vault.pad_bytes = 5000
    miss = _source(_http(vault, max_response_bytes=4096), TokenAuth(token)).lookup("k")
    assert isinstance(miss, Miss) and "response larger than 4096 bytes" in miss.reason
    vault.pad_bytes = 100
    assert _value(_source(_http(vault, max_response_bytes=4096), TokenAuth(token)).lookup("k"))


def test_unreachable_vault_is_a_miss(tmp_path: Path) -> None:
    with FakeVault(tmp_path) as v:
        addr = v.addr
    http = VaultHttp(addr, allow_http=True, timeout_s=1)
    miss = _source(http, TokenAuth("t")).lookup("k")
    assert isinstance(miss, Miss) and "ConnectionRefusedError" in miss.reason
    with pytest.raises(VaultError):
        http.request("GET", "sys/health")


def test_non_string_values_and_invalid_names(vault: FakeVault) -> None:
    token = vault.issue_token()
    vault.put("llmward/n", {"value": 42})
    source = _source(_http(vault), TokenAuth(token))
    miss = source.lookup("n")
    assert isinstance(miss, Miss) and "not a non-empty string" in miss.reason
    assert source.lookup("../sys/raw") == Miss(
        f"vault ({_http(vault).address})", "name is not a valid Vault path"
    )


def test_values_and_tokens_never_logged(
    vault: FakeVault, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vault.k8s_roles[("kubernetes", "llmward")] = JWT
    vault.put("llmward/k", {"value": DISTINCTIVE})
    with caplog.at_level(logging.DEBUG):
        source = _source(
            _http(vault), KubernetesAuth("llmward", jwt_path=_jwt_file(tmp_path)), cache_ttl_s=0
        )
        resolver = SecretResolver([source])
        found = resolver.get("k")
        vault.tokens.clear()
        resolver.get("k")
        with pytest.raises(SecretNotFound) as info:
            resolver.get("missing")
    issued = [r[3] for r in vault.requests if r[3]]
    assert issued
    for leaked in [DISTINCTIVE, JWT, *issued]:
        assert leaked not in caplog.text
        assert leaked not in str(info.value)
        assert leaked not in repr(found) and leaked not in repr(source._session._token)


def test_resolver_from_env_builds_a_working_vault_source(
    tls_vault: FakeVault, tmp_path: Path
) -> None:
    tls_vault.k8s_roles[("kubernetes", "app")] = JWT
    tls_vault.put("apps/llmward/hf", {"value": "hf-from-vault"}, mount="kv", ns="ns1")
    resolver = resolver_from_env(
        {
            "LLMWARD_SECRETS_DIRS": str(tmp_path / "none"),
            "VAULT_ADDR": tls_vault.addr,
            "VAULT_CACERT": str(tls_vault.ca_file),
            "VAULT_NAMESPACE": "ns1",
            "LLMWARD_VAULT_K8S_ROLE": "app",
            "LLMWARD_VAULT_K8S_JWT_PATH": str(_jwt_file(tmp_path)),
            "LLMWARD_VAULT_MOUNT": "kv",
            "LLMWARD_VAULT_PATH": "apps/llmward",
        }
    )
    assert resolver.get("hf").reveal() == "hf-from-vault"
    with pytest.raises(SecretNotFound) as info:
        resolver.get("nope")
    text = str(info.value)
    assert "environment (LLMWARD_SECRET_NOPE): not set" in text
    assert "files:" in text and "vault (https://127.0.0.1:" in text
    assert "kv/data/apps/llmward/nope" in text
