"""The guard's rules as the native core's PromptPolicy, which scans a prompt
and decides on it in one call: each rule's prompt action, views and
placeholder, and which of the core's checks confirms its matches. A rule
whose validator exists only in Python (IBAN, context words, secrets) or that
has an allowlist gets "python": a prompt where it fires is decided by
Guard._verdict from the same scan."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from llmward._core import VIEW_DECODED, VIEW_FOLDED, VIEW_RAW, PromptPolicy, Scanner
from llmward.guard import validators as v
from llmward.guard.policy import ActiveRule
from llmward.guard.rules import Validator
from llmward.guard.verdict import Finding, Verdict

_VIEW_BITS = {"raw": VIEW_RAW, "folded": VIEW_FOLDED, "decoded": VIEW_DECODED}

# Python validators with a native equivalent for ASCII text (tested against
# each other in tests/test_validators.py and tests/test_prompt_policy.py).
_NATIVE_CHECKS: tuple[tuple[Validator, str], ...] = (
    (v.valid_credit_card, "credit_card"),
    (v.valid_ssn, "ssn"),
    (v.valid_nanp_phone, "nanp_phone"),
    (v.valid_email, "email"),
)

NativeRule = tuple[str, str, int, str, str, str]


def view_bits(names: Iterable[str]) -> int:
    """The native VIEW_* flags for view names."""
    bits = 0
    for name in names:
        bits |= _VIEW_BITS[name]
    return bits


def native_check(rule: ActiveRule, validator: Validator | None) -> str:
    if rule.allow:
        return "python"
    if validator is None:
        return "always"
    if isinstance(validator, v.TermValidator):
        return "python" if validator.allowlist else "word_boundary"
    for function, check in _NATIVE_CHECKS:
        if validator is function:  # identity: any callable may be a validator
            return check
    return "python"


def native_rule(rule: ActiveRule) -> NativeRule:
    return (rule.spec.id, rule.prompt_action, view_bits(rule.views),
            native_check(rule, rule.plain_validator),
            native_check(rule, rule.validator), rule.placeholder)


def prompt_policy(
    scanners: Sequence[Scanner], rules: Sequence[Sequence[ActiveRule]]
) -> PromptPolicy:
    """The policy for `scanners`; rules[i] lists scanner i's rules in its order."""
    return PromptPolicy(list(scanners), [[native_rule(r) for r in rs] for rs in rules],
                        sorted(v.EMAIL_FILE_SUFFIXES), Finding, Verdict)
