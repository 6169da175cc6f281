"""Scanner.scan against Python's `re` (see oracle.py) on random texts and a
family of patterns both engines give the same meaning: ASCII classes, no
backreferences or lookaround."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmward import Rule, Scanner
from oracle import compile_or_skip, spans

ALPHABET = "abcAB1 -.@\né€中🙂"
ATOMS = ["a", "b", "c", "A", "1", "é", "€", " ", "-", r"\.", ".", "[ab]", "[a-c1]", r"\d", r"\w",
         r"\s", "[^a ]"]
QUANTIFIERS = ["", "", "?", "+", "*", "{2}", "{1,3}"]


@st.composite
def patterns(draw) -> str:
    def sequence() -> str:
        parts = [
            draw(st.sampled_from(ATOMS)) + draw(st.sampled_from(QUANTIFIERS))
            for _ in range(draw(st.integers(1, 4)))
        ]
        return "".join(parts)

    body = "|".join(sequence() for _ in range(draw(st.integers(1, 2))))
    pattern = f"(?:{body})" if "|" in body else body
    prefix = draw(st.sampled_from(["", "", r"\b", "^"]))
    suffix = draw(st.sampled_from(["", "", r"\b", "$"]))
    return prefix + pattern + suffix


@given(pattern=patterns(), text=st.text(ALPHABET, max_size=40), caseless=st.booleans())
def test_regex_spans_equal_re(pattern, text, caseless):
    scanner = compile_or_skip([Rule("r", pattern, caseless=caseless)])
    found = [(m.start, m.end) for m in scanner.scan(text)]
    assert found == spans(pattern, text, caseless=caseless)
    for start, end in found:
        assert text[start:end]  # code-point offsets index the str


# Sparse matches in longer texts: exact spans are computed only in windows
# around the ends the detection pass saw, which must hold every match.
SPARSE = st.lists(
    st.sampled_from(["zzzzzzzzzzzz ", "zzzzzzzzzzzz ", "abc", "a1", "b-c", "é€", "\n", "AB. ",
                     "1 1"]),
    max_size=60,
).map("".join)


@given(pattern=patterns(), text=SPARSE, caseless=st.booleans())
def test_spans_in_sparse_long_texts_equal_re(pattern, text, caseless):
    scanner = compile_or_skip([Rule("r", pattern, caseless=caseless)])
    assert [(m.start, m.end) for m in scanner.scan(text)] == spans(pattern, text, caseless=caseless)


def test_a_rule_ending_in_many_places():
    # Past 32 ends the spans come from a scan of the whole text; either way
    # every match is found.
    for count in (1, 31, 32, 33, 200):
        text = " ".join(["abbc", "zz"] * count)
        pattern = r"\bab{1,3}c\b"
        found = [(m.start, m.end) for m in Scanner([Rule("r", pattern)], cache=False).scan(text)]
        assert found == spans(pattern, text) and len(found) == count


@given(
    terms=st.lists(st.text("abAé-", min_size=1, max_size=4), min_size=1, max_size=6, unique=True),
    text=st.text("abAÉé- ", max_size=40),
    caseless=st.booleans(),
)
def test_literal_spans_equal_re(terms, text, caseless):
    # Caseless literals fold Unicode case like re's IGNORECASE without ASCII.
    import re

    scanner = Scanner(
        [Rule(f"t{i}", t, literal=True, caseless=caseless) for i, t in enumerate(terms)],
        cache=False,
    )
    flags = re.IGNORECASE if caseless else 0
    expected = []
    for i, term in enumerate(terms):
        compiled = re.compile(re.escape(term), flags)
        for start in range(len(text)):
            if compiled.match(text, start):
                expected.append((start, start + len(term), f"t{i}"))
    got = [(m.start, m.end, m.rule) for m in scanner.scan(text)]
    assert sorted(got) == sorted(expected)
    assert got == sorted(got, key=lambda g: (g[0], g[1], int(g[2][1:])))


@given(
    rules=st.lists(patterns(), min_size=2, max_size=5),
    text=st.text(ALPHABET, max_size=40),
)
def test_multi_rule_scan_is_the_union_of_single_rule_scans(rules, text):
    scanner = compile_or_skip([Rule(f"r{i}", p) for i, p in enumerate(rules)])
    expected = sorted(
        (start, end, i) for i, p in enumerate(rules) for start, end in spans(p, text)
    )
    assert [(m.start, m.end, int(m.rule[1:])) for m in scanner.scan(text)] == expected


@pytest.mark.parametrize(
    "pattern,text,expected",
    [
        (r"\b\d{3}-\d{2}-\d{4}\b", "ssn 123-45-6789 and 1123-45-67890", [(4, 15)]),
        (r"\[INST\].*\[\/INST\]", "[INST] a [/INST] b [/INST]", [(0, 26)]),
        (r"ab|ba", "aba", [(0, 2), (1, 3)]),
        (r"b|abc", "abc", [(0, 3)]),
    ],
)
def test_known_cases(pattern, text, expected):
    scanner = Scanner([Rule("r", pattern)], cache=False)
    assert [(m.start, m.end) for m in scanner.scan(text)] == expected
    assert spans(pattern, text) == expected
