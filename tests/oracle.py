"""Reference semantics of Scanner.scan computed with Python's `re`.

For every end offset e, a rule reports the leftmost start s such that the
pattern matches exactly text[s:e] in the context of the whole text (what
Hyperscan's start-of-match tracking reports). Spans contained in another span
of the same rule are then dropped, and results are sorted by (start, end).
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=4096)
def _ending_at(pattern: str, flags: int, remaining: int) -> re.Pattern[str]:
    # The look-ahead pins the match end `remaining` characters before the end
    # of the text, while \b and $ still see the real text around it.
    return re.compile(rf"(?:{pattern})(?=[\s\S]{{{remaining}}}\Z)", flags)


def spans(
    pattern: str, text: str, *, caseless: bool = True, literal: bool = False
) -> list[tuple[int, int]]:
    if literal:
        pattern = re.escape(pattern)
    flags = re.ASCII | (re.IGNORECASE if caseless else 0)
    found = []
    n = len(text)
    for end in range(1, n + 1):
        compiled = _ending_at(pattern, flags, n - end)
        for start in range(end):
            if compiled.match(text, start):
                found.append((start, end))
                break
    return remove_contained(found)


def remove_contained(found: list[tuple[int, int]]) -> list[tuple[int, int]]:
    kept: list[tuple[int, int]] = []
    furthest = -1
    for start, end in sorted(set(found), key=lambda s: (s[0], -s[1])):
        if end > furthest:
            kept.append((start, end))
            furthest = end
    return sorted(kept)


def compile_or_skip(rules):
    """A Scanner for generated rules; a pattern that can match the empty
    string (which Hyperscan refuses) is skipped as an uninteresting example."""
    from hypothesis import assume

    from llmward import RuleError, Scanner

    try:
        return Scanner(rules, cache=False)
    except RuleError as error:
        assume("empty string" not in str(error))
        raise
