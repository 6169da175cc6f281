"""llmward: a security guard for LLM inference.

The native scanner compiles rules into Hyperscan databases and returns exact
spans (code-point offsets for ``str``, byte offsets for ``bytes``).
"""

from llmward._core import (
    VIEW_DECODED,
    VIEW_FOLDED,
    VIEW_RAW,
    Match,
    Rule,
    RuleError,
    ScanError,
    Scanner,
    StreamScanner,
    View,
    default_cache_dir,
    hyperscan_version,
    normalize,
)

__all__ = [
    "VIEW_DECODED",
    "VIEW_FOLDED",
    "VIEW_RAW",
    "Match",
    "Rule",
    "RuleError",
    "ScanError",
    "Scanner",
    "StreamScanner",
    "View",
    "default_cache_dir",
    "hyperscan_version",
    "normalize",
]
__version__ = "0.1.0"
