"""Manifests: llmward's format and the seed's checksums.json, verification
reports, and the verify cache (its key, its binding, its trust rules)."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from integrity_helpers import MODEL_FILES, RECORDED, sha256_hex
from llmward.integrity import hashing, verify_cache
from llmward.integrity.errors import FormatError
from llmward.integrity.hashing import hash_file
from llmward.integrity.manifest import (
    MANIFEST_NAME,
    ManifestKind,
    create_manifest,
    manifest_bytes,
    parse_manifest,
    save_manifest,
    verify_manifest,
)
from llmward.paths import data_dir


@pytest.fixture
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by the test are seconds old at most; let the cache take them."""
    monkeypatch.setattr(verify_cache, "RACY_WINDOW_NS", 0)


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the files the comparison actually read."""
    calls: list[str] = []

    def spy(path: os.PathLike[str], *args: object, **kwargs: object) -> dict[str, str]:
        calls.append(Path(path).name)
        return hash_file(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hashing, "hash_file", spy)  # what tree_check hashes with
    return calls


def write_manifest(model: Path, **kwargs: object) -> Path:
    path = model / MANIFEST_NAME
    save_manifest(create_manifest(model, path, **kwargs), path)  # type: ignore[arg-type]
    return path


def test_manifest_records_every_file_but_git_metadata_and_itself(model: Path) -> None:
    path = write_manifest(model)
    body = json.loads(path.read_text())
    assert body["format"] == "llmward-manifest/1"
    assert body["algorithms"] == ["sha256"]
    assert sorted(body["files"]) == RECORDED
    for name in RECORDED:
        assert body["files"][name] == {"sha256": sha256_hex(MODEL_FILES[name])}
    assert MANIFEST_NAME in body["ignore_paths"] and ".git" in body["ignore_paths"]


def test_unchanged_directory_verifies(model: Path) -> None:
    path = write_manifest(model)
    (model / "model.sig").write_bytes(b"a signature written after the manifest")
    manifest, report = verify_manifest(model, path)
    assert report.ok and report.matched == RECORDED
    assert manifest.kind == "llmward"


def test_mismatch_names_the_file_and_both_digests(model: Path) -> None:
    path = write_manifest(model)
    (model / "config.json").write_bytes(b'{"arch": "evil"}\n')
    _, report = verify_manifest(model, path)
    assert not report.ok
    [mismatch] = report.mismatched
    assert mismatch.path == "config.json" and mismatch.algorithm == "sha256"
    assert mismatch.expected == sha256_hex(MODEL_FILES["config.json"])
    assert mismatch.actual == sha256_hex(b'{"arch": "evil"}\n')


def test_missing_and_extra_files_are_reported(model: Path) -> None:
    path = write_manifest(model)
    (model / "a" / "b").unlink()
    (model / "tokenizer" / "added.py").write_bytes(b"import os\n")
    _, report = verify_manifest(model, path)
    assert report.missing == ["a/b"] and report.extra == ["tokenizer/added.py"]
    assert not report.ok


def test_allow_extra_still_lists_the_extra_file(model: Path) -> None:
    path = write_manifest(model)
    (model / "notes.txt").write_bytes(b"x")
    _, report = verify_manifest(model, path, allow_extra=True)
    assert report.ok and report.extra == ["notes.txt"]


def test_excluded_paths_are_recorded_and_honoured(model: Path) -> None:
    path = write_manifest(model, ignore_paths=[".git", "tokenizer"])
    assert "tokenizer/tokenizer.model" not in json.loads(path.read_text())["files"]
    (model / "tokenizer" / "new").write_bytes(b"x")
    _, report = verify_manifest(model, path)
    assert report.ok


def test_manifest_outside_the_directory(model: Path, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.json"
    save_manifest(create_manifest(model, path), path)
    _, report = verify_manifest(model, path)
    assert report.ok


# --- the seed's checksums.json --------------------------------------------------------

def test_reads_a_checksums_json_written_the_seed_way(model: Path) -> None:
    # The seed's ModelVerifier.add_model_checksum: json.dump(name -> sha256 hex, indent=2).
    checksums = {name: sha256_hex(MODEL_FILES[name]) for name in RECORDED}
    checksums["weights.bin"] = checksums["weights.bin"].upper()  # hex case is not significant
    path = model / "checksums.json"
    path.write_text(json.dumps(checksums, indent=2))
    manifest, report = verify_manifest(model, path)
    assert manifest.kind == "checksums" and report.ok

    (model / "weights.bin").write_bytes(b"swapped")
    _, report = verify_manifest(model, path)
    assert [m.path for m in report.mismatched] == ["weights.bin"]


def test_writes_the_checksums_json_format(model: Path) -> None:
    path = model / "checksums.json"
    save_manifest(create_manifest(model, path, kind="checksums"), path)
    body = json.loads(path.read_text())
    assert body == {name: sha256_hex(MODEL_FILES[name]) for name in RECORDED}
    assert verify_manifest(model, path)[1].ok


def test_checksums_format_holds_sha256_only(model: Path) -> None:
    with pytest.raises(ValueError, match="SHA-256 only"):
        create_manifest(model, model / "c.json", kind="checksums",
                        algorithms=("sha256", "blake3"))


@pytest.mark.parametrize("text, message", [
    ("not json", "not JSON"),
    ("[]", "not a JSON object"),
    ('{"a": "xyz"}', "64 hex"),
    ('{"../outside": "' + "0" * 64 + '"}', "relative path"),
    ('{"/etc/passwd": "' + "0" * 64 + '"}', "relative path"),
    ('{"format": "llmward-manifest/9", "files": {}}', "unsupported manifest format"),
    ('{"format": "llmward-manifest/1", "algorithms": ["md5"], "files": {}}', "algorithms"),
    ('{"format": "llmward-manifest/1", "algorithms": ["sha256"], '
     '"files": {"a": {"blake3": "' + "0" * 64 + '"}}}', "expected digests"),
])
def test_malformed_manifests_are_refused(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_manifest(text.encode())


def test_round_trip_of_both_formats(model: Path) -> None:
    kinds: tuple[ManifestKind, ...] = ("llmward", "checksums")
    for kind in kinds:
        manifest = create_manifest(model, model / "m.json", kind=kind)
        assert parse_manifest(manifest_bytes(manifest)).files == manifest.files


def test_blake3_is_an_optional_extra_digest(model: Path) -> None:
    path = write_manifest(model, algorithms=("sha256", "blake3"))
    body = json.loads(path.read_text())
    assert set(body["files"]["config.json"]) == {"sha256", "blake3"}
    assert verify_manifest(model, path)[1].ok
    files = body["files"]
    files["config.json"]["blake3"] = "0" * 64
    path.write_text(json.dumps(body))
    [mismatch] = verify_manifest(model, path)[1].mismatched
    assert (mismatch.path, mismatch.algorithm) == ("config.json", "blake3")


# --- the verify cache -----------------------------------------------------------------

@pytest.mark.usefixtures("no_racy_window")
def test_second_verification_reads_nothing(model: Path, hashed: list[str]) -> None:
    path = write_manifest(model)
    hashed.clear()
    first = verify_manifest(model, path, data_dir=data_dir())[1]
    assert first.ok and first.cached == 0 and len(hashed) == len(RECORDED)
    hashed.clear()
    second = verify_manifest(model, path, data_dir=data_dir())[1]
    assert second.ok and second.cached == len(RECORDED) and hashed == []


@pytest.mark.usefixtures("no_racy_window")
def test_full_ignores_the_cache(model: Path, hashed: list[str]) -> None:
    path = write_manifest(model)
    verify_manifest(model, path, data_dir=data_dir())
    hashed.clear()
    report = verify_manifest(model, path, data_dir=data_dir(), full=True)[1]
    assert report.cached == 0 and len(hashed) == len(RECORDED)


@pytest.mark.usefixtures("no_racy_window")
def test_tampering_with_restored_mtime_is_caught(model: Path) -> None:
    path = write_manifest(model)
    assert verify_manifest(model, path, data_dir=data_dir())[1].ok
    target = model / "config.json"
    before = target.stat()
    time.sleep(0.05)  # past the coarse kernel clock tick, so ctime moves
    tampered = b'{"arch": "EVIL!"}\n'
    assert len(tampered) == before.st_size
    target.write_bytes(tampered)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # what a tamperer can undo
    after = target.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns)
    report = verify_manifest(model, path, data_dir=data_dir())[1]
    assert [m.path for m in report.mismatched] == ["config.json"]


def test_stat_key_includes_ctime(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    st = (tmp_path / "f").stat()
    assert verify_cache.stat_key(st) == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                         st.st_ctime_ns)


@pytest.mark.usefixtures("no_racy_window")
def test_cache_is_bound_to_the_manifest(model: Path, tmp_path: Path, hashed: list[str]) -> None:
    path = write_manifest(model)
    verify_manifest(model, path, data_dir=data_dir())
    other = tmp_path / "other.json"  # same files, different manifest content
    save_manifest(create_manifest(model, other, ignore_paths=[".git", ".gitignore", "x"]), other)
    hashed.clear()
    report = verify_manifest(model, other, data_dir=data_dir())[1]
    assert report.ok and report.cached == 0 and len(hashed) == len(report.matched)


@pytest.mark.usefixtures("no_racy_window")
def test_a_file_that_no_longer_matches_is_not_vouched_for(model: Path) -> None:
    # The cache remembers digests, not verdicts: an entry recorded under one manifest
    # cannot vouch for a digest that manifest does not hold.
    path = write_manifest(model)
    verify_manifest(model, path, data_dir=data_dir())
    body = json.loads(path.read_text())
    body["files"]["config.json"]["sha256"] = "0" * 64
    path.write_text(json.dumps(body))
    report = verify_manifest(model, path, data_dir=data_dir())[1]
    assert [m.path for m in report.mismatched] == ["config.json"]


def test_freshly_written_files_are_not_cached(model: Path, hashed: list[str]) -> None:
    # Default racy window: a file modified within it could change again without its
    # stat key changing, so it is read every time.
    path = write_manifest(model)
    verify_manifest(model, path, data_dir=data_dir())
    hashed.clear()
    assert verify_manifest(model, path, data_dir=data_dir())[1].cached == 0
    assert len(hashed) == len(RECORDED)


@pytest.mark.usefixtures("no_racy_window")
def test_cache_in_a_directory_others_can_write_is_not_used(model: Path, tmp_path: Path) -> None:
    shared = data_dir(str(tmp_path / "shared"))
    shared.chmod(0o777)
    path = write_manifest(model)
    verify_manifest(model, path, data_dir=shared)
    report = verify_manifest(model, path, data_dir=shared)[1]
    assert report.cached == 0 and "writable by other users" in (report.cache_disabled or "")


@pytest.mark.usefixtures("no_racy_window")
def test_cache_files_are_private(model: Path) -> None:
    path = write_manifest(model)
    verify_manifest(model, path, data_dir=data_dir())
    [cache_file] = (data_dir() / "verify-cache").iterdir()
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache_file.parent.stat().st_mode) & 0o077 == 0


# --- the data directory ---------------------------------------------------------------

def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMWARD_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/is/ignored")
    assert data_dir() == tmp_path / "home" / ".local" / "share" / "llmward"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "llmward"
    monkeypatch.setenv("LLMWARD_DATA_DIR", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(str(tmp_path / "flag")) == tmp_path / "flag"
    for name in ("xdg/llmward", "env", "flag"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) & 0o077 == 0
