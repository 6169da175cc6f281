"""llmward: a security guard for LLM inference.

The native scanner compiles rules into Hyperscan databases and returns exact
spans (code-point offsets for ``str``, byte offsets for ``bytes``).
``hash_file``, ``hash_directory`` and ``Hasher`` give SHA-256 and BLAKE3
digests of model files, each file read once. ``RateLimiter`` is the native
lock-free GCRA limiter (``llmward.ratelimit`` has the policies, the Redis backend
and the aiohttp middleware). The guard
(``llmward.Guard``, ``Verdict``, ``Finding``, ``GuardConfig``) is imported on
first use, so services that only scan do not load the rule packs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmward._core import (
    VIEW_DECODED,
    VIEW_FOLDED,
    VIEW_RAW,
    Decision,
    Match,
    RateLimiter,
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
from llmward.integrity.hashing import Hasher, hash_directory, hash_file

if TYPE_CHECKING:
    from llmward.guard import Finding, Guard, GuardConfig, Verdict

_GUARD_NAMES = frozenset({"Finding", "Guard", "GuardConfig", "Verdict"})


def __getattr__(name: str) -> Any:
    if name in _GUARD_NAMES:
        import llmward.guard

        return getattr(llmward.guard, name)
    raise AttributeError(f"module 'llmward' has no attribute {name!r}")


__all__ = [
    "Decision",
    "Finding",
    "Guard",
    "GuardConfig",
    "Hasher",
    "Verdict",
    "VIEW_DECODED",
    "VIEW_FOLDED",
    "VIEW_RAW",
    "Match",
    "RateLimiter",
    "Rule",
    "RuleError",
    "ScanError",
    "Scanner",
    "StreamScanner",
    "View",
    "default_cache_dir",
    "hash_directory",
    "hash_file",
    "hyperscan_version",
    "normalize",
]
__version__ = "0.1.0"
