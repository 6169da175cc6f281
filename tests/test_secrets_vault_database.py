"""Dynamic database credentials from Vault's database secrets engine (the seed's
get_database_credentials). Vault itself cannot be installed here; tests/fake_vault.py implements
the documented ``GET /v1/<mount>/creds/<role>`` endpoint."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_vault import FakeVault
from llmward.secrets import (
    TokenAuth,
    VaultDatabaseCredentials,
    VaultError,
    VaultHttp,
    VaultSession,
)


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[FakeVault]:
    with FakeVault(tmp_path) as v:
        yield v


def _creds(vault: FakeVault, **kw: str) -> VaultDatabaseCredentials:
    http = VaultHttp(vault.addr, allow_http=True)
    return VaultDatabaseCredentials(VaultSession(http, TokenAuth(vault.issue_token())), **kw)


def test_credentials_issued_and_reused_within_the_lease(
    vault: FakeVault, caplog: pytest.LogCaptureFixture
) -> None:
    vault.db_roles.add(("database", "llama-app"))
    creds = _creds(vault)
    with caplog.at_level(logging.DEBUG):
        first = creds.get("llama-app")
        again = creds.get("llama-app")
    username, password = vault.db_issued[0]
    assert first.username == username and first.password.reveal() == password
    assert first.lease_duration_s == 3600 and first.lease_id.startswith("database/creds/llama-app/")
    assert again is first and len(vault.db_issued) == 1
    assert password not in repr(first) and password not in caplog.text


def test_new_credentials_before_the_lease_ends(vault: FakeVault) -> None:
    vault.db_roles.add(("db-prod", "app"))
    vault.db_lease_s = 30  # inside the renewal margin
    creds = _creds(vault, mount="db-prod")
    first, second = creds.get("app"), creds.get("app")
    assert first.username != second.username and len(vault.db_issued) == 2


def test_unknown_role_is_an_error_naming_the_role(vault: FakeVault) -> None:
    with pytest.raises(VaultError, match=r"database/creds/nobody: HTTP 404") as info:
        _creds(vault).get("nobody")
    assert info.value.status == 404
