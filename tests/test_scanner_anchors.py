"""Rule.requires_any: bounded regex rules detected only around the characters
every match contains. Results must equal a whole-text scan (and Python's re)
whatever the texts, however the windows around those characters fall."""

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmward import Rule, RuleError, Scanner
from oracle import compile_or_skip, spans

ATOMS = ["a", "b", " ", "-", "[ab]", r"\d", r"\w", r"\s", "[^a ]", "."]
BOUNDED = ["", "", "?", "{2}", "{1,3}", "{0,5}"]
# Long stretches without the anchor, so windows are narrow and many.
ALPHABET = "ab -.\né"


@st.composite
def anchored_patterns(draw) -> str:
    def part() -> str:
        return "".join(draw(st.sampled_from(ATOMS)) + draw(st.sampled_from(BOUNDED))
                       for _ in range(draw(st.integers(0, 3))))

    prefix = draw(st.sampled_from(["", r"\b", "^"]))
    suffix = draw(st.sampled_from(["", r"\b", "$"]))
    anchor = draw(st.sampled_from(["@", "1", "[@1]", "1{2}"]))
    return prefix + part() + anchor + part() + suffix


@st.composite
def texts(draw) -> str:
    pieces = draw(st.lists(st.one_of(st.text(ALPHABET, max_size=40),
                                     st.sampled_from(["@", "1", "11", "a@b", "1-1"])),
                           max_size=20))
    return "".join(pieces)


@settings(max_examples=400, deadline=None)
@given(pattern=anchored_patterns(), text=texts(), caseless=st.booleans())
def test_anchored_scan_equals_whole_text_scan(pattern, text, caseless):
    anchored = compile_or_skip([Rule("r", pattern, caseless=caseless, requires_any="@1")])
    whole = compile_or_skip([Rule("r", pattern, caseless=caseless)])
    found = [(m.start, m.end) for m in anchored.scan(text)]
    assert found == [(m.start, m.end) for m in whole.scan(text)]
    assert found == spans(pattern, text, caseless=caseless)


def test_windows_far_apart_and_at_both_ends():
    rules = [Rule("card", r"\b[0-9]{4}-[0-9]{4}\b", requires_any="0123456789"),
             Rule("mail", r"\b[a-z]{1,10}@[a-z]{1,10}\.[a-z]{2,3}\b", requires_any="@"),
             Rule("word", "filler")]
    scan = Scanner(rules, cache=False).scan
    text = "1234-5678 " + "filler text " * 300 + "bob@example.com and x9999-1234 and 4321-8765"
    found = [(m.rule, text[m.start:m.end]) for m in scan(text)]
    assert ("card", "1234-5678") in found and ("card", "4321-8765") in found
    assert ("mail", "bob@example.com") in found
    assert ("card", "9999-1234") not in found  # no word boundary before it in the text
    assert sum(r == "word" for r, _ in found) == 300


def test_requires_any_is_kept_and_checked():
    rule = Rule("r", "[0-9]{3}", requires_any="0123456789")
    assert rule.requires_any == "0123456789"
    assert "requires_any='0123456789'" in repr(rule)
    assert pickle.loads(pickle.dumps(rule)) == rule
    assert rule != Rule("r", "[0-9]{3}")
    with pytest.raises(RuleError, match="ASCII"):
        Scanner([Rule("r", "x", requires_any="é")], cache=False)


def test_unbounded_rule_with_requires_any_scans_the_whole_text():
    # Windows need a bounded width; an unbounded rule is detected as before.
    scan = Scanner([Rule("r", "@a+", requires_any="@")], cache=False).scan
    text = "@" + "a" * 5000
    assert [(m.start, m.end) for m in scan(text)] == [(0, 5001)]


def test_anchored_rules_in_views():
    # Full-width digits fold to ASCII digits in the folded view: the anchor set
    # holds for the view's text, where the pattern matches.
    scanner = Scanner([Rule("r", r"[0-9]{3}-[0-9]{4}", requires_any="0123456789")], cache=False)
    text = "call ５５５-１２３４ now"
    found = scanner.scan_views(text)
    assert [(text[m.start:m.end], m.view) for m in found] == [("５５５-１２３４", "folded")]


# -- folded views scanned only around what folding changed --------------------------------

VIEW_RULES = [Rule("ignore", r"\bignore\s{0,3}previous\b"), Rule("lit", "secret", literal=True),
              Rule("digits", r"[0-9]{3}-[0-9]{4}", requires_any="0123456789"),
              Rule("mail", r"\b[a-z]{1,8}@[a-z]{1,8}\.com\b", caseless=False, requires_any="@")]
EVASIONS = ["ign\u200bore previous", "1gn0re prev1ous", "i g n o r e previous", "ｓｅｃｒｅｔ",
            "５５５-１２３４", "b\u200bob@mail.com", "Ｓecret", "ignore previous", "555-1234",
            "sec\u00adret", "e\u0301", "日本", " ", "\n", "filler words here. ", "x" * 30]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(EVASIONS), max_size=40).map("".join))
def test_windowed_folded_view_equals_full_folded_scan(text):
    from llmward import VIEW_FOLDED, VIEW_RAW

    scanner = Scanner(VIEW_RULES, cache=False)
    both = {(m.rule, m.start, m.end) for m in scanner.scan_views(text, VIEW_RAW | VIEW_FOLDED)}
    raw = {(m.rule, m.start, m.end) for m in scanner.scan(text)}
    folded = {(m.rule, m.start, m.end) for m in scanner.scan_views(text, VIEW_FOLDED)}
    assert both == raw | folded
