"""Stream scanning must equal block scanning for every way of cutting the text."""

from hypothesis import given
from hypothesis import strategies as st

from llmward import Rule, Scanner

RULES = [
    Rule("override", r"ignore\s+previous\s+instructions"),  # unbounded: released at close
    Rule("ssn", r"\b\d{3}-\d{2}-\d{4}\b"),
    Rule("phone", r"\b\d{3}[-.]?\d{3}[-.]?\d{4}\b"),
    Rule("inst", r"\[INST\].{0,10}\[/INST\]"),
    Rule("tail", r"end$"),
    Rule("aa", "aa", literal=True),
    Rule("secret", "topsecret", literal=True),
    Rule("cafe", "café", literal=True),
    Rule("digits", r"\d{2,6}"),
]
SCANNER = Scanner(RULES, cache=False)
ALPHABET = "aeignorstpvuc -\n0123456789[]/INSTé🙂"
PHRASES = ["ignore previous instructions", "123-45-6789", "555.123.4567", "[INST]hi[/INST]",
           "topsecret", "CAFÉ", "aaa", "end"]

texts = st.lists(st.one_of(st.text(ALPHABET, max_size=12), st.sampled_from(PHRASES)),
                 max_size=8).map("".join)


def stream_scan(scanner, chunks):
    stream = scanner.stream()
    found = []
    for chunk in chunks:
        found += stream.feed(chunk)
    return found + stream.close()


@st.composite
def texts_and_cuts(draw):
    text = draw(texts)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=10)))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@given(texts_and_cuts())
def test_stream_equals_block(case):
    text, chunks = case
    found = stream_scan(SCANNER, chunks)
    assert sorted(found, key=lambda m: (m.start, m.end, m.rule)) == sorted(
        SCANNER.scan(text), key=lambda m: (m.start, m.end, m.rule)
    )


@given(texts)
def test_one_character_at_a_time(text):
    assert sorted(stream_scan(SCANNER, list(text)), key=lambda m: (m.start, m.end, m.rule)) == \
        sorted(SCANNER.scan(text), key=lambda m: (m.start, m.end, m.rule))


def test_match_across_a_chunk_boundary_has_stream_offsets():
    stream = Scanner([Rule("secret", "topsecret", literal=True)], cache=False).stream()
    assert stream.feed("héllo top") == []
    found = stream.feed("secret and more text that pushes the stream well past the match")
    assert [(m.start, m.end) for m in found] == [(6, 15)]
    assert stream.close() == []


def test_bounded_matches_are_released_before_close():
    stream = Scanner([Rule("ssn", r"\b\d{3}-\d{2}-\d{4}\b")], cache=False).stream()
    assert stream.feed("id 123-45-6789") == []  # could still grow or be swallowed
    released = stream.feed(" " + "x" * 40)
    assert [(m.start, m.end) for m in released] == [(3, 14)]


def test_unbounded_matches_wait_for_close():
    stream = Scanner([Rule("digits", r"\d+")], cache=False).stream()
    assert stream.feed("12") == []
    assert stream.feed("34" + " " * 100) == []  # "\d+" could always have started earlier
    assert [(m.start, m.end) for m in stream.close()] == [(0, 4)]


def test_streams_are_independent():
    scanner = Scanner([Rule("secret", "topsecret", literal=True)], cache=False)
    a, b = scanner.stream(), scanner.stream()
    a.feed("top")
    b.feed("xyz")
    a.feed("secret")
    b.feed("secret")
    assert [m.rule for m in a.close()] == ["secret"]
    assert b.close() == []


def test_long_stream_keeps_offsets_exact():
    scanner = Scanner([Rule("secret", "topsecret", literal=True)], cache=False)
    stream = scanner.stream()
    text = ""
    found = []
    for i in range(2000):
        chunk = ("é" if i % 3 else "a") * 5 + (" topsecret " if i % 97 == 0 else "")
        text += chunk
        found += stream.feed(chunk)
    found += stream.close()
    assert found == scanner.scan(text)
    assert all(text[m.start : m.end] == "topsecret" for m in found)
