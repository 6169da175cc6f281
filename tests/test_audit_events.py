"""Event validation and bounds: attacker-sized fields are cut and flagged, bad types are
refused, times are UTC."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from llmward.audit import admin_action, api_request, auth_failure, model_event
from llmward.audit.events import MAX_PATH, MAX_RULES


def test_api_request_fields() -> None:
    event = api_request(
        request_id="r1",
        method="POST",
        path="/v1/chat",
        status=403,
        latency_us=1234,
        key_id="k1",
        user="alice",
        role="viewer",
        client="10.1.2.3",
        decision="block",
        rule_ids=["inj.1", "pii.2"],
        when=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
    )
    assert event.kind == "api_request" and event.time == "2026-01-02T03:04:05.000006Z"
    assert event.data == {
        "request_id": "r1",
        "method": "POST",
        "path": "/v1/chat",
        "status": 403,
        "latency_us": 1234,
        "key_id": "k1",
        "role": "viewer",
        "decision": "block",
        "rule_ids": ["inj.1", "pii.2"],
    }
    assert event.personal == {"user": "alice", "client": "10.1.2.3"}  # sealed, erasable


def test_oversized_fields_are_cut_and_flagged() -> None:
    event = api_request(
        request_id="r" * 500,
        method="GET",
        path="/" * 10_000,
        status=200,
        latency_us=0,
        rule_ids=["x"] * 1000,
        prompt="p" * 100_000,
        max_prompt=100,
    )
    assert len(event.data["request_id"]) == 128  # type: ignore[arg-type]
    assert len(event.data["path"]) == MAX_PATH  # type: ignore[arg-type]
    assert len(event.data["rule_ids"]) == MAX_RULES  # type: ignore[arg-type]
    assert len(event.personal["prompt"]) == 100
    assert event.data["truncated"] == ["path", "prompt", "request_id", "rule_ids"]


@pytest.mark.parametrize(
    "bad",
    [
        {"status": 200.0},
        {"status": 99},
        {"status": True},
        {"latency_us": -1},
        {"path": b"/x"},
        {"rule_ids": "abc"},
        {"user": "\ud800"},
    ],
)
def test_bad_types_are_refused(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "request_id": "r",
        "method": "GET",
        "path": "/",
        "status": 200,
        "latency_us": 1,
        **bad,
    }
    with pytest.raises(ValueError):
        api_request(**fields)  # type: ignore[arg-type]


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        auth_failure(reason="bad key", method="GET", path="/", when=datetime(2026, 1, 1))


def test_other_kinds() -> None:
    assert model_event(action="load", model="m.gguf", result="ok", user="a").kind == "model"
    with pytest.raises(ValueError):
        model_event(action="delete", model="m", result="ok")
    admin = admin_action(
        action="key.revoke",
        result="ok",
        target="k2",
        user="root",
        detail={"reason": "leaked", "count": 1, "n": None},
    )
    assert admin.data["detail"] == {"reason": "leaked", "count": 1, "n": None}
    with pytest.raises(ValueError):
        admin_action(action="x", result="ok", detail={"f": 1.5})  # type: ignore[dict-item]
    failure = auth_failure(
        reason="unknown key", method="GET", path="/v1/models", key_id="abc", client="192.0.2.1"
    )
    assert failure.personal == {"client": "192.0.2.1"} and failure.data["key_id"] == "abc"
