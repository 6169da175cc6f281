"""The guard: prompt validation and output redaction over the native scanner."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, cast

from llmward._core import (
    Match,
    PromptScan,
    Rule,
    Scanner,
    scan_with,
)
from llmward.guard.canary import new_canary, with_canary
from llmward.guard.config import GuardConfig
from llmward.guard.native_policy import prompt_policy, view_bits
from llmward.guard.packs import content_rules, injection_rules, pii_rules, secret_rules
from llmward.guard.policy import ActiveRule, resolve
from llmward.guard.redaction import Span, apply_redactions
from llmward.guard.rules import Action, RuleSpec
from llmward.guard.stream import DEFAULT_STEP, StreamRedactor
from llmward.guard.tokens import TokenCounter, estimate_tokens
from llmward.guard.verdict import Finding, Verdict


class _Hit(NamedTuple):
    """A confirmed match, in the coordinates of the text that was scanned."""

    rule: str
    category: str
    start: int
    end: int
    action: Action
    view: str


_EMPTY_CHECK_CHARS = 256  # shorter sanitized prompts are checked for visible content
_STREAM_MARGIN = 64  # look-ahead of \b and $, and context words validators read


class Guard:
    """Checks prompts and redacts outputs with one compiled rule set.

    Thread-safe: the native scanner serves any number of threads, and a Guard
    holds no per-call state.
    """

    def __init__(
        self,
        config: GuardConfig | None = None,
        *,
        rules: Sequence[RuleSpec] | None = None,
        tokenizer: TokenCounter | None = None,
        cache: bool = True,
    ) -> None:
        self.config = config or GuardConfig()
        self.canary = self.config.canary or new_canary()
        specs = list(rules) if rules is not None else _pack_rules(self.config)
        specs += self.config.rules
        canary = RuleSpec(id="canary", pattern=self.canary, category="canary", literal=True,
                          caseless=False, action="flag", output_action="redact")
        self._rules: dict[str, ActiveRule] = resolve([*specs, canary], self.config)
        self._scanner = Scanner(
            [Rule(s.id, s.pattern, literal=s.literal, caseless=s.caseless, category=s.category,
                  dotall=s.dotall, multiline=s.multiline, ucp=s.ucp, requires_any=s.requires_any)
             for s in specs],
            cache=cache,
        )
        # The canary differs per deployment (or per Guard): a scanner of its own
        # keeps the large rule set's compiled databases cacheable.
        self._canary_scanner = Scanner(
            [Rule(canary.id, canary.pattern, literal=True, caseless=False, category="canary")],
            cache=False,
        )
        self._scanners = (self._scanner, self._canary_scanner)
        # The same rules held natively: most prompts are scanned and decided
        # in one call; the rest come back as a PromptScan for _verdict.
        self._policy = prompt_policy(
            self._scanners, [[self._rules[s.id] for s in specs], [self._rules[canary.id]]]
        )
        self._views = view_bits(self.config.views)
        self._count_tokens = tokenizer or estimate_tokens
        self._hold = self._hold_back_bytes()

    @classmethod
    def default(cls) -> Guard:
        """The built-in policy with the built-in rule packs."""
        return cls()

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str], *, tokenizer: TokenCounter | None = None
    ) -> Guard:
        """A policy from a TOML file (see README: Guard configuration)."""
        return cls(GuardConfig.from_file(Path(path)), tokenizer=tokenizer)

    @property
    def rule_count(self) -> int:
        return len(self._rules)

    def system_prompt_with_canary(self, system_prompt: str) -> str:
        return with_canary(system_prompt, self.canary)

    # -- prompts -------------------------------------------------------------

    def check_prompt(self, text: str | bytes) -> Verdict:
        prompt = _as_text(text, "prompt")
        refusal = self._check_limits(prompt)
        if refusal is not None:
            return refusal
        return self._finish(prompt, self._policy.check(prompt, self._views))

    def check_batch(self, texts: Sequence[str | bytes]) -> list[Verdict]:
        """check_prompt for many prompts; the native part (sanitizing and
        scanning) runs for the whole batch without the GIL."""
        prompts = [_as_text(t, "prompt") for t in texts]
        verdicts: list[Verdict | None] = [self._check_limits(p) for p in prompts]
        pending = [i for i, v in enumerate(verdicts) if v is None]
        results = self._policy.check_many([prompts[i] for i in pending], self._views)
        for i, result in zip(pending, results, strict=True):
            verdicts[i] = self._finish(prompts[i], result)
        return [v for v in verdicts if v is not None]

    def _finish(self, prompt: str, result: object) -> Verdict:
        """The native verdict, or the Python one where the native policy left
        the decision to _verdict (a Python validator fired, non-ASCII text)."""
        if isinstance(result, PromptScan):
            return self._verdict(prompt, result)
        return cast(Verdict, result)

    def _check_limits(self, prompt: str) -> Verdict | None:
        limits = self.config.limits
        if len(prompt) > limits.max_chars:
            return Verdict(False, [], "",
                           f"prompt exceeds maximum length of {limits.max_chars} characters")
        if self._count_tokens(prompt) > limits.max_tokens:
            return Verdict(False, [], "",
                           f"prompt exceeds maximum length of {limits.max_tokens} tokens")
        return None

    def _verdict(self, prompt: str, scan: PromptScan) -> Verdict:
        cleaned = scan.sanitized
        if _is_empty(cleaned.text):
            return Verdict(False, [], "", "empty prompt")
        main, canary = scan.matches
        if not main and not canary and not cleaned.removed:
            return Verdict(True, [], cleaned.text, "ok")
        found = self._confirm(cleaned.text, _merged(main, canary), "prompt")
        findings = [
            Finding(rule, category, *cleaned.to_original(start, end), action, view)
            for rule, category, start, end, action, view in found
        ]
        if cleaned.removed:  # what sanitization dropped (a "<system>" tag) is still reported
            seen = {(f.rule, f.start, f.end) for f in findings}
            original = self._confirm_original(prompt, scan)
            findings += [Finding(*f) for f in original if (f[0], f[2], f[3]) not in seen]
            findings.sort(key=lambda f: (f.start, f.end, f.rule))
        blocking = [f for f in findings if f.action == "block"]
        if blocking:
            first = blocking[0]
            return Verdict(False, findings, "", f"blocked: {first.category} ({first.rule})")
        redactions = [Span(s, e, self._rules[r].placeholder)
                      for r, _, s, e, a, _ in found if a == "redact"]
        sanitized = apply_redactions(cleaned.text, redactions)
        redacted = sorted({f.category for f in findings if f.action == "redact"})
        reason = "redacted: " + ", ".join(redacted) if redactions else "ok"
        return Verdict(True, findings, sanitized, reason)

    def _confirm_original(self, prompt: str, scan: PromptScan) -> list[_Hit]:
        """Findings in the original prompt (scanned only when sanitization
        removed something)."""
        main, canary = scan.original_matches
        return self._confirm(prompt, _merged(main, canary), "prompt")

    # -- outputs -------------------------------------------------------------

    def redact(self, text: str | bytes) -> str:
        """The output with every finding whose output action is redact or block
        replaced by its placeholder. Formatting is kept (no sanitization)."""
        output = _as_text(text, "output")
        if len(output) > self.config.limits.max_output_chars:
            raise ValueError(
                f"output exceeds maximum length of {self.config.limits.max_output_chars} characters"
            )
        return apply_redactions(output, self.output_redactions(output))

    def output_redactions(self, output: str) -> list[Span]:
        """Spans of `output` that redaction replaces (used by the stream redactor)."""
        main, canary = scan_with(self._scanners, output, self._views)
        if not main and not canary:
            return []
        found = self._confirm(output, _merged(main, canary), "output")
        return [Span(s, e, self._rules[r].placeholder)
                for r, _, s, e, a, _ in found if a in ("redact", "block")]

    def stream_redactor(self, *, step: int = DEFAULT_STEP) -> StreamRedactor:
        """Redacts output arriving token by token; see StreamRedactor. A
        decision is made every `step` characters (0: on every chunk)."""
        return StreamRedactor(self, self._hold, self.config.limits.max_output_chars, step)

    # -- documents -----------------------------------------------------------

    def scan(self, text: str | bytes) -> list[Finding]:
        """Every confirmed finding in `text` as it is: no sanitization and no
        length limit (callers bound their input), offsets in `text`. For
        scanning files (`llmward scan`) rather than deciding on a prompt."""
        document = _as_text(text, "text")
        main, canary = scan_with(self._scanners, document, self._views)
        if not main and not canary:
            return []
        return [Finding(*hit) for hit in self._confirm(document, _merged(main, canary), "prompt")]

    # -- shared --------------------------------------------------------------

    def _confirm(self, text: str, matches: list[Match], direction: str) -> list[_Hit]:
        """Applies views, validators and allowlists to native matches."""
        out: list[_Hit] = []
        for m in matches:
            rule = self._rules[m.rule]
            if m.view not in rule.views:
                continue
            validator = rule.validator if m.view == "decoded" else rule.plain_validator
            if validator is not None and not validator(text, m.start, m.end):
                continue
            if rule.allow and text[m.start : m.end].casefold() in rule.allow:
                continue
            action = rule.prompt_action if direction == "prompt" else rule.output_action
            out.append(_Hit(m.rule, m.category, m.start, m.end, action, m.view))
        return out

    def _hold_back_bytes(self) -> int | None:
        """UTF-8 bytes a stream must hold back (in the text and in its folded
        view): the widest possible match plus a margin for the look-ahead of
        \\b and for validators' context; None when a rule is unbounded, in
        which case streams release only at close()."""
        widths = [self._scanner.max_width(r) for r in self._rules if r != "canary"]
        widths.append(len(self.canary.encode()))
        if any(w is None for w in widths):
            return None
        return max(w for w in widths if w is not None) + _STREAM_MARGIN


def _pack_rules(config: GuardConfig) -> list[RuleSpec]:
    rules: list[RuleSpec] = []
    if "injection" in config.packs:
        rules += injection_rules()
    if "pii" in config.packs:
        rules += pii_rules()
    if "secrets" in config.packs:
        rules += secret_rules()
    if "content" in config.packs:
        rules += content_rules(config.content_dir)
    return rules


def _merged(matches: list[Match], more: list[Match]) -> list[Match]:
    if not more:
        return matches
    return sorted([*matches, *more], key=lambda m: (m.start, m.end))


def _as_text(text: str | bytes, what: str) -> str:
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"{what} is not valid UTF-8 (byte {error.start})") from None
    raise TypeError(f"{what} must be str or bytes, not {type(text).__name__}")


def _is_empty(text: str) -> bool:
    if not text:
        return True
    if len(text) > _EMPTY_CHECK_CHARS:
        return False
    return not any(ch.isprintable() and not ch.isspace() for ch in text)
