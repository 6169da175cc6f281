"""Content filter: banned terms and per-category term lists.

Like the seed's ContentFilter, terms come from a configuration directory::

    <config_dir>/banned_terms.txt          category content.banned
    <config_dir>/filters/<category>.txt    category content.<category>
    <config_dir>/allowlist.txt             exceptions for every category
    <config_dir>/filters/<category>.allow.txt   exceptions for one category

Any of these that is missing (or ``config_dir=None``) falls back to the list
shipped in ``llmward/guard/data/`` with the same relative path: banned terms
and the seed's four categories ``violence``, ``hate_speech``, ``nsfw`` and
``illegal``. Extra ``filters/<category>.txt`` files in the configuration
directory add categories (names of lower-case letters, digits and '_'). To
switch a built-in category off, give an empty file.

File format: UTF-8, one term per line; blank lines and lines starting with
``#`` are ignored. A comment before the first term may declare the actions of
the file's category::

    # action: block, output_action: redact

(``action`` applies in prompts, ``output_action`` in outputs; each is block,
redact or flag; the default is block / redact.) Terms are matched
case-insensitively, as literals (Hyperscan's literal matcher: thousands of
terms cost little), in the raw, folded and decoded views, and only as whole
words: the characters around a match must not be letters or digits
("skill" does not match "kill"). Terms are stored NFKC-normalized, without
accents and lower-cased, the form the folded view produces. A line longer
than 200 characters, with a control character, with no letter or digit or
shorter than two characters raises ``ValueError`` naming the file and line.

Allowlists hold exact phrases, one per line. A finding is dropped when its
matched text equals an entry (ignoring case, accents and invisible
characters) or lies inside an occurrence of an entry in the text: with
"kill the process" allowlisted, a term "kill the" no longer fires in "kill
the process", but still fires elsewhere.

Rule ids are ``content.<category>.<hash>``, the first 10 hex digits of the
SHA-256 of the normalized term: stable when the file is reordered or edited
elsewhere. The placeholder is ``[FILTERED]``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import cast, get_args

from llmward.guard.rules import ALL_VIEWS, Action, RuleSpec
from llmward.guard.validators import DecodedAware, TermValidator

__all__ = [
    "BUILTIN_CATEGORIES",
    "MAX_TERM_CHARS",
    "TermList",
    "content_rules",
    "data_dir",
    "load_term_file",
]

BUILTIN_CATEGORIES = ("violence", "hate_speech", "nsfw", "illegal")
MAX_TERM_CHARS = 200
MAX_FILE_BYTES = 16 * 1024 * 1024
_ACTIONS = frozenset(get_args(Action))
_CATEGORY_NAME = re.compile(r"[a-z0-9_]{1,64}")
_DIRECTIVE = re.compile(r"#\s*action\s*:", re.IGNORECASE)
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def data_dir() -> Path:
    """The directory of the shipped default lists."""
    return Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True, slots=True)
class TermList:
    """A parsed term file: normalized, de-duplicated terms in file order."""

    path: Path
    terms: tuple[str, ...]
    lines: tuple[int, ...]  # line number of each term
    action: Action = "block"
    output_action: Action = "redact"


def normalize_term(term: str) -> str:
    """NFKC, accents dropped, lower case: the folded view's form of a term."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", term))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(unicodedata.normalize("NFKC", stripped).lower().split())


def _read_lines(path: Path) -> list[str]:
    with path.open("rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not valid UTF-8 (byte {error.start})") from None
    # Split on \n only: a stray \r, \x0b or \u2028 inside a line is reported
    # as a control character rather than silently splitting the term.
    lines = text.split("\n")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _parse_directive(line: str, path: Path, lineno: int) -> tuple[Action, Action]:
    values: dict[str, str] = {}
    body = line.lstrip("#").strip()
    for part in body.split(","):
        key, sep, value = part.partition(":")
        key, value = key.strip().lower(), value.strip().lower()
        if not sep or key not in ("action", "output_action") or key in values:
            raise ValueError(f"{path}:{lineno}: bad directive {line.strip()!r}; expected "
                             "'# action: <block|redact|flag>, output_action: <...>'")
        if value not in _ACTIONS:
            raise ValueError(f"{path}:{lineno}: unknown action {value!r}; "
                             f"expected one of {sorted(_ACTIONS)}")
        values[key] = value
    return (cast(Action, values.get("action", "block")),
            cast(Action, values.get("output_action", "redact")))


def _check_term(raw: str, path: Path, lineno: int) -> str:
    if len(raw) > MAX_TERM_CHARS:
        raise ValueError(f"{path}:{lineno}: term longer than {MAX_TERM_CHARS} characters")
    for ch in raw:
        if unicodedata.category(ch) in _BAD_CATEGORIES:
            raise ValueError(f"{path}:{lineno}: control or invisible character "
                             f"U+{ord(ch):04X} in term")
    term = normalize_term(raw)
    if len(term) < 2:
        raise ValueError(f"{path}:{lineno}: term {raw!r} is shorter than 2 characters")
    if not any(ch.isalnum() for ch in term):
        raise ValueError(f"{path}:{lineno}: term {raw!r} has no letter or digit")
    return term


