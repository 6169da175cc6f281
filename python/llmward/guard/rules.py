"""Rule specifications: what a rule pack declares and the guard compiles.

A `RuleSpec` is a native `llmward.Rule` plus the policy around it: the action
its findings get in prompts and in outputs, the normalized views it is scanned
in, an optional validator that confirms a candidate (a Luhn check, context
words), and the placeholder redaction uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Action = Literal["block", "redact", "flag"]
ViewName = Literal["raw", "folded", "decoded"]
ALL_VIEWS: frozenset[ViewName] = frozenset({"raw", "folded", "decoded"})

# Confirms a candidate match: called with the original text and the span found
# in it; returning False drops the finding (e.g. a card number failing Luhn).
Validator = Callable[[str, int, int], bool]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str
    pattern: str
    category: str  # dotted: "injection", "pii.email", "secret.aws_access_key", "content.violence"
    action: Action = "block"  # in prompts (check_prompt)
    output_action: Action = "redact"  # in outputs (redact, stream_redactor)
    literal: bool = False
    caseless: bool = True
    views: frozenset[ViewName] = field(default=ALL_VIEWS)
    validator: Validator | None = None
    placeholder: str | None = None  # redaction text; None: derived from the category
    description: str = ""
    # ASCII characters every match contains one of (digits for PII numbers, "@"
    # for e-mail): the scanner then detects the rule only around them. A wrong
    # set makes the rule miss; tests/test_packs.py checks each pack's sets.
    requires_any: str = ""
    dotall: bool = False  # '.' also matches newlines
    multiline: bool = False  # '^' and '$' match at line boundaries
    ucp: bool = False  # Unicode meaning for \w \d \s \b (slower)
