"""What the guard returns: findings and the verdict on a prompt."""

from __future__ import annotations

from typing import NamedTuple

from llmward.guard.rules import Action

# Named tuples rather than frozen dataclasses: just as immutable, and built in
# half the time, which matters for a type returned on every prompt.


class Finding(NamedTuple):
    """One rule that fired, located in the original text (code-point offsets)."""

    rule: str
    category: str
    start: int
    end: int
    action: Action
    view: str  # "raw", "folded" or "decoded": the normalized view that matched


class Verdict(NamedTuple):
    """The guard's decision on one prompt.

    `sanitized` is the prompt to forward (control characters, HTML tags and
    extra whitespace removed, redact-findings replaced by placeholders); it is
    empty when the prompt is not allowed, so a refused prompt cannot be
    forwarded by mistake.
    """

    allowed: bool
    findings: list[Finding]
    sanitized: str = ""
    reason: str = ""
