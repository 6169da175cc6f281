"""Canary tokens: a per-deployment secret placed in the system prompt. If it
ever shows up in model output, the system prompt is leaking (OWASP LLM07)."""

from __future__ import annotations

import secrets

CANARY_PREFIX = "lwc-"


def new_canary() -> str:
    """A fresh random canary: unguessable, and unlikely in ordinary text."""
    return CANARY_PREFIX + secrets.token_hex(12)


def validate_canary(token: str) -> str:
    printable = token.isascii() and token.isprintable() and " " not in token
    if not 12 <= len(token) <= 128 or not printable:
        raise ValueError("canary token must be 12 to 128 printable ASCII characters without spaces")
    return token


def with_canary(system_prompt: str, token: str) -> str:
    """The system prompt with the canary appended as an inert comment line."""
    return f"{system_prompt}\n<!-- {token} -->"
