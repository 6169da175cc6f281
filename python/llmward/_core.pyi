"""Type stubs for the native module llmward._core."""

from collections.abc import Callable, Iterable, Sequence
from os import PathLike
from typing import final

hyperscan_version: str

VIEW_RAW: int
"""The text as given (``Scanner.scan`` scans it)."""
VIEW_FOLDED: int
"""Invisible characters removed; compatibility forms, accents, look-alike letters,
whitespace, spaced-out letters and leetspeak folded."""
VIEW_DECODED: int
"""Base64, hex and percent-encoded spans decoded (two levels deep) and folded."""

class RuleError(ValueError):
    """A rule that cannot be compiled; ``rule_id`` names it (None for the whole set)."""

    rule_id: str | None

class ScanError(RuntimeError):
    """Hyperscan failed while scanning (out of memory, damaged database)."""

# id, pattern, literal, caseless, category, dotall, multiline, ucp, requires_any
_RuleState = tuple[str, str, bool, bool, str, bool, bool, bool, str]

class Rule:
    """A pattern to scan for, identified by ``id``."""

    def __init__(
        self,
        id: str,
        pattern: str,
        *,
        literal: bool = False,
        caseless: bool = True,
        category: str = "",
        dotall: bool = False,
        multiline: bool = False,
        ucp: bool = False,
        requires_any: str = "",
    ) -> None: ...
    @property
    def id(self) -> str: ...
    @property
    def pattern(self) -> str: ...
    @property
    def literal(self) -> bool: ...
    @property
    def caseless(self) -> bool: ...
    @property
    def category(self) -> str: ...
    @property
    def dotall(self) -> bool: ...
    @property
    def multiline(self) -> bool: ...
    @property
    def ucp(self) -> bool: ...
    @property
    def requires_any(self) -> str:
        """ASCII characters every match contains one of ("": no such set); a bounded
        regex rule with one is detected only around them."""
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    def __getstate__(self) -> _RuleState: ...
    def __setstate__(self, state: _RuleState) -> None: ...

class Match:
    """A span that matched a rule: ``text[start:end]``.

    ``view`` names the normalized view the match was found in (``"raw"`` for
    :meth:`Scanner.scan`); ``start``/``end`` always index the original text.
    """

    def __init__(
        self, rule: str, start: int, end: int, category: str = "", view: str = "raw"
    ) -> None: ...
    @property
    def rule(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def view(self) -> str: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class View:
    """A normalized view of a text (see :func:`normalize`).

    ``name`` is ``"raw"``, ``"folded"`` or ``"decoded"``; :meth:`source_span` maps
    ``text[start:end]`` back to the original (code points for ``str`` input, bytes for
    ``bytes`` input).
    """

    @property
    def name(self) -> str: ...
    @property
    def text(self) -> str: ...
    def source_span(self, start: int, end: int) -> tuple[int, int]: ...

class StreamScanner:
    """Scans text arriving in chunks; see :meth:`Scanner.stream`."""

    def feed(self, chunk: str) -> list[Match]: ...
    def close(self) -> list[Match]: ...

class Scanner:
    """Rules compiled into Hyperscan databases; safe to share between threads."""

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        cache_dir: str | PathLike[str] | None = None,
        cache: bool = True,
    ) -> None: ...
    def scan(self, text: str | bytes | bytearray) -> list[Match]: ...
    def scan_batch(self, texts: Sequence[str | bytes | bytearray]) -> list[list[Match]]: ...
    def scan_views(self, text: str | bytes | bytearray, views: int = 7) -> list[Match]:
        """Scan the requested views; every match is reported at the original text.

        A (rule, start, end) found in several views is reported once, from the first
        view in the order raw, folded, decoded (``Match.view``).
        """
    def scan_views_batch(
        self, texts: Sequence[str | bytes | bytearray], views: int = 7
    ) -> list[list[Match]]: ...
    def stream(self) -> StreamScanner: ...
    def max_width(self, rule_id: str) -> int | None:
        """Longest possible match of a rule in UTF-8 bytes; None when unbounded."""
    @property
    def rules(self) -> list[Rule]: ...
    @property
    def cache_status(self) -> str: ...
    def __len__(self) -> int: ...

