"""Validators: confirm or drop a candidate match of a rule.

Every validator has the signature ``(text, start, end) -> bool`` of
:data:`llmward.guard.rules.Validator`: ``text`` is the original text and
``text[start:end]`` the candidate, reported at the original characters even
when the match was found in the folded or decoded view. A span may therefore
hold invisible characters (zero-width spaces, soft hyphens), full-width or
styled digits, or combining marks; validators read digits with
``unicodedata.digit`` and skip invisible characters when they look at the
neighbours of a span.

A match found in the decoded view is reported at the *encoded* characters
(the base64, hex or percent-encoded run it was decoded from). The packs wrap
their validators in :class:`DecodedAware`, which runs the check on the span as
it is and, when that fails, decodes the span (twice at most, like the view)
and runs it on each candidate the rule's own pattern finds there.

Hyperscan has no lookaround, so validators also check what a pattern cannot:
the characters around a match (a card number must not continue into more
digits), context words before it (a bare ten-digit number is a phone number
only after "phone", "call", ...), checksums (Luhn, ISO 7064 mod 97) and the
shape of a secret's value (entropy, placeholders).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

# The card, SSN and phone checks, answered natively for ASCII text (None
# otherwise); the *_reference functions below are the same rules for any text.
from llmward._core import credit_card_ok as _native_credit_card_ok
from llmward._core import email_shape as _native_email_shape
from llmward._core import nanp_phone_ok as _native_nanp_phone_ok
from llmward._core import ssn_ok as _native_ssn_ok

__all__ = [
    "DecodedAware",
    "IBAN_LENGTHS",
    "PHONE_CONTEXT_WORDS",
    "SSN_CONTEXT_WORDS",
    "TermValidator",
    "canonical_text",
    "decodings",
    "card_brand",
    "digits_in",
    "fold_char",
    "fold_chars",
    "has_context",
    "iban_checksum_ok",
    "is_placeholder",
    "left_token_boundary",
    "luhn_ok",
    "shannon_entropy",
    "token_boundary",
    "valid_anthropic_key",
    "valid_aws_access_key_id",
    "valid_bearer_token",
    "valid_credit_card",
    "credit_card_reference",
    "ssn_reference",
    "nanp_phone_reference",
    "email_reference",
    "valid_email",
    "valid_iban",
    "valid_intl_phone",
    "valid_nanp_phone",
    "valid_openai_key",
    "valid_phone_with_context",
    "valid_secret_assignment",
    "valid_ssn",
    "valid_ssn_with_context",
    "valid_url_credentials",
    "word_boundary",
    "EMAIL_FILE_SUFFIXES",
]

# -- characters ---------------------------------------------------------------

# Categories skipped when looking at the neighbours of a span: format
# characters (zero-width space and joiners, soft hyphen, bidi controls, tag
# characters) and combining marks. The folded view drops them, so a match
# found there may sit next to them in the original text.
_SKIPPED_CATEGORIES = frozenset({"Cf", "Mn", "Me"})


def _skippable(ch: str) -> bool:
    if ch.isascii():  # the common case, and no ASCII character is skipped
        return False
    return unicodedata.category(ch) in _SKIPPED_CATEGORIES or "\ufe00" <= ch <= "\ufe0f"


def _visible(span: str) -> str:
    """``span`` without the characters :func:`_skippable` skips."""
    return span if span.isascii() else "".join(ch for ch in span if not _skippable(ch))


def _char_before(text: str, start: int) -> str:
    """The visible character before ``start`` ('' at the beginning)."""
    i = start - 1
    while i >= 0 and _skippable(text[i]):
        i -= 1
    return text[i] if i >= 0 else ""


def _char_after(text: str, end: int) -> str:
    """The visible character at or after ``end`` ('' at the end)."""
    i = end
    while i < len(text) and _skippable(text[i]):
        i += 1
    return text[i] if i < len(text) else ""


def _two_before(text: str, start: int) -> tuple[str, str]:
    """The two visible characters before ``start``, nearest first."""
    i = start - 1
    found: list[str] = []
    while i >= 0 and len(found) < 2:
        if not _skippable(text[i]):
            found.append(text[i])
        i -= 1
    found += [""] * (2 - len(found))
    return found[0], found[1]


def _two_after(text: str, end: int) -> tuple[str, str]:
    i = end
    found: list[str] = []
    while i < len(text) and len(found) < 2:
        if not _skippable(text[i]):
            found.append(text[i])
        i += 1
    found += [""] * (2 - len(found))
    return found[0], found[1]


_normalize: Callable[[str, int], list[Any]] | None
try:  # the folded view's table of look-alikes, through the native module
    from llmward._core import VIEW_FOLDED as _VIEW_FOLDED
    from llmward._core import normalize as _native_normalize

    _normalize = _native_normalize
except ImportError:  # pragma: no cover - an older native module
    _normalize = None
    _VIEW_FOLDED = 2


@lru_cache(maxsize=4096)
def fold_char(ch: str) -> str:
    """One character as the folded view reads it alone ("Е" Cyrillic -> "E",
    "ｏ" -> "o", zero-width -> ""); no leetspeak, since that needs a word."""
    if ch.isascii():
        return ch
    if _normalize is not None:
        views = _normalize(ch, _VIEW_FOLDED)
        return views[0].text if views else ch
    return unicodedata.normalize("NFKC", ch)  # pragma: no cover


def fold_chars(text: str) -> str:
    """:func:`fold_char` over a text."""
    return text if text.isascii() else "".join(fold_char(ch) for ch in text)


_NOT_ASCII_DIGITS = {c: None for c in range(128) if not chr(c).isdigit()}


def digits_in(span: str) -> str:
    """The ASCII digits of ``span``, reading any Unicode digit (full-width,
    mathematical, Arabic-Indic) by its value and ignoring everything else."""
    if span.isascii():
        return span.translate(_NOT_ASCII_DIGITS)
    out = []
    for ch in span:
        if ch.isdigit():
            value = unicodedata.digit(ch, -1)
            if value >= 0:
                out.append(chr(48 + value))
    return "".join(out)


def canonical_text(text: str) -> str:
    """Invisible characters removed, NFKC, accents dropped, casefolded: the
    form used to compare a match with allowlist entries."""
    visible = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", visible))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFKC", stripped).casefold()


def _is_digitlike(ch: str) -> bool:
    return ch != "" and ch.isdigit()


def _isolated_number(text: str, start: int, end: int) -> bool:
    """The number in ``text[start:end]`` is not part of a longer number: no
    digit right before or after it, and no digit behind a single '-', '.',
    '/' or ',' joined to it ("2024-123-45-6789", "123-45-6789-01")."""
    b1, b2 = _two_before(text, start)
    a1, a2 = _two_after(text, end)
    if _is_digitlike(b1) or _is_digitlike(a1):
        return False
    if b1 in "-./," and b1 and _is_digitlike(b2):
        return False
    return not (a1 in "-/" and a1 and _is_digitlike(a2))


# -- context words ------------------------------------------------------------


@lru_cache(maxsize=64)
def _context_regex(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w.casefold()) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![0-9a-z])(?:{alternatives})(?![a-z])")


def has_context(text: str, start: int, words: Iterable[str], window: int = 40) -> bool:
    """Whether one of ``words`` (case-insensitive, as a whole word) occurs in
    the ``window`` characters before ``start``."""
    key = tuple(sorted(set(words)))
    if not key:
        return False
    before = text[max(0, start - window) : start]
    return _context_regex(key).search(canonical_text(before)) is not None


PHONE_CONTEXT_WORDS: frozenset[str] = frozenset({
    "phone", "phones", "telephone", "tel", "tel.", "call", "calls", "calling", "called",
    "mobile", "mob", "cell", "cellphone", "fax", "whatsapp", "signal", "telegram",
    "contact", "contacts", "text", "sms", "dial", "ring", "reach", "hotline", "landline",
})

SSN_CONTEXT_WORDS: frozenset[str] = frozenset({
    "ssn", "ss#", "ssn#", "social security", "social security number", "social security no",
    "social-security", "ss no", "ss number", "taxpayer id", "itin",
})


# -- payment cards ------------------------------------------------------------


_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # 2d, minus 9 past 9


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of ASCII digits."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    reverse = digits[::-1]
    total = sum(map(int, reverse[0::2])) + sum(
        map(_LUHN_DOUBLED.__getitem__, map(int, reverse[1::2])))
    return total % 10 == 0


_MAESTRO_PREFIXES = frozenset({"5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762",
                               "6763"})


def card_brand(digits: str) -> str | None:
    """The card network whose issuer prefix and length fit ``digits``, or
    None. Covers Visa, Mastercard (51-55 and 2221-2720), American Express,
    Discover, JCB, Diners Club, UnionPay, Maestro and Mir."""
    n = len(digits)
    if n < 12 or not digits.isdigit():
        return None
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925) and 16 <= n <= 19:
        return "discover"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (300 <= p3 <= 305 or p4 == 3095 or p2 in (36, 38, 39)) and 14 <= n <= 19:
        return "diners"
    if p2 == 62 and 16 <= n <= 19:
        return "unionpay"
    if digits[:4] in _MAESTRO_PREFIXES and 12 <= n <= 19:
        return "maestro"
    if 2200 <= p4 <= 2204 and 16 <= n <= 19:
        return "mir"
    return None


def valid_credit_card(text: str, start: int, end: int) -> bool:
    """13-19 digits, Luhn-valid, with a known issuer prefix for their length,
    and not part of a longer number."""
    fast = _native_credit_card_ok(text, start, end)
    return fast if fast is not None else credit_card_reference(text, start, end)


def credit_card_reference(text: str, start: int, end: int) -> bool:
    """:func:`valid_credit_card` in Python, for any text (Unicode digits,
    invisible characters): the reference the native check is tested against."""
    digits = digits_in(text[start:end])
    if not 13 <= len(digits) <= 19:
        return False
    # Cheapest first: most card-like numbers fail the prefix or Luhn check.
    return (card_brand(digits) is not None and luhn_ok(digits)
            and _isolated_number(text, start, end))


# -- US social security numbers ----------------------------------------------

# Numbers the SSA voided after they were printed in advertising.
_VOIDED_SSNS = frozenset({"078051120", "219099999"})


def _ssn_digits_ok(digits: str) -> bool:
    if len(digits) != 9 or digits in _VOIDED_SSNS:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9":
        return False
    return group != "00" and serial != "0000"


def valid_ssn(text: str, start: int, end: int) -> bool:
    """A US SSN: area not 000, 666 or 900-999, group not 00, serial not 0000,
    and not part of a longer dashed number."""
    fast = _native_ssn_ok(text, start, end)
    return fast if fast is not None else ssn_reference(text, start, end)


def ssn_reference(text: str, start: int, end: int) -> bool:
    """:func:`valid_ssn` in Python, for any text (the native check's reference)."""
    return _ssn_digits_ok(digits_in(text[start:end])) and _isolated_number(text, start, end)


def valid_ssn_with_context(text: str, start: int, end: int) -> bool:
    """Nine bare digits count as an SSN only after "SSN", "social security"..."""
    return valid_ssn(text, start, end) and has_context(text, start, SSN_CONTEXT_WORDS)


# -- IBAN ---------------------------------------------------------------------

# IBAN length per country (ISO 13616 registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def iban_checksum_ok(iban: str) -> bool:
    """ISO 7064 mod 97-10 over an IBAN of ASCII letters and digits: the
    first four characters moved to the end, letters read as 10..35, the
    number taken mod 97 must be 1."""
    if len(iban) < 5 or not iban.isascii() or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    remainder = 0
    for ch in rearranged.upper():
        value = ord(ch) - 48 if ch.isdigit() else ord(ch) - 55
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1


def _iban_chars(span: str) -> str | None:
    out = []
    for ch in span:
        if ch.isspace() or _skippable(ch):
            continue
        if ch.isdigit():
            value = unicodedata.digit(ch, -1)
            if value < 0:
                return None
            out.append(chr(48 + value))
            continue
        folded = fold_char(ch).upper()
        if len(folded) != 1 or not ("A" <= folded <= "Z"):
            return None
        out.append(folded)
    return "".join(out)


def valid_iban(text: str, start: int, end: int) -> bool:
    """A known country code, that country's IBAN length and the mod-97 check."""
    iban = _iban_chars(text[start:end])
    if iban is None or IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    return iban_checksum_ok(iban)


# -- e-mail -------------------------------------------------------------------

# "logo@2x.png", "icon@3x.webp": asset names, not addresses.
EMAIL_FILE_SUFFIXES = frozenset({
    "png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "avif", "heic",
    "js", "mjs", "ts", "css", "scss", "map", "json", "html", "htm", "xml", "txt", "md", "pdf",
    "zip", "gz", "tgz", "bz2", "xz", "tar", "whl", "py", "rb", "go", "rs", "java", "class",
    "jar", "so", "dll", "exe", "bin", "lock", "yaml", "yml", "toml", "ini", "cfg", "log",
    "mp3", "mp4", "wav", "ogg", "webm", "mov", "avi", "woff", "woff2", "ttf", "otf", "eot",
})


def valid_email(text: str, start: int, end: int) -> bool:
    """A plausible address: no empty or dotted-out local part, domain labels
    that do not start or end with '-', an alphabetic top-level domain that is
    not a file suffix ("icon@2x.png")."""
    tld = _native_email_shape(text, start, end)  # ASCII text: the shape, natively
    if tld is None:
        return email_reference(text, start, end)
    return tld is not False and tld not in EMAIL_FILE_SUFFIXES


def email_reference(text: str, start: int, end: int) -> bool:
    """:func:`valid_email` in Python, for any text (the native check's reference)."""
    span = _visible(text[start:end])
    local, at, domain = unicodedata.normalize("NFKC", span).rpartition("@")
    if not at or not local or not domain:
        return False
    if local[0] == "." or local[-1] == "." or ".." in local:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or any(not lb or lb[0] == "-" or lb[-1] == "-" for lb in labels):
        return False
    tld = fold_chars(labels[-1]).lower()
    return tld.isalpha() and tld not in EMAIL_FILE_SUFFIXES


# -- phone numbers ------------------------------------------------------------


def _nanp_digits_ok(digits: str) -> bool:
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10:
        return False
    area, exchange = digits[:3], digits[3:6]
    if area[0] in "01" or exchange[0] in "01":
        return False
    return area[1:] != "11"  # N11 codes (211, 911...) are service codes, not areas


def valid_nanp_phone(text: str, start: int, end: int) -> bool:
    """A North American number: area and exchange codes start with 2-9, the
    area code is not an N11 service code, and it is not part of a longer
    number."""
    fast = _native_nanp_phone_ok(text, start, end)
    return fast if fast is not None else nanp_phone_reference(text, start, end)


def nanp_phone_reference(text: str, start: int, end: int) -> bool:
    """:func:`valid_nanp_phone` in Python, for any text (the native check's reference)."""
    return _nanp_digits_ok(digits_in(text[start:end])) and _isolated_number(text, start, end)


def valid_phone_with_context(text: str, start: int, end: int) -> bool:
    """Ten bare digits (eleven with a leading 1) are a phone number only
    when a context word ("phone", "call", "mobile"...) comes shortly before."""
    return valid_nanp_phone(text, start, end) and has_context(text, start, PHONE_CONTEXT_WORDS)


def valid_intl_phone(text: str, start: int, end: int) -> bool:
    """An international number written from '+': 8 to 15 digits (E.164), not
    glued to a word or number before the '+', and a valid NANP number when
    the country code is 1."""
    span = text[start:end]
    digits = digits_in(span)
    if span.count(".") == 1 and not any(ch in span for ch in " -()"):
        return False  # a decimal number ("+35236450.6"), not a dotted phone number
    if "(0)" in span.replace(" ", ""):  # the trunk prefix some write: +44 (0)20 ...
        digits = digits_in(span.replace("(0)", "", 1))
    if not 8 <= len(digits) <= 15:
        return False
    before = _char_before(text, start)
    if before and (before.isalnum() or before in "+_"):
        return False
    after, after2 = _two_after(text, end)
    if _is_digitlike(after) or (after in ".," and after and _is_digitlike(after2)):
        return False  # more digits, or a decimal number ("+35236450.6")
    if digits[0] == "1":
        return _nanp_digits_ok(digits)
    return True


# -- secrets ------------------------------------------------------------------

_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def token_boundary(text: str, start: int, end: int) -> bool:
    """The span is a whole token: the characters around it are not letters,
    digits, '_' or '-' (a key must not be a slice of a longer string)."""
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    return before not in _TOKEN_CHARS and after not in _TOKEN_CHARS


def shannon_entropy(value: str) -> float:
    """Shannon entropy of the characters of ``value``, in bits per character."""
    if not value:
        return 0.0
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _char_classes(value: str) -> int:
    return sum((
        any(c.islower() for c in value),
        any(c.isupper() for c in value),
        any(c.isdigit() for c in value),
        any(not c.isalnum() for c in value),
    ))


_PLACEHOLDER_WORDS = (
    "changeme", "change_me", "change-me", "changethis", "your_", "your-", "yourapi", "yourkey",
    "yoursecret", "yourtoken", "yourpass", "<your", "placeholder", "example", "redacted",
    "dummy", "sample", "fake", "notreal", "not_real", "insert", "replace", "todo", "fixme",
    "xxxx", "****", "....", "####", "0000000", "1234567", "abcdefg", "qwerty", "foobar",
    "secret_here", "key_here", "token_here", "here>", "hunter2",
)
_PLACEHOLDER_STARTS = ("$", "<", "{", "(", "%(", "%{", "@{", "#{", "[", "env.", "env(", "env[",
                       "process.env", "os.environ", "os.getenv", "getenv(", "secrets.",
                       "vault:", "ssm:", "/", "./", "../", "~/", "http://", "https://", "file:")


def is_placeholder(value: str) -> bool:
    """A documentation placeholder or a reference rather than a secret:
    "xxxx", "changeme", "<your-token>", "${VAR}", "YOUR_API_KEY", "****",
    environment lookups, file paths and URLs, values of few distinct
    characters."""
    v = value.strip().strip("'\"`").lower()
    if len(v) < 6 or len(set(v)) <= 3:
        return True
    if v.startswith(_PLACEHOLDER_STARTS) or v.endswith(("}", ">")):
        return True
    return any(word in v for word in _PLACEHOLDER_WORDS)


# Values that are code, not secrets: names and words without digits
# ("get_token", "DB_PASSWORD", "SecretStr", "quoted-string"), dotted names ("settings.SECRET_KEY",
# "tokenize.TokenInfo"), calls and subscripts ("get_secret(name)",
# "env['TOKEN']").
_CODE_VALUE = re.compile(
    r"[A-Za-z_.\-]+|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[A-Za-z_][\w.]*[(\[].*", re.DOTALL
)
_ASSIGNMENT = re.compile(r"""["'`]?\s*(?::=|=>|[:=])\s*["'`]?""")


def _assigned_value(span: str) -> str | None:
    """The value of ``keyword = value`` / ``"keyword": "value"`` in a span."""
    m = _ASSIGNMENT.search(span)
    if m is None:
        return None
    return span[m.end() :].strip().strip("'\"`,;")


def valid_secret_assignment(text: str, start: int, end: int) -> bool:
    """The value behind a secret-like keyword (password=..., "api_key": ...)
    looks like a secret: not a placeholder or reference, not a plain
    identifier or function call, and random enough (Shannon entropy of at
    least 3.0 bits per character, or three classes of letters, digits and
    symbols)."""
    value = _assigned_value(text[start:end])
    if value is None or len(value) < 8 or is_placeholder(value):
        return False
    if _CODE_VALUE.fullmatch(value.rstrip(")]},;:")):  # ":": a label ("token: Authorization:")
        return False
    return shannon_entropy(value) >= 3.0 or _char_classes(value) >= 3


def valid_bearer_token(text: str, start: int, end: int) -> bool:
    """The token after "Bearer" is a credential, not a placeholder."""
    span = text[start:end]
    parts = span.split()
    token = parts[-1] if parts else ""
    if len(token) < 16 or is_placeholder(token):
        return False
    return shannon_entropy(token) >= 3.0 or _char_classes(token) >= 3


def left_token_boundary(text: str, start: int, end: int) -> bool:
    """The span starts a token: the character before it is not a letter,
    digit, '_' or '-'. (Long keys are matched in their first characters, so
    the end is not checked.)"""
    return start == 0 or text[start - 1] not in _TOKEN_CHARS


def valid_aws_access_key_id(text: str, start: int, end: int) -> bool:
    """AKIA/ASIA + 16 upper-case letters and digits. A span that does not
    read so in the original text was found in the decoded view (the key was
    base64-, hex- or percent-encoded, and the view reads digits as leetspeak)
    and is accepted."""
    span = text[start:end]
    if span[:4] in ("AKIA", "ASIA") and len(span) == 20:
        return all(ch.isdigit() or ch.isupper() for ch in span[4:]) and token_boundary(
            text, start, end)
    return True


def valid_openai_key(text: str, start: int, end: int) -> bool:
    """An "sk-..." key: starting a token, with letters and digits, not an
    Anthropic key (which has its own rule) and not a placeholder."""
    span = text[start:end]
    body = span[3:]
    if body.startswith("ant-") or not left_token_boundary(text, start, end):
        return False
    if is_placeholder(body):
        return False
    return any(c.isdigit() for c in body) and any(c.isalpha() for c in body)


def valid_anthropic_key(text: str, start: int, end: int) -> bool:
    """An "sk-ant-..." key starting a token, not a placeholder."""
    return left_token_boundary(text, start, end) and not is_placeholder(text[start + 7 : end])


def valid_url_credentials(text: str, start: int, end: int) -> bool:
    """``scheme://user:password@``: the password is not a placeholder."""
    span = text[start:end]
    userinfo = span.split("://", 1)[-1].rstrip("@")
    _, _, password = userinfo.partition(":")
    return bool(password) and not is_placeholder(password) and password.lower() not in {
        "password", "passwd", "pass", "secret", "pwd", "user", "username", "token",
    }


# -- content terms ------------------------------------------------------------


def _is_wordchar(ch: str) -> bool:
    return ch != "" and (ch.isalnum() or ch == "_")


def word_boundary(text: str, start: int, end: int) -> bool:
    """The match is whole words: the visible character before it and after
    it is not a letter or digit (where the match itself starts or ends with
    one). Invisible characters and combining marks around the span are
    skipped, since a match from the folded view is mapped back across them."""
    span = text[start:end]
    visible = [ch for ch in span if not _skippable(ch)]
    if not visible:
        return False
    if _is_wordchar(visible[0]) and _is_wordchar(_char_before(text, start)):
        return False
    return not (_is_wordchar(visible[-1]) and _is_wordchar(_char_after(text, end)))


class TermValidator:
    """Validator of a content term: whole words, and not allowlisted.

    A finding is dropped when its text (compared after :func:`canonical_text`)
    equals an allowlist entry, or when it lies inside an occurrence of an
    allowlist entry in the text (case-insensitive), so an entry such as
    "kill the process" lets a term "kill the" through in that phrase only.
    """

    __slots__ = ("_allow", "_covering", "_widest")

    def __init__(self, allowlist: Iterable[str] = ()) -> None:
        entries = sorted({e.strip() for e in allowlist if e.strip()})
        self._allow = frozenset(canonical_text(e) for e in entries)
        self._covering = tuple(re.compile(re.escape(e), re.IGNORECASE) for e in entries)
        self._widest = max((len(e) for e in entries), default=0)

    @property
    def allowlist(self) -> frozenset[str]:
        return self._allow

    def __call__(self, text: str, start: int, end: int) -> bool:
        if not word_boundary(text, start, end):
            return False
        if not self._allow:
            return True
        if canonical_text(text[start:end]) in self._allow:
            return False
        lo = max(0, start - self._widest)
        hi = min(len(text), end + self._widest)
        for entry in self._covering:
            pos = lo
            while True:
                m = entry.search(text, pos, hi)
                if m is None or m.start() > start:
                    break
                if m.end() >= end:
                    return False
                pos = m.start() + 1
        return True

    def __repr__(self) -> str:
        return f"TermValidator(allowlist={len(self._allow)} entries)"


# -- matches from the decoded view --------------------------------------------

_MAX_DECODE_CHARS = 8192
_B64_RUN = re.compile(r"[A-Za-z0-9+/\-_]+={0,2}")
_HEX_RUN = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2}|[^%])+")  # with at least one '%'
_BACKSLASH_X = re.compile(r"(?:\\[xX][0-9A-Fa-f]{2}|[^\\])+")  # with at least one '\x'


