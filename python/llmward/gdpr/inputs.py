"""Bounds on what the GDPR store accepts, shared by the store, the CLI and the HTTP API;
every error is a ValueError naming the argument, never quoting a stored text."""

from __future__ import annotations

from llmward.auth.key_validate import MAX_USER_CHARS, check_user

__all__ = ["MAX_DETAIL_CHARS", "MAX_REQUEST_ID_CHARS", "MAX_TEXT_BYTES", "MAX_USER_CHARS",
           "check_detail", "check_request_id", "check_text", "check_user"]

MAX_TEXT_BYTES = 1024 * 1024  # one prompt or one response, UTF-8
MAX_REQUEST_ID_CHARS = 128
MAX_DETAIL_CHARS = 4096


def check_text(name: str, value: object) -> bytes:
    """A prompt or response as UTF-8, at most MAX_TEXT_BYTES."""
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name}: not valid Unicode text (lone surrogate)") from None
    if len(data) > MAX_TEXT_BYTES:
        raise ValueError(f"{name}: {len(data)} bytes exceeds {MAX_TEXT_BYTES}")
    return data


def check_request_id(value: object) -> str:
    if (not isinstance(value, str) or not 0 < len(value) <= MAX_REQUEST_ID_CHARS
            or not value.isprintable()):
        raise ValueError(f"request_id: expected 1 to {MAX_REQUEST_ID_CHARS} printable "
                         "characters")
    return value


def check_detail(value: object) -> bytes:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_DETAIL_CHARS:
        raise ValueError(f"detail: expected 1 to {MAX_DETAIL_CHARS} characters")
    return check_text("detail", value)
