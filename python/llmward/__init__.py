"""llmward: a security guard for LLM inference.

The native scanner compiles rules into Hyperscan databases and returns exact
spans (code-point offsets for ``str``, byte offsets for ``bytes``).
"""

from llmward._core import (
    Match,
    Rule,
    RuleError,
    ScanError,
    Scanner,
    StreamScanner,
    default_cache_dir,
    hyperscan_version,
)

__all__ = [
    "Match",
    "Rule",
    "RuleError",
    "ScanError",
    "Scanner",
    "StreamScanner",
    "default_cache_dir",
    "hyperscan_version",
]
__version__ = "0.1.0"
