"""The guard layer: policies over the native scanner."""

from llmward.guard.config import ActionOverride, GuardConfig, Limits
from llmward.guard.guard import Guard
from llmward.guard.rules import RuleSpec
from llmward.guard.stream import StreamRedactor
from llmward.guard.verdict import Finding, Verdict

__all__ = [
    "ActionOverride",
    "Finding",
    "Guard",
    "GuardConfig",
    "Limits",
    "RuleSpec",
    "StreamRedactor",
    "Verdict",
]