def default_cache_dir() -> str: ...
def normalize(text: str | bytes | bytearray, views: int = 6) -> list[View]:
    """The requested views of ``text``, in the order raw, folded, decoded.

    A folded view identical to the raw text and a decoded view with nothing decoded
    are left out (the raw view is included only when ``VIEW_RAW`` is requested).
    """
def scan_with(
    scanners: Sequence[Scanner], text: str | bytes | bytearray, views: int = 7
) -> list[list[Match]]:
    """:meth:`Scanner.scan_views` of one text with several scanners, the views built once:
    one list of matches per scanner."""

class Sanitized:
    """A sanitized prompt (see :func:`sanitize`)."""

    @property
    def text(self) -> str: ...
    @property
    def removed(self) -> bool:
        """Tags or control characters were dropped (not only whitespace collapsed)."""
    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original that ``text[start:end]`` came from."""

class PromptScan:
    """:func:`sanitize` and :func:`scan_with` of one prompt (see :func:`scan_prompt`)."""

    @property
    def sanitized(self) -> Sanitized: ...
    @property
    def matches(self) -> list[list[Match]]:
        """Per scanner, the matches in ``sanitized.text``."""
    @property
    def original_matches(self) -> list[list[Match]]:
        """Per scanner, the matches in the original (empty unless ``sanitized.removed``)."""

def sanitize(text: str) -> Sanitized:
    """Removes HTML/XML tags and control characters, collapses whitespace runs to one
    space and strips the ends; lone surrogates become U+FFFD. Unchanged text is
    returned as the same object."""

def scan_prompt(scanners: Sequence[Scanner], text: str, views: int = 7) -> PromptScan:
    """Sanitizes a prompt and scans the requested views of the result with each scanner;
    the original is scanned too when sanitization removed something."""

def scan_prompts(
    scanners: Sequence[Scanner], texts: Sequence[str], views: int = 7
) -> list[PromptScan]:
    """:func:`scan_prompt` for each text; the whole batch runs without the GIL."""

class PromptPolicy:
    """The guard's rules for deciding on prompts natively. ``rules`` holds, per
    scanner and per rule in the scanner's order, ``(id, prompt action, view flags,
    check for raw and folded matches, check for decoded matches, placeholder)``; a
    check is one of always, word_boundary, credit_card, ssn, nanp_phone, email (its
    top-level domain not in ``email_suffixes``) or python. ``finding_type`` and
    ``verdict_type`` are the NamedTuple classes the verdicts are built as."""

    def __init__(
        self,
        scanners: Sequence[Scanner],
        rules: Sequence[Sequence[tuple[str, str, int, str, str, str]]],
        email_suffixes: Sequence[str],
        finding_type: type,
        verdict_type: type,
    ) -> None: ...
    def check(self, prompt: str, views: int = 7) -> object:
        """:func:`scan_prompt` and the verdict, as a ``verdict_type`` instance; the
        :class:`PromptScan` instead when a match needs a Python check or the prompt is
        not ASCII."""
    def check_many(self, prompts: Sequence[str], views: int = 7) -> list[object]:
        """:meth:`check` for each prompt; the whole batch runs without the GIL."""

def hold_start(text: str | bytes | bytearray, distance: int) -> int:
    """For streams: the largest offset ``o`` such that ``text[o:]`` is at least
    ``distance`` UTF-8 bytes long both as given and in the folded view (-1 when the
    text is shorter): a match at most that wide ending after the text cannot start
    before ``o``."""

def credit_card_ok(text: str, start: int, end: int) -> bool | None:
    """``text[start:end]`` as a card number (13-19 digits, Luhn, issuer prefix, not part
    of a longer number); None when the text is not ASCII."""

def ssn_ok(text: str, start: int, end: int) -> bool | None:
    """``text[start:end]`` as a US SSN; None when the text is not ASCII."""

def nanp_phone_ok(text: str, start: int, end: int) -> bool | None:
    """``text[start:end]`` as a North American phone number; None when the text is not
    ASCII."""

def email_shape(text: str, start: int, end: int) -> str | bool | None:
    """The lower-cased top-level domain when ``text[start:end]`` has an e-mail address's
    shape, False when it does not, None when the text is not ASCII."""

class Hasher:
    """Incremental SHA-256 or BLAKE3 (keyed, derive-key and extended output for
    BLAKE3). Updates of 64 KiB and more release the GIL. ``threads``: BLAKE3 hashes
    large updates on up to this many threads (0: every core)."""

    def __init__(self, algorithm: str, *, key: bytes | None = None, threads: int = 1) -> None: ...
    @staticmethod
    def derive_key(context: str) -> Hasher:
        """A BLAKE3 hasher in key-derivation mode for this context string."""
    def update(self, data: bytes | bytearray | memoryview) -> None: ...
    def digest(self, length: int = 32, seek: int = 0) -> bytes: ...
    def hexdigest(self, length: int = 32, seek: int = 0) -> str: ...
    def copy(self) -> Hasher: ...
    @property
    def name(self) -> str: ...

def hash_file(
    path: bytes,
    sha256: bool,
    blake3: bool,
    threads: int = 0,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[bytes | None, bytes | None, int]:
    """(sha256 digest or None, blake3 digest or None, bytes read) of one file, read once."""

def blake3_simd() -> str:
    """The BLAKE3 SIMD code in use."""

def blake3_supported_simd() -> list[str]:
    """Every BLAKE3 SIMD variant this CPU runs."""

def blake3_select_simd(name: str) -> None:
    """Switches the process to this BLAKE3 SIMD variant (tests, benchmarks)."""

@final
class Decision:
    """One rate-limit decision (immutable)."""

    def __new__(
        cls, allowed: bool, retry_after: float, remaining: int, reset_after: float, limit: int
    ) -> Decision: ...
    @property
    def allowed(self) -> bool:
        """The request may proceed."""
    @property
    def retry_after(self) -> float:
        """Seconds until this cost would be allowed: 0.0 when allowed, inf when the cost
        exceeds the burst."""
    @property
    def remaining(self) -> int:
        """Unit-cost requests still allowed right after this decision."""
    @property
    def reset_after(self) -> float:
        """Seconds until the bucket is full again."""
    @property
    def limit(self) -> int:
        """The burst: the bucket's capacity."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class RateLimiter:
    """GCRA rate limiter: ``rate`` tokens per second, buckets of ``burst`` tokens, one per
    key (1 to 1024 UTF-8 bytes). Lock-free and thread-safe; decisions keep the GIL (they
    take tens of nanoseconds). ``clock``: a callable returning monotonic seconds, for
    tests; by default the native clock."""

    def __new__(
        cls, rate: float, burst: int, *, clock: Callable[[], float] | None = None
    ) -> RateLimiter: ...
    def acquire(self, key: str, cost: int = 1) -> Decision:
        """Take ``cost`` tokens from ``key``'s bucket if it holds them. Cost 0 consumes
        nothing."""
    def peek(self, key: str, cost: int = 1) -> Decision:
        """The decision acquire() would return now, consuming nothing."""
    def reset(self, key: str) -> None:
        """Fill ``key``'s bucket again."""
    def stats(self) -> dict[str, int]:
        """``{'keys': keys tracked, 'memory_bytes': memory of tables and entries}``."""
    def __len__(self) -> int: ...
    @property
    def rate(self) -> float: ...
    @property
    def burst(self) -> int: ...
    @property
    def clock_source(self) -> str:
        """'tsc', 'steady_clock' or 'callable'."""

def ratelimit_microbench(threads: int, distinct_keys: bool, decisions: int) -> float:
    """ns per decision per thread, timed in C++ (no Python in the loop)."""

def _ratelimit_stress(
    threads: int, attempts: int, burst: int, advance_tokens: int, flood_keys: int
) -> tuple[int, int, int]:
    """Test hook: (admitted at a frozen time, admitted after advancing, most keys tracked)."""
