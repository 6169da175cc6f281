import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmward import Rule, RuleError, Scanner


def compile_error(*rules: Rule) -> RuleError:
    with pytest.raises(RuleError) as info:
        Scanner(list(rules), cache=False)
    return info.value


def test_empty_rule_set():
    error = compile_error()
    assert "at least one rule" in str(error)
    assert error.rule_id is None


def test_duplicate_ids():
    error = compile_error(Rule("dup", "a"), Rule("other", "b"), Rule("dup", "c"))
    assert error.rule_id == "dup"
    assert "duplicate rule id" in str(error)


def test_empty_id_and_pattern():
    assert "non-empty" in str(compile_error(Rule("", "a")))
    error = compile_error(Rule("blank", ""))
    assert error.rule_id == "blank" and "empty pattern" in str(error)
    assert compile_error(Rule("blank", "", literal=True)).rule_id == "blank"


@pytest.mark.parametrize("pattern", ["a*", "(x)?", "a|", r"\b", "^"])
def test_patterns_matching_the_empty_string(pattern):
    error = compile_error(Rule("ok", "fine"), Rule("empty", pattern))
    assert error.rule_id == "empty"
    assert "empty string" in str(error)


@pytest.mark.parametrize(
    "pattern", [r"(a)\1", r"foo(?=bar)", r"foo(?!bar)", r"(?<=x)foo", r"(?<!x)foo"]
)
def test_unsupported_constructs(pattern):
    error = compile_error(Rule("ok", "fine"), Rule("bad", pattern))
    assert error.rule_id == "bad"
    assert "unsupported construct" in str(error)
    assert "rule 'bad'" in str(error)


@pytest.mark.parametrize("pattern", ["(abc", "[z-a]", "a{3,2}", "*a"])
def test_syntax_errors_name_the_rule(pattern):
    error = compile_error(Rule("ok", "fine"), Rule("broken", pattern))
    assert error.rule_id == "broken"
    assert "does not compile" in str(error)


def test_nul_in_regex_is_refused_but_allowed_in_literals():
    assert "NUL" in str(compile_error(Rule("nul", "a\x00b")))
    s = Scanner([Rule("nul", "a\x00b", literal=True)], cache=False)
    assert [(m.start, m.end) for m in s.scan(b"xa\x00b")] == [(1, 4)]


def test_wrong_argument_types():
    with pytest.raises(TypeError, match="Rule objects"):
        Scanner(["not a rule"], cache=False)  # type: ignore[list-item]
    s = Scanner([Rule("a", "abc")], cache=False)
    with pytest.raises(TypeError, match="str or bytes"):
        s.scan(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        s.scan_batch("abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str or bytes"):
        s.scan_batch(["ok", 5])  # type: ignore[list-item]
    stream = s.stream()
    with pytest.raises(TypeError, match="str chunks"):
        stream.feed(b"abc")  # type: ignore[arg-type]


def test_feed_after_close():
    stream = Scanner([Rule("a", "abc")], cache=False).stream()
    stream.feed("ab")
    assert [m.rule for m in stream.close()] == []
    assert stream.close() == []
    with pytest.raises(RuntimeError, match="after close"):
        stream.feed("c")


TERMS = ["abc", "ÿ", "\x00z", "ab"]
SCANNER = Scanner(
    [Rule(f"t{i}", t, literal=True) for i, t in enumerate(TERMS)] + [Rule("dot", "a.c")],
    cache=False,
)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_and_offsets_stay_in_bounds(data):
    for m in SCANNER.scan(data):
        assert 0 <= m.start < m.end <= len(data)
        if m.rule.startswith("t"):
            # Caseless non-ASCII terms fold Unicode case ("Ÿ" matches "ÿ").
            term = TERMS[int(m.rule[1:])]
            assert data[m.start : m.end].decode("utf-8").casefold() == term.casefold()


@given(st.text(max_size=100))
def test_arbitrary_text_never_crashes(text):
    for m in SCANNER.scan(text):
        assert 0 <= m.start < m.end <= len(text)
