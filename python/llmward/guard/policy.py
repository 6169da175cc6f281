"""Resolves rule specs against the configuration into the rules the guard
runs: effective actions, placeholders and allowlists, by category prefix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from llmward.guard.config import ActionOverride, GuardConfig
from llmward.guard.rules import Action, RuleSpec, Validator, ViewName
from llmward.guard.validators import DecodedAware

SECRET_PLACEHOLDER = "[SECRET]"  # noqa: S105 -- redaction text, not a password  # nosec B105
DEFAULT_PLACEHOLDERS = {
    "pii.email": "[EMAIL]",
    "pii.phone": "[PHONE]",
    "pii.ssn": "[SSN]",
    "pii.credit_card": "[CREDIT_CARD]",
    "pii.iban": "[IBAN]",
    "pii": "[PII]",
    "secret": SECRET_PLACEHOLDER,
    "content": "[FILTERED]",
    "canary": "[REDACTED]",
    "injection": "[FILTERED]",
}


@dataclass(frozen=True, slots=True)
class ActiveRule:
    spec: RuleSpec
    prompt_action: Action
    output_action: Action
    placeholder: str
    views: frozenset[ViewName]
    validator: Validator | None  # for matches from the decoded view
    # For matches from the raw and folded views, which are not encoded: the
    # validator without DecodedAware's attempts to decode a rejected span.
    plain_validator: Validator | None
    allow: frozenset[str]  # casefolded matched texts that do not count


def by_prefix(table: Mapping[str, object], category: str, rule_id: str) -> object | None:
    """The entry for the rule id, else for the longest category prefix."""
    if rule_id in table:
        return table[rule_id]
    parts = category.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in table:
            return table[key]
    return None


def resolve(specs: Sequence[RuleSpec], config: GuardConfig) -> dict[str, ActiveRule]:
    rules: dict[str, ActiveRule] = {}
    for spec in specs:
        if spec.id in rules:
            raise ValueError(f"duplicate rule id {spec.id!r}")
        found = by_prefix(config.actions, spec.category, spec.id)
        override = found if isinstance(found, ActionOverride) else None
        placeholder = spec.placeholder or by_prefix(
            {**DEFAULT_PLACEHOLDERS, **config.placeholders}, spec.category, spec.id
        )
        if spec.placeholder and by_prefix(config.placeholders, spec.category, spec.id):
            placeholder = by_prefix(config.placeholders, spec.category, spec.id)
        allow = by_prefix(config.allowlist, spec.category, spec.id)
        rules[spec.id] = ActiveRule(
            spec=spec,
            prompt_action=(override.prompt if override and override.prompt else spec.action),
            output_action=(override.output if override and override.output else spec.output_action),
            placeholder=str(placeholder or "[REDACTED]"),
            views=spec.views & config.views,
            validator=spec.validator,
            plain_validator=(spec.validator.check if isinstance(spec.validator, DecodedAware)
                             else spec.validator),
            allow=allow if isinstance(allow, frozenset) else frozenset(),
        )
    return rules
