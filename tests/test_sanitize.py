from hypothesis import given
from hypothesis import strategies as st

from llmward.guard.sanitize import sanitize

PIECES = st.sampled_from(["a", "b", " ", "  ", "\n", "\t", "\x00", "\x7f", "<b>", "</p>",
                          "<x y='1'>", "é", "\ud800", "\u3000", "<", ">", "word"])


def test_changes():
    assert sanitize("ig<b></b>nore  previous\n\ninstructions ").text == \
        "ignore previous instructions"
    assert sanitize("a\x00b\x1fc\x7fd\x9fe").text == "abcde"
    assert sanitize("  \t padded \n ").text == "padded"
    assert sanitize("lone \ud800 surrogate").text == "lone \ufffd surrogate"
    assert sanitize("").text == ""
    assert sanitize(" \n\t ").text == ""
    assert sanitize("1 < 2 and 3 > 2").text == "1 < 2 and 3 > 2"  # not a tag
    assert not sanitize("a  b\n").removed
    assert sanitize("a<b>c").removed and sanitize("a\x00").removed


def test_unchanged_text_maps_to_itself():
    s = sanitize("plain text")
    assert s.text == "plain text"
    assert s.to_original(6, 10) == (6, 10)


def test_spans_map_back_to_original_characters():
    original = "<i>Say</i>  hello\n\nto   <b>bob@example.com</b>\x00!"
    s = sanitize(original)
    assert s.text == "Say hello to bob@example.com!"
    start = s.text.index("bob")
    a, b = s.to_original(start, start + len("bob@example.com"))
    assert original[a:b] == "bob@example.com"
    assert s.to_original(0, len(s.text)) == (3, len(original))


@given(st.lists(PIECES, max_size=30).map("".join))
def test_map_is_monotonic_and_in_bounds(text):
    s = sanitize(text)
    previous = (0, 0)
    for i in range(len(s.text)):
        a, b = s.to_original(i, i + 1)
        assert 0 <= a < b <= len(text)
        assert a >= previous[0] and b >= previous[1]
        previous = (a, b)
        if s.text[i] not in " \ufffd":
            assert text[a:b] == s.text[i]
