"""The reference semantics of prompt sanitization, in Python regular
expressions: the oracle tests/test_sanitize.py checks the native
llmward._core.sanitize against (it was the guard's implementation until the
native one replaced it, being about thirty times slower on 4 KB prompts).

Prompt sanitization with an offset map back to the original text.

The guard scans the *sanitized* prompt, the text that is actually forwarded,
so removing tags or control characters can never assemble a match the scan
did not see ("ig<b></b>nore previous instructions"); when something was
removed it also scans the original, so what sanitization removed (a fake
"<system>" marker) is still reported. Each kept piece of the sanitized text
remembers where it came from, so findings point at the original characters.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

# One pass over the text finds everything sanitization changes: HTML/XML tags,
# runs of control characters other than whitespace, runs of whitespace that
# are not a single space, and lone surrogates (replaced by U+FFFD).
_CHANGES = re.compile(
    # The look-ahead gives the regex engine one character set to skip ahead
    # with, which makes the search about three times faster.
    r"(?=[<\x00-\x1f\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ud800-\udfff ])"
    r"(?:(?P<tag><[^<>\s][^<>]{0,1023}>)"
    r"|(?P<ctrl>[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]+)"
    r"|(?P<ws>\s{2,}|[^\S ])"
    r"|(?P<sur>[\ud800-\udfff]))"
)


@dataclass(frozen=True, slots=True)
class Sanitized:
    text: str
    removed: bool  # tags or control characters were dropped (not just whitespace)
    # Parallel lists: sanitized text from out_starts[i] on was copied from the
    # original at in_starts[i]; a piece that replaced something has in_ends.
    out_starts: list[int]
    in_starts: list[int]
    in_ends: list[int]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Maps a span of the sanitized text to the original text."""
        return self._position(start, end_side=False), self._position(end, end_side=True)

    def _position(self, offset: int, *, end_side: bool) -> int:
        if not self.out_starts:
            return offset
        i = bisect_right(self.out_starts, offset - 1 if end_side else offset) - 1
        if i < 0:
            return offset
        within = offset - self.out_starts[i]
        # Inside a replaced piece (a space for a whitespace run, U+FFFD), spans
        # widen to the whole original piece.
        if self.in_ends[i] >= 0:
            return self.in_ends[i] if end_side else self.in_starts[i]
        return self.in_starts[i] + within


def sanitize(text: str) -> Sanitized:
    """Whitespace runs become one space, control characters, tags and
    surrounding whitespace are removed, lone surrogates become U+FFFD."""
    if _unchanged(text):
        return Sanitized(text, False, [0] if text else [], [0] if text else [],
                         [-1] if text else [])
    pieces: list[str] = []
    out_starts: list[int] = []
    in_starts: list[int] = []
    in_ends: list[int] = []
    out = 0
    last = 0
    removed = False

    def keep(piece: str, origin: int, replaced_end: int = -1) -> None:
        nonlocal out
        if piece:
            pieces.append(piece)
            out_starts.append(out)
            in_starts.append(origin)
            in_ends.append(replaced_end)
            out += len(piece)

    for change in _CHANGES.finditer(text):
        start, end = change.span()
        keep(text[last:start], last)
        kind = change.lastgroup
        if kind == "ws":
            keep(" ", start, end)
        elif kind == "sur":
            keep("\ufffd", start, end)
        else:
            removed = True
        last = end
    keep(text[last:], last)
    joined = "".join(pieces)
    if not out_starts:
        return Sanitized(joined, removed, [], [], [])
    return _strip(Sanitized(joined, removed, out_starts, in_starts, in_ends))


def _unchanged(text: str) -> bool:
    """Fast check with C string methods: nothing to remove or collapse.
    isprintable() is False for every control, whitespace other than ' ' and
    lone surrogate."""
    return (text.isprintable() and "<" not in text and "  " not in text
            and not text.startswith(" ") and not text.endswith(" "))


def _strip(s: Sanitized) -> Sanitized:
    """Removes leading and trailing spaces, shifting the map."""
    lead = len(s.text) - len(s.text.lstrip(" "))
    stripped = s.text.strip(" ")
    if lead == 0 and len(stripped) == len(s.text):
        return s
    ends = [*s.out_starts[1:], len(s.text)]
    out_starts, in_starts, in_ends = [], [], []
    for o, end, i, e in zip(s.out_starts, ends, s.in_starts, s.in_ends, strict=True):
        if end <= lead:  # the whole piece was leading space
            continue
        if o - lead >= len(stripped):  # the piece and all after it were trailing space
            break
        cut = max(0, lead - o)  # characters of this piece lost to the strip
        out_starts.append(o + cut - lead)
        in_starts.append(i + cut if e < 0 else i)
        in_ends.append(e)
    return Sanitized(stripped, s.removed, out_starts, in_starts, in_ends)
