"""SecretValue never shows its value; the resolver's errors and logs never hold values."""

from __future__ import annotations

import copy
import logging
import pickle
import traceback

import pytest

from llmward.secrets import (
    EnvSource,
    FileSource,
    SecretNotFound,
    SecretResolver,
    SecretsMissing,
    SecretValue,
)

DISTINCTIVE = "s3cr3t-Zq9xWv-do-not-leak"


def test_value_hidden_from_every_text_conversion() -> None:
    v = SecretValue("db_password", DISTINCTIVE)
    texts = [
        repr(v),
        str(v),
        f"{v}",
        f"{v!r}",
        f"{v:>40}",
        "%s %r" % (v, v),  # noqa: UP031  (the %-operator path is what is tested)
        repr([v]),
        repr({"k": v}),
        "{}".format(v),  # noqa: UP032  (str.format calls __format__)
    ]
    for text in texts:
        assert DISTINCTIVE not in text
    assert repr(v) == "SecretValue('db_password', ****)"
    assert v.reveal() == DISTINCTIVE
    assert v.reveal_bytes() == DISTINCTIVE.encode()


def test_pickle_refused_and_unhashable() -> None:
    v = SecretValue("n", DISTINCTIVE)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(v, protocol=protocol)
    with pytest.raises(TypeError):
        hash(v)
    assert copy.copy(v).reveal() == DISTINCTIVE  # copying in-process is fine
    assert copy.deepcopy({"k": v})["k"].reveal() == DISTINCTIVE


def test_constant_time_comparisons(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    v = SecretValue("n", "abc")
    assert v == "abc" and v.equals(b"abc") and v == SecretValue("m", "abc")
    assert not v.equals("abd") and v != "ab"
    assert len(calls) == 5
    assert (v == 3) is False  # other types are not equal


def test_logging_a_secret_shows_the_mask(caplog: pytest.LogCaptureFixture) -> None:
    v = SecretValue("api_key", DISTINCTIVE)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("anything").warning("value is %s / %r", v, v)
    assert "SecretValue('api_key', ****)" in caplog.text
    assert DISTINCTIVE not in caplog.text


def test_missing_secret_error_lists_every_source_and_reason(tmp_path) -> None:
    (tmp_path / "other").write_text(DISTINCTIVE)
    resolver = SecretResolver(
        [EnvSource(environ={"LLMWARD_SECRET_OTHER": DISTINCTIVE}), FileSource([tmp_path])]
    )
    with pytest.raises(SecretNotFound) as info:
        resolver.get("db-password")
    text = str(info.value)
    assert "secret 'db-password' not found" in text
    assert "environment (LLMWARD_SECRET_DB_PASSWORD): not set" in text
    assert f"files: {tmp_path / 'db-password'}: no such file" in text
    assert text.index("environment") < text.index("files:")  # in the order tried
    assert [m.source for m in info.value.misses] == [
        "environment (LLMWARD_SECRET_DB_PASSWORD)",
        "files",
    ]
    assert DISTINCTIVE not in text
    assert DISTINCTIVE not in "".join(traceback.format_exception(info.value))


def test_require_reports_all_missing_together(tmp_path) -> None:
    resolver = SecretResolver([EnvSource(environ={"LLMWARD_SECRET_PRESENT": DISTINCTIVE})])
    assert resolver.require(["present"])["present"].reveal() == DISTINCTIVE
    with pytest.raises(SecretsMissing) as info:
        resolver.require(["present", "a", "b"])
    assert [e.name for e in info.value.errors] == ["a", "b"]
    assert "secret 'a' not found" in str(info.value) and "secret 'b'" in str(info.value)
    assert DISTINCTIVE not in str(info.value)


def test_resolution_logs_name_and_source_only(caplog: pytest.LogCaptureFixture) -> None:
    resolver = SecretResolver([EnvSource(environ={"LLMWARD_SECRET_K": DISTINCTIVE})])
    with caplog.at_level(logging.DEBUG, logger="llmward"):
        assert resolver.get("k").reveal() == DISTINCTIVE
    assert "resolved from environment" in caplog.text
    assert DISTINCTIVE not in caplog.text
