"""Environment and file sources, precedence, and the default resolver's configuration."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from llmward.secrets import (
    EnvSource,
    FileSource,
    Miss,
    SecretNotFound,
    SecretResolver,
    SecretValue,
    VaultSource,
    env_var_name,
)
from llmward.secrets import file_source as file_source_mod
from llmward.secrets.config import resolver_from_env

DISTINCTIVE = "s3cr3t-Zq9xWv-do-not-leak"


def _value(found: SecretValue | Miss) -> str:
    assert isinstance(found, SecretValue), found
    return found.reveal()


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


# --- environment ---------------------------------------------------------------------------


def test_env_name_mapping_and_explicit_map(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_var_name("db-password") == "LLMWARD_SECRET_DB_PASSWORD"
    assert env_var_name("hf.token") == "LLMWARD_SECRET_HF_TOKEN"
    monkeypatch.setenv("LLMWARD_SECRET_DB_PASSWORD", "pw")
    monkeypatch.setenv("HF_TOKEN", "hf")
    source = EnvSource({"hf_token": "HF_TOKEN"})
    assert _value(source.lookup("db-password")) == "pw"
    assert _value(source.lookup("hf_token")) == "hf"
    assert source.lookup("db-password").source == "environment"  # type: ignore[union-attr]


def test_env_reads_the_environment_at_lookup_time(monkeypatch: pytest.MonkeyPatch) -> None:
    source = EnvSource()
    assert source.lookup("late") == Miss("environment (LLMWARD_SECRET_LATE)", "not set")
    monkeypatch.setenv("LLMWARD_SECRET_LATE", "now")
    assert _value(source.lookup("late")) == "now"


def test_env_empty_is_a_miss_and_prefix_is_configurable() -> None:
    source = EnvSource(prefix="APP_", environ={"APP_X": "", "APP_Y": "y"})
    assert source.lookup("x") == Miss("environment (APP_X)", "set but empty")
    assert _value(source.lookup("y")) == "y"


# --- files ---------------------------------------------------------------------------------


def test_file_strips_exactly_one_trailing_newline(tmp_path: Path) -> None:
    _write(tmp_path / "a", "value\n")
    _write(tmp_path / "b", "value\n\n")
    _write(tmp_path / "c", "value\r\n")
    _write(tmp_path / "d", "  spaced  ")
    source = FileSource([tmp_path])
    assert _value(source.lookup("a")) == "value"
    assert _value(source.lookup("b")) == "value\n"
    assert _value(source.lookup("c")) == "value"
    assert _value(source.lookup("d")) == "  spaced  "


def test_file_directories_searched_in_order(tmp_path: Path) -> None:
    docker, k8s = tmp_path / "run-secrets", tmp_path / "k8s"
    docker.mkdir()
    k8s.mkdir()
    _write(k8s / "both", "from-k8s")
    _write(k8s / "only_k8s", "k8s-only")
    _write(docker / "both", "from-docker")
    source = FileSource([docker, k8s])
    assert _value(source.lookup("both")) == "from-docker"
    assert _value(source.lookup("only_k8s")) == "k8s-only"
    miss = source.lookup("nowhere")
    assert isinstance(miss, Miss)
    assert f"{docker / 'nowhere'}: no such file" in miss.reason
    assert f"{k8s / 'nowhere'}: no such file" in miss.reason


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "..data", ".hidden", "", "x..y"])
def test_file_rejects_names_that_are_not_one_path_component(tmp_path: Path, name: str) -> None:
    (tmp_path / "a").mkdir()
    _write(tmp_path / "a" / "b", "nested")
    _write(tmp_path / "x..y", "dots")
    assert FileSource([tmp_path]).lookup(name) == Miss("files", "name is not a valid file name")


def test_file_refusals(tmp_path: Path) -> None:
    _write(tmp_path / "writable", "v", 0o606)
    _write(tmp_path / "empty", "\n")
    _write(tmp_path / "big", "x" * 100)
    (tmp_path / "adir").mkdir()
    (tmp_path / "binary").write_bytes(b"\xff\xfe")
    (tmp_path / "binary").chmod(0o600)
    source = FileSource([tmp_path], max_bytes=50)
    reasons = {n: source.lookup(n) for n in ("writable", "empty", "big", "adir", "binary")}
    assert all(isinstance(m, Miss) for m in reasons.values())
    assert "refused: writable by others" in reasons["writable"].reason  # type: ignore[union-attr]
    assert reasons["empty"].reason.endswith(": empty")  # type: ignore[union-attr]
    assert "larger than 50 bytes" in reasons["big"].reason  # type: ignore[union-attr]
    assert "not a regular file" in reasons["adir"].reason  # type: ignore[union-attr]
    assert "not UTF-8 text" in reasons["binary"].reason  # type: ignore[union-attr]


def test_group_readable_warns_once_by_default_and_is_refused_when_strict(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path / "shared", DISTINCTIVE, 0o644)
    with caplog.at_level(logging.WARNING, logger="llmward.secrets"):
        source = FileSource([tmp_path])
        assert _value(source.lookup("shared")) == DISTINCTIVE
        os.utime(path, ns=(1, 1))  # force a re-read: still warned only once
        assert _value(source.lookup("shared")) == DISTINCTIVE
    warnings = [r for r in caplog.records if "readable by group or others" in r.getMessage()]
    assert len(warnings) == 1 and "mode 644" in warnings[0].getMessage()
    assert DISTINCTIVE not in caplog.text
    strict = FileSource([tmp_path], strict_permissions=True)
    miss = strict.lookup("shared")
    assert isinstance(miss, Miss) and "refused: readable by group or others" in miss.reason
    path.chmod(0o600)
    assert _value(strict.lookup("shared")) == DISTINCTIVE


def test_file_unchanged_is_served_from_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "k", "v1")
    source = FileSource([tmp_path])
    opens: list[object] = []
    real_open = os.open

    def counting_open(path: object, *args: object, **kwargs: object) -> int:
        opens.append(path)
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(file_source_mod.os, "open", counting_open)
    for _ in range(3):
        assert _value(source.lookup("k")) == "v1"
    assert len(opens) == 1


def test_file_replaced_with_same_size_and_mtime_is_reread(tmp_path: Path) -> None:
    """A replacement keeping size and mtime (as an atomic rename of a prepared file can) is
    still seen: the inode differs."""
    path = _write(tmp_path / "k", "old-value")
    source = FileSource([tmp_path])
    assert _value(source.lookup("k")) == "old-value"
    before = os.stat(path)
    new = _write(tmp_path / "k.tmp", "new-value")
    os.utime(new, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(new, path)
    assert os.stat(path).st_mtime_ns == before.st_mtime_ns
    assert _value(source.lookup("k")) == "new-value"


def test_file_rewritten_in_place_is_reread(tmp_path: Path) -> None:
    path = _write(tmp_path / "k", "one")
    source = FileSource([tmp_path])
    assert _value(source.lookup("k")) == "one"
    st = os.stat(path)
    path.write_text("two")  # same inode, same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert _value(source.lookup("k")) == "two"


def _k8s_volume(mount: Path, stamp: str, files: dict[str, str]) -> None:
    """Lay out a secret volume the way the kubelet does: <mount>/..<stamp>/<key> holds the data,
    <mount>/..data -> ..<stamp>, and <mount>/<key> -> ..data/<key>. A new <stamp> is swapped in
    by renaming a fresh symlink over ..data."""
    data_dir = mount / f"..{stamp}"
    data_dir.mkdir(parents=True)
    for key, text in files.items():
        _write(data_dir / key, text, 0o644)
    tmp_link = mount / "..data_tmp"
    tmp_link.symlink_to(data_dir.name)
    os.replace(tmp_link, mount / "..data")
    for key in files:
        if not (mount / key).is_symlink():
            (mount / key).symlink_to(Path("..data") / key)


def test_kubernetes_data_symlink_swap_is_detected(tmp_path: Path) -> None:
    mount = tmp_path / "etc-secrets"
    _k8s_volume(mount, "2026_01_01_00_00_00.1", {"api_key": "first-key"})
    source = FileSource([mount])
    assert _value(source.lookup("api_key")) == "first-key"
    # Same length and the same mtime as the old file: only (dev, inode) tell them apart.
    old = os.stat(mount / "api_key")
    _k8s_volume(mount, "2026_01_01_00_01_00.2", {"api_key": "other-key"})
    os.utime(mount / "api_key", ns=(old.st_atime_ns, old.st_mtime_ns))
    assert _value(source.lookup("api_key")) == "other-key"
    # The kubelet then removes the old timestamped directory; lookups keep working.
    for f in (mount / "..2026_01_01_00_00_00.1").iterdir():
        f.unlink()
    (mount / "..2026_01_01_00_00_00.1").rmdir()
    assert _value(source.lookup("api_key")) == "other-key"
    # The kubelet's own entries are not secrets.
    assert isinstance(source.lookup("..data"), Miss)


# --- precedence and configuration ----------------------------------------------------------


class _Fixed:
    def __init__(self, label: str, values: dict[str, str]) -> None:
        self.label, self.values, self.asked = label, values, 0

    def lookup(self, name: str) -> SecretValue | Miss:
        self.asked += 1
        if name in self.values:
            return SecretValue(name, self.values[name], self.label)
        return Miss(self.label, "absent")


def test_precedence_first_source_wins_and_later_ones_are_not_asked(tmp_path: Path) -> None:
    _write(tmp_path / "both", "from-file")
    _write(tmp_path / "file_only", "file-value")
    later = _Fixed("vault", {"both": "from-vault", "vault_only": "vault-value"})
    resolver = SecretResolver(
        [EnvSource(environ={"LLMWARD_SECRET_BOTH": "from-env"}), FileSource([tmp_path]), later]
    )
    assert resolver.get("both").reveal() == "from-env"
    assert resolver.get("both").source == "environment"
    assert resolver.get("file_only").reveal() == "file-value"
    assert later.asked == 0
    assert resolver.get("vault_only").reveal() == "vault-value"
    assert later.asked == 1


def test_default_resolver_from_env_order_and_directories(tmp_path: Path) -> None:
    _write(tmp_path / "tok", "file-tok")
    resolver = resolver_from_env({"LLMWARD_SECRETS_DIRS": str(tmp_path)})
    kinds = [type(s) for s in resolver.sources]
    assert kinds == [EnvSource, FileSource]
    assert resolver.get("tok").reveal() == "file-tok"
    with_vault = resolver_from_env({"VAULT_ADDR": "https://vault.example:8200", "VAULT_TOKEN": "t"})
    assert [type(s) for s in with_vault.sources] == [EnvSource, FileSource, VaultSource]


def test_default_resolver_config_errors() -> None:
    with pytest.raises(ValueError, match="no Vault auth"):
        resolver_from_env({"VAULT_ADDR": "https://vault.example"})
    with pytest.raises(ValueError, match="http://"):
        resolver_from_env({"VAULT_ADDR": "http://vault.example", "VAULT_TOKEN": "t"})
    with pytest.raises(ValueError, match="VAULT_CLIENT_TIMEOUT"):
        resolver_from_env(
            {"VAULT_ADDR": "https://v", "VAULT_TOKEN": "t", "VAULT_CLIENT_TIMEOUT": "soon"}
        )


def test_module_level_secret_uses_default_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmward import secrets as lw_secrets

    monkeypatch.setenv("LLMWARD_SECRET_GLOBAL_ONE", DISTINCTIVE)
    monkeypatch.setenv("LLMWARD_SECRETS_DIRS", "/nonexistent-llmward-test")
    lw_secrets.set_default_resolver(None)
    try:
        assert lw_secrets.secret("global_one").reveal() == DISTINCTIVE
        with pytest.raises(SecretNotFound, match="/nonexistent-llmward-test/absent"):
            lw_secrets.secret("absent")
    finally:
        lw_secrets.set_default_resolver(None)


def test_checks_apply_to_the_file_opened_not_the_one_stat_saw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file swapped between the stat and the open is judged on what was opened."""
    path = _write(tmp_path / "k", "good")
    evil = _write(tmp_path / "evil", "evil", 0o666)
    evil.chmod(0o666)
    real_open = os.open

    def swapping_open(p: object, *args: object, **kwargs: object) -> int:
        os.replace(evil, path)
        return real_open(p, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(file_source_mod.os, "open", swapping_open)
    miss = FileSource([tmp_path]).lookup("k")
    assert isinstance(miss, Miss) and "refused: writable by others" in miss.reason
