"""What the guard returns: findings and the verdict on a prompt."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmward.guard.rules import Action


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that fired, located in the original text (code-point offsets)."""

    rule: str
    category: str
    start: int
    end: int
    action: Action
    view: str  # "raw", "folded" or "decoded": the normalized view that matched


@dataclass(frozen=True, slots=True)
class Verdict:
    """The guard's decision on one prompt.

    `sanitized` is the prompt to forward (control characters, HTML tags and
    extra whitespace removed, redact-findings replaced by placeholders); it is
    empty when the prompt is not allowed, so a refused prompt cannot be
    forwarded by mistake.
    """

    allowed: bool
    findings: list[Finding] = field(default_factory=list)
    sanitized: str = ""
    reason: str = ""
