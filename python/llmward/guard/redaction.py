"""Replacing spans of text by placeholders."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class Span(NamedTuple):
    start: int
    end: int
    placeholder: str


def merge(spans: Iterable[Span]) -> list[Span]:
    """Overlapping spans become one, with the placeholder of the one that
    starts first (the longest, on a tie); touching spans stay apart."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            if span.end > last.end:
                merged[-1] = Span(last.start, span.end, last.placeholder)
        else:
            merged.append(span)
    return merged


def apply_redactions(text: str, spans: Iterable[Span]) -> str:
    if isinstance(spans, list) and len(spans) <= 1:  # the common cases, without sorting
        if not spans:
            return text
        first: Span = spans[0]
        return text[: first.start] + first.placeholder + text[first.end :]
    pieces = []
    position = 0
    for span in merge(spans):
        pieces.append(text[position : span.start])
        pieces.append(span.placeholder)
        position = span.end
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)
