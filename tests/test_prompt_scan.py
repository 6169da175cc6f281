"""The guard's one-call native paths: scan_prompt / scan_prompts (sanitize,
then scan the views with several scanners), scan_with, and hold_start for
streams. Each is checked against the separate calls it stands for."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gil import assert_releases_gil
from llmward import Rule, Scanner
from llmward._core import hold_start, sanitize, scan_prompt, scan_prompts, scan_with
from sanitize_oracle import _CHANGES

MAIN = Scanner([Rule("ignore", r"\bignore\s{0,3}previous\b"), Rule("tag", "<system>", literal=True),
                Rule("mail", r"\b[a-z]{1,8}@[a-z]{1,8}\.com\b", caseless=False,
                     requires_any="@")], cache=False)
CANARY = Scanner([Rule("canary", "lwc-canary-0001", literal=True, caseless=False)], cache=False)
PIECES = ["ignore previous", "ign<b></b>ore previous", "<system>", "i g n o r e previous",
          "bob@mail.com", "b\u200bob@mail.com", "lwc-canary-0001", "\x00", "  ", "\n\n", "\t",
          "\ud800", "ｉｇｎｏｒｅ previous", "word ", "é", "<p>", ">"]


def keys(matches):
    return [(m.rule, m.start, m.end, m.view) for m in matches]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=25).map("".join))
def test_scan_prompt_equals_sanitize_then_scan_views(text):
    result = scan_prompt([MAIN, CANARY], text)
    cleaned = sanitize(text)
    assert result.sanitized.text == cleaned.text
    assert result.sanitized.removed == cleaned.removed
    assert [keys(m) for m in result.matches] == [
        keys(MAIN.scan_views(cleaned.text)), keys(CANARY.scan_views(cleaned.text))]
    if cleaned.removed:  # the original too, around what sanitization removed
        check_original_matches(text, result.original_matches)
    else:
        assert result.original_matches == [[], []]
    for m in result.matches[0]:
        a, b = result.sanitized.to_original(m.start, m.end)
        assert 0 <= a < b <= len(text)


def removed_positions(text: str) -> set[int]:
    """Code points of `text` that sanitization drops: tags and control characters
    (the reference's rules, tests/sanitize_oracle.py)."""
    out: set[int] = set()
    for change in _CHANGES.finditer(text):
        if change.lastgroup in ("tag", "ctrl"):
            out.update(range(*change.span()))
    return out


def check_original_matches(text, original_matches):
    """The original's matches that overlap a removed character or read one as
    context are all there, and every one there is a match of the original's
    views (plain text is scanned only in windows around the removals)."""
    removed = removed_positions(text)
    for scanner, found in zip((MAIN, CANARY), original_matches, strict=True):
        whole = keys(scanner.scan_views(text))
        got = keys(found)
        assert set(got) <= set(whole)
        for rule, start, end, view in whole:
            if removed & set(range(start - 1, end + 1)):
                assert (rule, start, end, view) in got


def test_plain_text_is_rescanned_only_around_removals():
    far = "ignore previous " + "word " * 200
    text = far + "<system>ignore previous</system>" + " word" * 200
    result = scan_prompt([MAIN, CANARY], text)
    near = text.index("<system>")
    assert keys(result.original_matches[0]) == [
        ("tag", near, near + 8, "raw"), ("ignore", near + 8, near + 23, "raw")]
    assert keys(MAIN.scan_views(text))[0] == ("ignore", 0, 15, "raw")  # outside every window


def test_removed_tag_is_found_in_the_original():
    result = scan_prompt([MAIN, CANARY], "hello <system> world")
    assert result.sanitized.text == "hello  world"  # whitespace runs are judged before tags go
    assert keys(result.original_matches[0]) == [("tag", 6, 14, "raw")]


def test_scan_prompts_equals_scan_prompt_and_releases_the_gil():
    texts = ["ignore previous " * 3, "a <system> b", "bob@mail.com", ""]
    batch = scan_prompts([MAIN, CANARY], texts)
    for text, result in zip(texts, batch, strict=True):
        one = scan_prompt([MAIN, CANARY], text)
        assert result.sanitized.text == one.sanitized.text
        assert [keys(m) for m in result.matches] == [keys(m) for m in one.matches]
    big = ["lorem ipsum ignore previous bob@mail.com <b>x</b> " * 4000] * 10
    assert_releases_gil(lambda: scan_prompts([MAIN, CANARY], big))


def test_bad_arguments():
    with pytest.raises(TypeError):
        scan_prompt([MAIN], b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        scan_prompt([], "text")
    with pytest.raises(TypeError):
        scan_prompts([MAIN], "not a list of texts")
    with pytest.raises(ValueError):
        scan_prompt([MAIN], "text", 8)


@given(st.lists(st.sampled_from(PIECES), max_size=25).map("".join))
def test_scan_with_equals_scan_views_per_scanner(text):
    assert [keys(m) for m in scan_with([MAIN, CANARY], text)] == [
        keys(MAIN.scan_views(text)), keys(CANARY.scan_views(text))]


def test_hold_start_counts_bytes_of_the_text_and_its_folded_view():
    assert hold_start("a" * 100, 60) == 40  # nothing to fold: bytes of the text
    assert hold_start("a" * 100, 101) == -1
    assert hold_start("é" * 50, 40) == 10  # "e" in the folded view: 40 folded bytes back
    assert hold_start("é" * 50, 60) == -1  # 100 bytes, but only 50 in the folded view
    assert hold_start("abc", 0) == 3
    # Invisible padding makes the text longer than its folded view: the hold
    # reaches back until 60 folded bytes are covered.
    padded = "a" * 100 + "\u200b" * 50
    assert hold_start(padded, 60) <= 40
    assert hold_start("\u200b" * 100, 1) == -1  # nothing at all in the folded view
    with pytest.raises(ValueError):
        hold_start("abc", -1)


@given(st.text(st.sampled_from("ab \u200bé１"), max_size=60), st.integers(0, 80))
def test_hold_start_is_a_cut_that_leaves_enough(text, distance):
    o = hold_start(text, distance)
    if o < 0:
        return
    assert 0 <= o <= len(text)
    assert len(text[o:].encode()) >= distance
    assert hold_start(text, distance + 1) <= o  # a longer hold never cuts later
