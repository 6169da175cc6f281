"""Where a finding is (line and column), and what a report may show of it.

Reports never print the matched value: a secret printed by the scanner would
land in CI logs. The excerpt keeps at most the first 4 characters (and at most
a quarter of the match), enough to tell a key's kind ("ghp_", "AKIA"), and the
match's length.
"""

from __future__ import annotations

import bisect

_SHOWN_MAX = 4


class LineIndex:
    """Maps character offsets of one text to 1-based (line, column)."""

    def __init__(self, text: str) -> None:
        self._starts = [0]
        position = text.find("\n")
        while position != -1:
            self._starts.append(position + 1)
            position = text.find("\n", position + 1)

    def line_col(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1


def masked_excerpt(value: str) -> str:
    """E.g. "ghp_... (40 chars)": a short prefix, never the value."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in value[: min(_SHOWN_MAX,
                                                                          len(value) // 4)])
    return f"{shown}... ({len(value)} chars)"
