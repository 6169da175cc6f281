"""Several threads and several processes on one key store; bootstrap happens once."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from llmward.auth import KeyInputError, bootstrap_admin_key, open_key_store

CHILD = """
import sys
from pathlib import Path
from llmward.auth import open_key_store, bootstrap_admin_key
store = open_key_store(Path(sys.argv[1]))
admin = bootstrap_admin_key(store)
made = [store.create("child" + sys.argv[2], "user")[0] for _ in range(int(sys.argv[3]))]
ok = sum(store.authenticate(k) is not None for k in made)
print(ok, "admin" if admin else "-")
"""


def test_threads_create_and_authenticate(tmp_path: Path) -> None:
    store = open_key_store(tmp_path)

    def work(n: int) -> list[str]:
        made = [store.create(f"user{n}", "user")[0] for _ in range(20)]
        assert all(store.authenticate(k) is not None for k in made)
        return made

    with ThreadPoolExecutor(8) as pool:
        keys = [k for batch in pool.map(work, range(8)) for k in batch]
    assert len(set(keys)) == 160 and len(store.list()) == 160
    store.close()


def test_revocation_seen_across_threads(tmp_path: Path) -> None:
    store = open_key_store(tmp_path)
    plaintext, record = store.create("alice", "user")
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(store.authenticate, plaintext).result() is not None
        store.revoke(record.key_id)
        assert pool.submit(store.authenticate, plaintext).result() is None


def test_two_processes(tmp_path: Path) -> None:
    # Children import the llmward this test imports (installed, or via the inherited PYTHONPATH).
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), str(n), "40"],
                                 stdout=subprocess.PIPE, text=True) for n in range(2)]
    outputs = [child.communicate(timeout=120)[0].split() for child in children]
    assert [child.returncode for child in children] == [0, 0]
    assert [int(out[0]) for out in outputs] == [40, 40]
    assert sorted(out[1] for out in outputs) == ["-", "admin"]  # one process bootstrapped
    records = open_key_store(tmp_path).list()
    assert len(records) == 81 and sum(r.role == "admin" for r in records) == 1


def test_bootstrap_once(tmp_path: Path) -> None:
    store = open_key_store(tmp_path)
    plaintext = bootstrap_admin_key(store)
    assert plaintext is not None
    record = store.authenticate(plaintext)
    assert record is not None and record.role == "admin"
    assert bootstrap_admin_key(store) is None
    store.revoke(record.key_id)
    assert bootstrap_admin_key(store) is None  # first start only, even once revoked
    assert [r.role for r in store.list()] == ["admin"]


def test_bootstrap_from_a_secret(tmp_path: Path) -> None:
    donor = open_key_store(tmp_path / "donor")
    given, _ = donor.create("x", "admin")  # a well-formed key, as an operator would store
    store = open_key_store(tmp_path)
    assert bootstrap_admin_key(store, given) is None  # nothing to print: the operator has it
    record = store.authenticate(given)
    assert record is not None and record.role == "admin" and record.key_id == given[3:27]
    assert bootstrap_admin_key(store, given) is None
    assert len(store.list()) == 1


@pytest.mark.parametrize("value", ["", "hunter2", "lw_short_secret", "x" * 71])
def test_bootstrap_refuses_a_malformed_secret_without_quoting_it(tmp_path: Path,
                                                                 value: str) -> None:
    store = open_key_store(tmp_path)
    with pytest.raises(KeyInputError) as error:
        bootstrap_admin_key(store, value)
    assert not value or value not in str(error.value)
    assert store.list() == []


def test_bootstrap_is_not_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    with caplog.at_level("DEBUG"):
        plaintext = bootstrap_admin_key(open_key_store(tmp_path))
    assert plaintext is not None
    assert plaintext not in caplog.text
    captured = capsys.readouterr()
    assert plaintext not in captured.out + captured.err


def test_bootstrap_secret_with_a_used_key_id_is_refused(tmp_path: Path) -> None:
    store = open_key_store(tmp_path)
    taken, _ = store.create("alice", "user")
    with pytest.raises(KeyInputError, match="already in use") as error:
        bootstrap_admin_key(store, taken)
    assert taken not in str(error.value)
    assert [r.role for r in store.list()] == ["user"]
