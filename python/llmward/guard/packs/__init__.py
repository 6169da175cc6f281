"""The rule packs of the default guard policy.

Each pack is a function returning ``list[RuleSpec]`` with unique, stable,
dotted rule ids:

* :func:`injection_rules`: prompt injection, jailbreak personas, fake
  chat-template markers, system-prompt extraction (``injection.*``).
* :func:`pii_rules`: e-mail, phone, SSN, payment cards, IBAN (``pii.*``).
* :func:`secret_rules`: API keys, tokens, private keys, passwords in
  assignments (``secret.*``).
* :func:`content_rules`: banned terms and category term lists, from a
  configuration directory or the shipped defaults (``content.*``).

:func:`default_rules` concatenates all four.
"""

from __future__ import annotations

from pathlib import Path

from llmward.guard.packs.content import content_rules
from llmward.guard.packs.injection import injection_rules
from llmward.guard.packs.pii import pii_rules
from llmward.guard.packs.secrets import secret_rules
from llmward.guard.rules import RuleSpec

__all__ = ["content_rules", "default_rules", "injection_rules", "pii_rules", "secret_rules"]


def default_rules(config_dir: Path | None = None) -> list[RuleSpec]:
    """All packs: injection, PII, secrets, then content (from ``config_dir``,
    else the shipped lists)."""
    return [*injection_rules(), *pii_rules(), *secret_rules(), *content_rules(config_dir)]
