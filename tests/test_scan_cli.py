"""`llmward scan`: the guard's packs over files and directories, without ever printing a
matched value; the allowlist; what is skipped; exit codes (0 clean, 1 findings, 2 errors).

The fake credentials are assembled at run time, so this file holds none for `make
secret-scan` to find."""

import json
import os
from pathlib import Path

import pytest

from llmward import Guard, GuardConfig
from llmward.cli import main
from llmward.filescan.allowlist import glob_pattern, load
from llmward.filescan.locate import LineIndex, masked_excerpt
from llmward.guard.packs import default_rules

REPO = Path(__file__).resolve().parent.parent
GITHUB_TOKEN = "ghp" + "_" + "Zq8Lm2Xv7Rt4Ws1Yp6Nb3Kc9Hd5Jf0Ga2Ue8"  # 36 after the prefix
PASSWORD_LINE = "db_password = " + '"Tr0ub4dor&3-xyzzy"'


def scan(capsys, *argv):
    code = main(["scan", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_finding_in_a_file_is_located_and_masked(tmp_path, capsys):
    leaky = write(tmp_path / "app.py", f"import os\n\ngh = '{GITHUB_TOKEN}'\n")
    code, out, err = scan(capsys, "--secrets", leaky)
    assert code == 1
    assert out == f"{leaky.as_posix()}:3:7 secret.github_token secret.github_token " \
                  "ghp_... (40 chars)\n"
    assert GITHUB_TOKEN not in out + err
    assert "1 files scanned, 1 findings" in err


def test_clean_files_exit_0(tmp_path, capsys):
    clean = write(tmp_path / "notes.md", "nothing to see here\n" * 50)
    code, out, err = scan(capsys, "--secrets", clean)
    assert (code, out) == (0, "")
    assert "1 files scanned, 0 findings" in err


def test_directory_walk_skips_generated_folders_and_symlinks(tmp_path, capsys):
    tree = tmp_path / "repo"
    write(tree / "src" / "deep" / "config.toml", f"[auth]\n{PASSWORD_LINE}\n")
    for skipped in (".git/config", ".venv/lib/site.py", "build/out.txt", "node_modules/x.js",
                    "pkg.egg-info/PKG-INFO", "__pycache__/m.txt"):
        write(tree / skipped, f"{GITHUB_TOKEN}\n")
    outside = write(tmp_path / "outside.txt", f"{GITHUB_TOKEN}\n")
    (tree / "link.txt").symlink_to(outside)
    os.mkfifo(tree / "pipe")  # opening it would block: a walk passes it over
    code, out, err = scan(capsys, "--secrets", tree)
    assert code == 1
    assert out.splitlines() == [f"{(tree / 'src/deep/config.toml').as_posix()}:2:4 "
                                "secret.assignment secret.generic pass... (29 chars)"]
    assert "Tr0ub4dor" not in out + err and GITHUB_TOKEN not in out + err


def test_json_report(tmp_path, capsys):
    leaky = write(tmp_path / "a.txt", f"x\n  {GITHUB_TOKEN}\n")
    write(tmp_path / "blob.bin", "\0\0")
    code, out, _ = scan(capsys, "--secrets", "--json", tmp_path)
    report = json.loads(out)
    assert code == 1
    assert report["findings"] == [{
        "path": leaky.as_posix(), "line": 2, "column": 3, "rule": "secret.github_token",
        "category": "secret.github_token", "excerpt": "ghp_... (40 chars)"}]
    assert report["skipped"] == [{"path": (tmp_path / "blob.bin").as_posix(),
                                  "reason": "binary"}]
    assert (report["files_scanned"], report["allowlisted"], report["errors"]) == (1, 0, [])
    assert GITHUB_TOKEN not in out


def test_packs_choose_the_rules(tmp_path, capsys):
    mixed = write(tmp_path / "m.txt", f"mail alice@example.org\n{GITHUB_TOKEN}\n")
    _, secrets_only, _ = scan(capsys, "--secrets", mixed)
    _, pii_only, _ = scan(capsys, "--packs", "pii", mixed)
    _, every_pack, _ = scan(capsys, mixed)
    assert [line.split()[2] for line in secrets_only.splitlines()] == ["secret.github_token"]
    assert [line.split()[2] for line in pii_only.splitlines()] == ["pii.email"]
    assert {"pii.email", "secret.github_token"} <= {
        line.split()[2] for line in every_pack.splitlines()}
    assert "alice@example.org" not in pii_only


def test_binary_files_are_skipped_and_latin1_is_read(tmp_path, capsys):
    binary = tmp_path / "image.bin"
    binary.write_bytes(b"\x89PNG\0\0" + GITHUB_TOKEN.encode())
    latin1 = tmp_path / "legacy.txt"
    latin1.write_bytes("caf\xe9 ".encode("latin-1") + GITHUB_TOKEN.encode() + b"\n")
    code, out, err = scan(capsys, "--secrets", binary, latin1)
    assert code == 1
    assert out.startswith(f"{latin1.as_posix()}:1:6 secret.github_token")
    assert f"skipped {binary.as_posix()} (binary)" in err


def test_oversize_files_are_skipped_with_a_note(tmp_path, capsys):
    text = f"{GITHUB_TOKEN}\n"
    at_limit = write(tmp_path / "small.txt", text)
    over = write(tmp_path / "large.txt", text + "x")
    code, out, err = scan(capsys, "--secrets", "--max-bytes", len(text), at_limit, over)
    assert code == 1
    assert out.startswith(f"{at_limit.as_posix()}:1:1 ")
    assert f"skipped {over.as_posix()} (over {len(text)} bytes)" in err
    assert scan(capsys, "--secrets", "--max-bytes", len(text), over)[0] == 0


def test_allowlist_covers_paths_and_rules(tmp_path, capsys):
    root = tmp_path / "repo"
    write(root / "tests" / "fixtures" / "keys.txt", f"{GITHUB_TOKEN}\n{PASSWORD_LINE}\n")
    write(root / "tests" / "top.txt", f"{GITHUB_TOKEN}\n")
    write(root / "src" / "app.py", f"{GITHUB_TOKEN}\n")
    allowlist = write(root / ".allow", "# fixtures\n"
                                       "tests/**/keys.txt secret.github_token  # only this rule\n"
                                       "tests/*.txt\n"
                                       "docs/** secret\n")
    code, out, err = scan(capsys, "--secrets", "--allowlist", allowlist, root)
    assert code == 1
    assert [line.split()[0].split(":")[0] for line in out.splitlines()] == [
        (root / "src/app.py").as_posix(), (root / "tests/fixtures/keys.txt").as_posix()]
    assert "secret.assignment" in out  # the entry for keys.txt names only github_token
    assert "2 allowlisted" in err
    assert "allowlist line 4 (docs/**) matched nothing" in err


def test_allowlist_paths_are_relative_to_its_file(tmp_path, capsys, monkeypatch):
    root = tmp_path / "repo"
    leaky = write(root / "tests" / "k.txt", f"{GITHUB_TOKEN}\n")
    allowlist = write(root / "allow.txt", "tests/k.txt\n")
    monkeypatch.chdir(root / "tests")  # the scan's own paths are relative to another folder
    assert scan(capsys, "--secrets", "--allowlist", allowlist, "k.txt")[0] == 0
    other = write(tmp_path / "elsewhere" / "tests" / "k.txt", leaky.read_text())
    assert scan(capsys, "--secrets", "--allowlist", allowlist, other)[0] == 1


@pytest.mark.parametrize("content, message", [
    ("tests/x.py secret.no_such_rule\n", "unknown rule id or category 'secret.no_such_rule'"),
    ("/etc/passwd\n", "must be relative"),
    ("tests/../src/*.py\n", "must be relative"),
])
def test_malformed_allowlist_is_a_usage_error(tmp_path, capsys, content, message):
    allowlist = write(tmp_path / "allow", "# ok\n" + content)
    target = write(tmp_path / "t.txt", "clean\n")
    code, out, err = scan(capsys, "--secrets", "--allowlist", allowlist, target)
    assert (code, out) == (2, "")
    assert f"allowlist {allowlist}:2: " in err and message in err


def test_usage_errors(tmp_path, capsys):
    target = write(tmp_path / "t.txt", "clean\n")
    code, _, err = scan(capsys, "--secrets", tmp_path / "missing.txt")
    assert code == 2 and "missing.txt: no such file or directory" in err
    assert scan(capsys, "--secrets", "--allowlist", tmp_path / "none", target)[0] == 2
    assert scan(capsys, "--packs", "secrets,bogus", target)[0] == 2
    assert scan(capsys, "--secrets", "--max-bytes", "0", target)[0] == 2
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, _, err = scan(capsys, "--secrets", fifo)
    assert code == 2 and "not a regular file or directory" in err
    with pytest.raises(SystemExit) as exit_info:  # argparse: the two pack options exclude
        main(["scan", "--secrets", "--packs", "pii", str(target)])
    assert exit_info.value.code == 2


def test_guard_scan_reports_offsets_in_the_text_as_is():
    guard = Guard(GuardConfig(packs=frozenset({"secrets"})))
    prefix = "<b>\x00 " + "x" * 10_000 + " "  # not sanitized, not limited by max_chars
    findings = guard.scan(prefix + GITHUB_TOKEN)
    assert [(f.rule, f.start, f.end) for f in findings] == [
        ("secret.github_token", len(prefix), len(prefix) + len(GITHUB_TOKEN))]
    assert guard.scan("nothing") == []


def test_line_index_and_masking():
    index = LineIndex("ab\ncd\n\nef")
    assert [index.line_col(i) for i in (0, 1, 3, 6, 7, 8)] == [
        (1, 1), (1, 2), (2, 1), (3, 1), (4, 1), (4, 2)]
    assert masked_excerpt(GITHUB_TOKEN) == "ghp_... (40 chars)"
    assert masked_excerpt("abc") == "... (3 chars)"
    assert masked_excerpt("k\ney12345") == "k?... (9 chars)"


def test_glob_semantics():
    assert glob_pattern("tests/*.py").fullmatch("tests/a.py")
    assert not glob_pattern("tests/*.py").fullmatch("tests/sub/a.py")
    assert glob_pattern("tests/**/a.py").fullmatch("tests/a.py")
    assert glob_pattern("tests/**/a.py").fullmatch("tests/x/y/a.py")
    assert glob_pattern("tests/**").fullmatch("tests/x/y/a.py")
    assert not glob_pattern("tests/?.py").fullmatch("tests/ab.py")
    assert not glob_pattern("a.py").fullmatch("xa.py")


def test_repository_allowlist_lists_only_existing_test_fixtures():
    names = {n for spec in default_rules() for n in (spec.id, spec.category)}
    allowlist = load(REPO / ".llmward-scan-allowlist",
                     lambda n: any(x == n or x.startswith(n + ".") for x in names))
    assert allowlist.entries
    for entry in allowlist.entries:
        assert entry.glob.startswith("tests/"), entry
        assert any(entry.pattern.fullmatch(p.relative_to(REPO).as_posix())
                   for p in REPO.glob(entry.glob)), f"{entry.glob} matches no file"


def test_a_folder_that_cannot_be_listed_makes_the_scan_incomplete(tmp_path, capsys,
                                                                   monkeypatch):
    write(tmp_path / "ok.txt", "clean\n")
    write(tmp_path / "locked" / "k.txt", f"{GITHUB_TOKEN}\n")
    real_scandir = os.scandir

    def scandir(path):  # root reads any folder: simulate the refusal
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, out, err = scan(capsys, "--secrets", tmp_path)
    assert (code, out) == (2, "")
    assert f"{tmp_path / 'locked'}: cannot list: Permission denied" in err
