"""Redaction of output that arrives token by token.

The concatenation of everything `feed()` and `close()` return equals
`guard.redact(whole_output)` for every way of cutting the output into chunks,
and nothing that would be redacted is released early.

How: text is released only up to a cut point that no future match can reach
back over. A match is at most `hold` UTF-8 bytes long in every view (the
widest rule plus a margin for look-ahead and validators' context), so the cut
lies at least `hold` bytes before the end of what has arrived, measured both
in the text and in its folded view (`_core.hold_start`): invisible characters
or separators an attacker pads a secret with do not shorten the hold. The cut
also falls on whitespace, so a token, an encoded run or a spaced-out word is
never split between two decisions. A decision scans the kept window (from a
whitespace far enough before the cut to give every candidate its full
context) with the same views as `redact`, and applies the redactions inside
the released part.

Decisions are made once at least `step` characters have arrived since the
last one (and at close()): a scan costs about as much for one new token as
for eight, so deciding every few tokens keeps the cost per token small. The
text held back is therefore `hold` plus up to `step` characters plus the
partial word before the cut; `step=0` decides on every chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmward._core import hold_start
from llmward.guard.redaction import Span, apply_redactions

if TYPE_CHECKING:
    from llmward.guard.guard import Guard


DEFAULT_STEP = 48  # characters between decisions: twelve 4-character tokens


class StreamRedactor:
    def __init__(self, guard: Guard, hold: int | None, max_chars: int,
                 step: int = DEFAULT_STEP) -> None:
        if step < 0:
            raise ValueError("step must be >= 0")
        self._guard = guard
        self._hold = hold  # None: some rule is unbounded, release only at close()
        self._max_chars = max_chars
        self._step = step
        self._undecided = 0  # characters in _pending
        self._window = ""  # the kept text, starting at absolute offset _base
        self._pending: list[str] = []  # chunks arrived since the last decision
        self._base = 0
        self._released = 0  # absolute offset up to which text has been released
        self._total = 0
        self._closed = False

    def feed(self, chunk: str) -> str:
        if self._closed:
            raise RuntimeError("feed() after close(): the stream has ended")
        if not isinstance(chunk, str):
            raise TypeError(f"feed() takes str chunks, not {type(chunk).__name__}")
        size = len(chunk)
        self._total += size
        if self._total > self._max_chars:
            raise ValueError(f"output exceeds maximum length of {self._max_chars} characters")
        self._pending.append(chunk)  # joined at the next decision, not copied per token
        self._undecided += size
        if self._hold is None or size == 0 or self._undecided < self._step:
            return ""
        self._take_pending()
        cut, keep_from = self._cut_points(self._hold)
        return self._release(cut, keep_from)

    def close(self) -> str:
        if self._closed:
            return ""
        self._closed = True
        self._take_pending()
        end = self._base + len(self._window)
        return self._release(end, end)

    def _take_pending(self) -> None:
        self._window += "".join(self._pending)
        self._pending.clear()
        self._undecided = 0

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
        cut = _last_whitespace(text, hold_start(text, hold))
        released = self._released - self._base
        keep_from = _last_whitespace(text, hold_start(text[:released], hold))
        return self._base + max(cut, 0), self._base + max(keep_from, 0)


def _last_whitespace(text: str, limit: int) -> int:
    """Offset of the last space or newline at or before `limit`, else -1 (tabs
    and carriage returns are not cut points: fewer of them only holds more)."""
    if limit < 0:
        return -1
    return max(text.rfind(" ", 0, limit + 1), text.rfind("\n", 0, limit + 1))
