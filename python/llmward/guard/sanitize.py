"""Prompt sanitization with an offset map back to the original text.

Whitespace runs become one space; HTML/XML tags and runs of control
characters are removed; lone surrogates become U+FFFD; the ends are stripped.
The guard scans the *sanitized* prompt, the text that is actually forwarded,
so removing tags or control characters can never assemble a match the scan
did not see ("ig<b></b>nore previous instructions"); when something was
removed it also scans the original, so what sanitization removed (a fake
"<system>" marker) is still reported. `Sanitized.to_original()` maps spans of
the sanitized text back to the original characters.

The work is native (cpp/sanitize.cpp, one vectorized pass for text with
nothing to change); tests/sanitize_oracle.py holds the same rules as Python
regular expressions, and the tests compare the two.
"""

from llmward._core import Sanitized, sanitize

__all__ = ["Sanitized", "sanitize"]
