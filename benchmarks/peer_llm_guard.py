"""LLM Guard (PyPI ``llm-guard``) as a benchmark peer: its three rule-based input scanners.

What it measures: one prompt through ``BanSubstrings`` (whole words, case-insensitive),
``Regex`` (blocking patterns) and ``Secrets`` in turn, all three always run (no fail-fast),
allowed only if all three allow it --
the closest LLM Guard configuration to llmward's term lists + PII patterns + secret rules.
None of these three loads a model, so no Hugging Face download is needed (importing
``llm_guard.input_scanners`` still imports torch, transformers, spaCy and Presidio, which takes
seconds once per process but is not part of the per-call cost).

How the scanners work, which is why they cost what they cost:

* ``BanSubstrings`` loops over its terms in Python. For each term it lowercases the whole prompt
  again and runs ``re.search(r"\\b" + re.escape(term) + r"\\b", prompt)``; with more terms than
  ``re``'s compiled-pattern cache holds, every call recompiles the patterns. Cost grows with
  terms x prompt length, and every term is checked even after the first hit.
* ``Regex`` compiles its patterns once and runs ``findall``-style matching for each, one after
  another, stopping at the first blocking hit.
* ``Secrets`` writes the prompt to a temporary file and runs Yelp's detect-secrets
  (the ``bc-detect-secrets`` fork) over it with about a hundred plugins, each a set of regexes
  applied line by line, plus entropy checks. It has no "off" switch for redaction; redaction only
  shapes the sanitized text, which is ignored here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

INSTALL_HINT = "llm-guard not installed: pip install '.[bench]'"


def load_llm_guard(
    banned_terms: list[str], regex_patterns: list[str]
) -> Callable[[str], bool] | str:
    """A callable that is True when BanSubstrings, Regex and Secrets all allow the prompt,
    or a string saying why LLM Guard is unavailable."""
    try:
        import structlog  # type: ignore[import-not-found, unused-ignore]
        from llm_guard.input_scanners import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
            BanSubstrings,
            Regex,
            Secrets,
        )
    except ImportError as exc:
        return f"{INSTALL_HINT} ({exc})"
    # llm_guard logs every scan (debug, warning) through structlog to stdout; keep only critical.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    scanners = (
        BanSubstrings(banned_terms, match_type="word", case_sensitive=False, redact=False),
        Regex(regex_patterns, is_blocked=True, redact=False),
        Secrets(),
    )

    def check(prompt: str) -> bool:
        # All three run on every prompt, like llm_guard.scan_prompt's default (fail_fast=False).
        return all([scanner.scan(prompt)[1] for scanner in scanners])

    return check