def load_term_file(path: Path) -> TermList:
    """Parses a term file (see the module docstring)."""
    terms: dict[str, int] = {}
    actions: tuple[Action, Action] = ("block", "redact")
    seen_directive = False
    for lineno, line in enumerate(_read_lines(path), start=1):
        stripped = line.strip(" \t")
        if not stripped:
            continue
        if stripped.startswith("#"):
            if _DIRECTIVE.match(stripped):
                if terms or seen_directive:
                    raise ValueError(f"{path}:{lineno}: the action directive must come "
                                     "once, before the first term")
                actions = _parse_directive(stripped, path, lineno)
                seen_directive = True
            continue
        term = _check_term(stripped, path, lineno)
        terms.setdefault(term, lineno)
    return TermList(path, tuple(terms), tuple(terms.values()), *actions)


def load_allowlist(path: Path) -> tuple[str, ...]:
    """Allowlist entries: one phrase a line, blank lines and comments ignored."""
    entries = []
    for lineno, line in enumerate(_read_lines(path), start=1):
        stripped = line.strip(" \t")
        if stripped and not stripped.startswith("#"):
            entries.append(_check_term(stripped, path, lineno))
    return tuple(entries)


def _pick(config_dir: Path | None, relative: str) -> Path | None:
    """The configured file, else the shipped default, else None."""
    if config_dir is not None:
        candidate = config_dir / relative
        if candidate.is_file():
            return candidate
    default = data_dir() / relative
    return default if default.is_file() else None


def _rule_id(category: str, term: str, taken: set[str]) -> str:
    digest = hashlib.sha256(term.encode("utf-8")).hexdigest()
    for size in (10, 16, 64):
        rule_id = f"content.{category}.{digest[:size]}"
        if rule_id not in taken:
            return rule_id
    raise AssertionError("unreachable: distinct terms with equal SHA-256")  # pragma: no cover


def _category_rules(category: str, terms: TermList, allow: tuple[str, ...]) -> list[RuleSpec]:
    validator = TermValidator(allow)
    taken: set[str] = set()
    rules = []
    for term, lineno in zip(terms.terms, terms.lines, strict=True):
        rule_id = _rule_id(category, term, taken)
        taken.add(rule_id)
        rules.append(RuleSpec(
            id=rule_id,
            pattern=term,
            category=f"content.{category}",
            action=terms.action,
            output_action=terms.output_action,
            literal=True,
            caseless=True,
            views=ALL_VIEWS,
            validator=DecodedAware(validator, re.escape(term), caseless=True),
            placeholder="[FILTERED]",
            description=f"{category} term ({terms.path.name}:{lineno})",
        ))
    return rules


def _categories(config_dir: Path | None) -> list[str]:
    names = list(BUILTIN_CATEGORIES)
    if config_dir is not None and (config_dir / "filters").is_dir():
        extra = []
        for path in (config_dir / "filters").glob("*.txt"):
            name = path.name[: -len(".txt")]
            if name.endswith(".allow") or name in names:
                continue
            if not _CATEGORY_NAME.fullmatch(name) or name == "banned":
                raise ValueError(f"{path}: category names are lower-case letters, digits and "
                                 "'_' (and not 'banned')")
            extra.append(name)
        names += sorted(extra)
    return names


def content_rules(config_dir: Path | None = None) -> list[RuleSpec]:
    """Literal rules for the banned terms and every filter category.

    ``config_dir`` holds ``banned_terms.txt``, ``filters/<category>.txt`` and
    the optional allowlists; missing files fall back to the shipped lists.
    """
    if config_dir is not None:
        config_dir = Path(config_dir)
        if not config_dir.is_dir():
            raise ValueError(f"content directory {config_dir} is not a directory")
    global_allow: tuple[str, ...] = ()
    allow_path = _pick(config_dir, "allowlist.txt")
    if allow_path is not None:
        global_allow = load_allowlist(allow_path)

    rules: list[RuleSpec] = []
    banned = _pick(config_dir, "banned_terms.txt")
    if banned is not None:
        rules += _category_rules("banned", load_term_file(banned), global_allow)
    for category in _categories(config_dir):
        path = _pick(config_dir, f"filters/{category}.txt")
        if path is None:
            continue
        allow = global_allow
        category_allow = _pick(config_dir, f"filters/{category}.allow.txt")
        if category_allow is not None:
            allow += load_allowlist(category_allow)
        rules += _category_rules(category, load_term_file(path), allow)
    return rules
