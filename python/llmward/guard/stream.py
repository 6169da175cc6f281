"""Redaction of output that arrives token by token.

The concatenation of everything `feed()` and `close()` return equals
`guard.redact(whole_output)` for every way of cutting the output into chunks,
and nothing that would be redacted is released early.

How: text is released only up to a cut point that no future match can reach
back over. A match is at most `hold` characters long in the folded view (the
widest rule plus a margin for look-ahead and validators' context), so the cut
lies at least `hold` folded characters before the end of what has arrived:
measuring in the folded view means invisible characters or separators an
attacker pads a secret with do not shorten the hold. The cut also falls on
whitespace, so a token, an encoded run or a spaced-out word is never split
between two decisions. On every feed, the kept window (from a whitespace far
enough before the cut to give every candidate its full context) is scanned
with the same views as `redact`, and the redactions inside the released part
are applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmward._core import VIEW_FOLDED, normalize
from llmward.guard.redaction import Span, apply_redactions

if TYPE_CHECKING:
    from llmward.guard.guard import Guard


class StreamRedactor:
    def __init__(self, guard: Guard, hold: int | None, max_chars: int) -> None:
        self._guard = guard
        self._hold = hold  # None: some rule is unbounded, release only at close()
        self._max_chars = max_chars
        self._window = ""  # the kept text, starting at absolute offset _base
        self._base = 0
        self._released = 0  # absolute offset up to which text has been released
        self._total = 0
        self._closed = False

    def feed(self, chunk: str) -> str:
        if self._closed:
            raise RuntimeError("feed() after close(): the stream has ended")
        if not isinstance(chunk, str):
            raise TypeError(f"feed() takes str chunks, not {type(chunk).__name__}")
        self._total += len(chunk)
        if self._total > self._max_chars:
            raise ValueError(f"output exceeds maximum length of {self._max_chars} characters")
        self._window += chunk
        if self._hold is None or not chunk:
            return ""
        cut, keep_from = self._cut_points(self._hold)
        return self._release(cut, keep_from)

    def close(self) -> str:
        if self._closed:
            return ""
        self._closed = True
        end = self._base + len(self._window)
        return self._release(end, end)

    def _release(self, cut: int, keep_from: int) -> str:
        if cut <= self._released:
            return ""
        spans = self._guard.output_redactions(self._window)
        # A redaction reaching over the cut is held back whole.
        for span in spans:
            start, end = span.start + self._base, span.end + self._base
            if start < cut < end:
                cut = start
        if cut <= self._released:
            return ""
        lo, hi = self._released - self._base, cut - self._base
        inside = [Span(s.start - lo, s.end - lo, s.placeholder)
                  for s in spans if s.start >= lo and s.end <= hi]
        out = apply_redactions(self._window[lo:hi], inside)
        self._released = cut
        keep_from = min(keep_from, cut)
        if keep_from > self._base:
            self._window = self._window[keep_from - self._base :]
            self._base = keep_from
        return out

    def _cut_points(self, hold: int) -> tuple[int, int]:
        """(cut, keep_from) in absolute offsets: release up to `cut`; the
        window may drop what lies before `keep_from`."""
        text = self._window
        folded_limit = self._folded_offset_back(text, len(text), hold)
        cut = _last_whitespace(text, min(folded_limit, len(text) - hold))
        released = self._released - self._base
        context = min(self._folded_offset_back(text, released, hold),
                      released - hold)
        keep_from = _last_whitespace(text, context)
        return self._base + max(cut, 0), self._base + max(keep_from, 0)

    @staticmethod
    def _folded_offset_back(text: str, offset: int, distance: int) -> int:
        """The offset in `text` that lies `distance` folded characters before
        `offset` (-1 when there is not that much text)."""
        views = [v for v in normalize(text[:offset], VIEW_FOLDED) if v.name == "folded"]
        if not views:  # folding changed nothing
            return offset - distance
        folded = views[0].text
        if len(folded) <= distance:
            return -1
        return views[0].source_span(len(folded) - distance, len(folded) - distance + 1)[0]


def _last_whitespace(text: str, limit: int) -> int:
    """Offset of the last whitespace character at or before `limit`, else -1."""
    if limit < 0:
        return -1
    best = -1
    for ws in (" ", "\n", "\t", "\r"):
        best = max(best, text.rfind(ws, 0, limit + 1))
    return best
