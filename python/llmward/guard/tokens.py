"""Token counting for the prompt length limit.

A real tokenizer can be plugged in (any callable from text to a token count,
e.g. ``lambda s: len(llama.tokenize(s.encode()))``). Without one the guard
uses a documented, deliberately generous estimate: one token per 4 ASCII
characters (English BPE vocabularies average about 4) plus one token per
non-ASCII character (CJK and most other scripts take at least one token per
character, often more bytes than one).
"""

from __future__ import annotations

from collections.abc import Callable

TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    if text.isascii():
        return (len(text) + 3) // 4
    ascii_chars = len(text.encode("ascii", "ignore"))
    return (ascii_chars + 3) // 4 + (len(text) - ascii_chars)