def _as_text(data: bytes) -> str | None:
    """Decoded bytes as text, the decoded view's way: UTF-8 (a character cut
    at either end of the span is dropped), no NUL, 90% printable; then NFKC
    without combining marks."""
    text = data.decode("utf-8", errors="ignore")
    if not text or "\x00" in text:
        return None
    unprintable = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r")
    if unprintable * 10 > len(text):
        return None
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", kept)


def _decode_once(span: str) -> list[str]:
    out: list[bytes] = []
    compact = "".join(span.split())
    if "%" in compact and _PERCENT_RUN.fullmatch(compact):
        out.append(re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), compact)
                   .encode("latin-1", errors="ignore"))
    elif "\\x" in compact.lower() and _BACKSLASH_X.fullmatch(compact):
        out.append(re.sub(r"\\[xX]([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), compact)
                   .encode("latin-1", errors="ignore"))
    else:
        if len(compact) >= 2 and _HEX_RUN.fullmatch(compact):
            out.append(bytes.fromhex(compact))
        if len(compact) >= 4 and _B64_RUN.fullmatch(compact):
            body = compact.rstrip("=")
            if len(body) % 4 == 1:
                body = body[:-1]
            body = body.replace("-", "+").replace("_", "/")
            try:
                out.append(base64.b64decode(body + "=" * (-len(body) % 4), validate=True))
            except (binascii.Error, ValueError):
                pass
    texts = []
    for data in out:
        text = _as_text(data)
        if text is not None:
            texts.append(text)
    return texts


def decodings(span: str, depth: int = 2) -> list[str]:
    """The texts ``span`` decodes to as base64 (either alphabet), hex,
    percent-encoding or ``\\xNN`` escapes, ``depth`` levels deep."""
    if len(span) > _MAX_DECODE_CHARS or depth <= 0:
        return []
    found = []
    for text in _decode_once(span):
        found.append(text)
        found.extend(decodings(text, depth - 1))
    return found


class DecodedAware:
    """A validator that also confirms matches from the decoded view.

    ``check(text, start, end)`` is tried on the span first. If it fails and
    the span decodes (see :func:`decodings`), ``check`` runs on every match of
    ``pattern`` (the rule's own regex) in the decoded text; one success
    confirms the finding.
    """

    __slots__ = ("_check", "_candidate")

    def __init__(self, check: Callable[[str, int, int], bool], pattern: str,
                 caseless: bool = False) -> None:
        self._check = check
        self._candidate = re.compile(pattern, re.IGNORECASE if caseless else 0)

    @property
    def check(self) -> Callable[[str, int, int], bool]:
        return self._check

    def __call__(self, text: str, start: int, end: int) -> bool:
        if self._check(text, start, end):
            return True
        for decoded in decodings(text[start:end]):
            folded = fold_chars(decoded)
            for candidate in (decoded, folded) if folded != decoded else (decoded,):
                for m in self._candidate.finditer(candidate):
                    if self._check(candidate, m.start(), m.end()):
                        return True
        return False

    def __repr__(self) -> str:
        name = getattr(self._check, "__name__", type(self._check).__name__)
        return f"DecodedAware({name}, {self._candidate.pattern!r})"
