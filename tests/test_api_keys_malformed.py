"""Malformed, unknown and wrong keys are all refused, through the same code path: one
lookup, one digest comparison (against a dummy digest when there is no real one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmward.auth import SqliteKeyStore
from llmward.auth import keys as keys_module
from llmward.auth.key_format import KEY_CHARS, parse


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteKeyStore:
    return SqliteKeyStore(tmp_path_factory.mktemp("keys") / "keys.sqlite3")


@pytest.fixture(scope="module")
def valid(store: SqliteKeyStore) -> str:
    return store.create("alice", "user")[0]


def shapes(valid: str) -> list[str]:
    key_id, secret = valid[3:27], valid[28:]
    return [
        "", "lw_", "lw__", "_", " ", "\x00" * KEY_CHARS, "x" * KEY_CHARS, "x" * 10_000_000,
        valid[:-1], valid + "A", " " + valid[1:], valid[:-1] + " ", valid.upper(),
        "LW_" + valid[3:], "lx_" + valid[3:], valid[:27] + "-" + secret,
        f"lw_{key_id}_{secret[:-1]}\u00e9", f"lw_{key_id[:-1]}\u00e9_{secret}",
        f"lw_{key_id}_{secret[:-1]}=", f"lw_{key_id}_{secret[:-1]}+",
        f"lw_{key_id.upper()}_{secret}", f"lw_{secret}_{key_id}", f"{valid}\n",
        f"Bearer {valid}", "lw_" + key_id + "_" + "\U0001f600" * 43, "\ud800" * KEY_CHARS,
        valid.replace("_", "-"), f"lw_{key_id}_" + secret[:21], valid[: KEY_CHARS - 2],
    ]


def test_valid_key_is_accepted(store: SqliteKeyStore, valid: str) -> None:
    assert store.authenticate(valid) is not None


def test_malformed_shapes_are_refused(store: SqliteKeyStore, valid: str) -> None:
    for shape in shapes(valid):
        assert store.authenticate(shape) is None, repr(shape[:80])


def test_wrong_secret_and_unknown_id_refused(store: SqliteKeyStore, valid: str) -> None:
    flipped = valid[:-1] + ("A" if valid[-1] != "A" else "B")
    assert store.authenticate(flipped) is None
    assert store.authenticate("lw_" + "0" * 24 + valid[27:]) is None


def test_non_string_is_refused(store: SqliteKeyStore) -> None:
    for value in (None, b"lw_", 42):
        assert store.authenticate(value) is None  # type: ignore[arg-type]


@given(st.text(max_size=200))
def test_arbitrary_text_is_refused(store: SqliteKeyStore, text: str) -> None:
    assert store.authenticate(text) is None


def test_parse_reads_a_bounded_prefix(valid: str) -> None:
    assert parse(valid).well_formed
    huge = parse(valid + "x" * 10_000_000)
    assert not huge.well_formed and len(huge.secret) == len(parse(valid).secret)


class Spy:
    """Records every compare_digest call the store makes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[bytes, bytes]] = []
        real = keys_module.compare_digest

        def spy(a: Any, b: Any) -> bool:
            self.calls.append((a, b))
            return real(a, b)

        monkeypatch.setattr(keys_module, "compare_digest", spy)


def test_every_class_takes_one_lookup_and_one_comparison(
        store: SqliteKeyStore, valid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    store.authenticate(valid)  # sets last_used_at now, so the valid case below does no write
    dummy = store._dummy_digest
    statements: list[str] = []
    store._db().set_trace_callback(statements.append)
    try:
        cases = {
            "valid": valid,
            "wrong secret": valid[:-1] + ("A" if valid[-1] != "A" else "B"),
            "unknown id": "lw_" + "0" * 24 + valid[27:],
            "malformed": "nonsense",
            "empty": "",
            "huge": "y" * 1_000_000,
        }
        for name, presented in cases.items():
            spy.calls.clear()
            statements.clear()
            store.authenticate(presented)
            assert len(spy.calls) == 1, name
            # The same one-row lookup for every class, valid or not: no second query.
            assert statements[0].startswith("SELECT k.key_id IS NOT NULL"), name
            assert len(statements) == 1, name
            real_digest = spy.calls[0][1]
            if name in ("unknown id", "malformed", "empty", "huge"):
                assert real_digest == dummy, name  # compared against the dummy digest
            else:
                assert real_digest != dummy, name
    finally:
        store._db().set_trace_callback(None)


def test_dummy_digest_is_per_store_and_random(tmp_path: Path) -> None:
    one = SqliteKeyStore(tmp_path / "a.sqlite3")
    two = SqliteKeyStore(tmp_path / "b.sqlite3")
    assert one._dummy_digest != two._dummy_digest and len(one._dummy_digest) == 32
