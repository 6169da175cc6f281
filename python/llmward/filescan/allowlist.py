"""The allowlist of `llmward scan`: findings that are known and accepted.

Format (UTF-8 text, one entry a line)::

    # a comment; blank lines are ignored
    tests/test_packs.py                           # every rule, in this file
    tests/data/**/*.jsonl secret.jwt secret.pypi_token   # only these rules here

An entry is a path glob, then optionally rule ids or categories separated by
spaces; without any, it covers every rule. A name covers the rule or category
it equals and those it prefixes at a dot (``secret`` covers
``secret.github_token``). Globs are matched against the finding's path relative
to the directory of the allowlist file, with ``/`` separators: ``*`` and ``?``
match within one path segment, ``**`` matches across segments (``dir/**``:
everything under dir). An entry must be relative and must not contain ``..``.
Text after `` #`` is a comment.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


@dataclass(frozen=True, slots=True)
class Entry:
    line: int
    glob: str
    names: tuple[str, ...]  # rule ids or categories; empty: every rule
    pattern: re.Pattern[str] = field(repr=False)

    def covers(self, relative_path: str, rule: str, category: str) -> bool:
        if not self.pattern.fullmatch(relative_path):
            return False
        return not self.names or any(_covers(name, rule) or _covers(name, category)
                                     for name in self.names)


@dataclass(slots=True)
class Allowlist:
    base: Path  # paths are matched relative to this directory
    entries: list[Entry]
    used: set[int] = field(default_factory=set)  # lines of entries that covered a finding

    def covers(self, relative_path: str, rule: str, category: str) -> bool:
        for entry in self.entries:
            if entry.covers(relative_path, rule, category):
                self.used.add(entry.line)
                return True
        return False

    def unused(self) -> list[Entry]:
        return [e for e in self.entries if e.line not in self.used]


def load(path: Path, known_name: Callable[[str], bool]) -> Allowlist:
    """Parses the file; ValueError (with the line number) on a malformed entry or a
    rule name `known_name` rejects (a typo would otherwise go unnoticed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8"
        raise ValueError(f"allowlist {path}: cannot read: {reason}") from None
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.split(r"\s#|^#", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        glob, *names = line.split()
        where = f"allowlist {path}:{number}"
        if glob.startswith("/") or ".." in glob.split("/"):
            raise ValueError(f"{where}: the glob must be relative and free of '..': {glob!r}")
        for name in names:
            if not _NAME.fullmatch(name) or not known_name(name):
                raise ValueError(f"{where}: unknown rule id or category {name!r}")
        entries.append(Entry(number, glob, tuple(names), glob_pattern(glob)))
    return Allowlist(path.parent, entries)


def glob_pattern(glob: str) -> re.Pattern[str]:
    """The regex of a path glob: ``**/`` any folders (or none), ``**`` anything,
    ``*`` and ``?`` within one segment; everything else literal."""
    parts = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            parts.append("(?:[^/]*/)*")
            i += 3
        elif glob.startswith("**", i):
            parts.append(".*")
            i += 2
        elif glob[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(parts), re.DOTALL)


def _covers(name: str, rule_or_category: str) -> bool:
    return rule_or_category == name or rule_or_category.startswith(name + ".")
