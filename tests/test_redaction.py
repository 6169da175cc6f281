from llmward.guard.redaction import Span, apply_redactions, merge


def test_apply_and_merge():
    text = "mail bob@example.com or call 555-123-4567"
    spans = [Span(5, 20, "[EMAIL]"), Span(29, 41, "[PHONE]")]
    assert apply_redactions(text, spans) == "mail [EMAIL] or call [PHONE]"
    assert apply_redactions(text, []) == text
    assert merge([Span(0, 5, "A"), Span(3, 8, "B"), Span(8, 9, "C")]) == [
        Span(0, 8, "A"), Span(8, 9, "C")]
    assert merge([Span(2, 4, "inner"), Span(0, 10, "outer")]) == [Span(0, 10, "outer")]
