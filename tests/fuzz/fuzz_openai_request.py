"""atheris harness: validation of OpenAI request bodies (llmward.server.openai_request).

Contract: any body bytes are parsed by `parse_json` or refused with RequestError, and a
parsed body becomes a ChatRequest / CompletionRequest or is refused with RequestError
(status 400 or 413, a response that renders); nothing else is raised. What is accepted
keeps the documented bounds: max_tokens within the limit, at most 4 stop strings of 1 to
256 characters, logit_bias on token ids below the vocabulary with finite values within
+-100, finite sampling numbers, no NUL or lone surrogate in any text, and sampling
parameters the engine accepts."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import atheris

with atheris.instrument_imports(include=["llmward"]):
    from llmward.server.openai_request import (
        MAX_LOGIT_BIAS_VALUE,
        MAX_NAME_CHARS,
        MAX_SEED,
        MAX_STOP,
        MAX_STOP_CHARS,
        ChatRequest,
        CompletionRequest,
        RequestError,
        RequestLimits,
        Sampling,
        parse_chat_request,
        parse_completion_request,
        parse_json,
    )

from atheris_main import run

# Small limits, so short inputs reach them; and no vocabulary (logit_bias refused).
LIMITS = (RequestLimits(max_prompt_chars=512, max_tokens_limit=2048, vocab_size=1000,
                        max_messages=8),
          RequestLimits())


def check_error(error: RequestError) -> None:
    assert error.status in (400, 413), error.status
    assert isinstance(error.message, str) and error.message
    response = error.response()
    assert response.status == error.status
    assert response.body is not None


def check_text(text: str) -> None:
    assert "\x00" not in text
    text.encode("utf-8")  # no lone surrogate


def check_sampling(s: Sampling, limits: RequestLimits) -> None:
    assert 1 <= s.max_tokens <= limits.max_tokens_limit
    for number in (s.temperature, s.top_p, s.min_p, s.presence_penalty, s.frequency_penalty,
                   s.repeat_penalty):
        assert number is None or math.isfinite(number)
    assert s.seed is None or 0 <= s.seed <= MAX_SEED
    assert len(s.stop) <= MAX_STOP
    for stop in s.stop:
        assert 1 <= len(stop) <= MAX_STOP_CHARS
        check_text(stop)
    tokens = [token for token, _ in s.logit_bias]
    assert tokens == sorted(set(tokens))
    for token, bias in s.logit_bias:
        assert limits.vocab_size is not None and 0 <= token < limits.vocab_size
        assert math.isfinite(bias) and abs(bias) <= MAX_LOGIT_BIAS_VALUE
    s.engine_params()  # the engine accepts whatever validation let through


def check_request(request: ChatRequest | CompletionRequest, limits: RequestLimits) -> None:
    check_sampling(request.sampling, limits)
    assert request.stream or not request.include_usage
    for name in (request.model, request.user):
        if name is not None:
            assert 1 <= len(name) <= MAX_NAME_CHARS
            check_text(name)
    if isinstance(request, ChatRequest):
        assert 1 <= len(request.messages) <= limits.max_messages
        assert sum(len(m.content) for m in request.messages) <= limits.max_prompt_chars
        for message in request.messages:
            assert message.role in ("system", "user", "assistant")
            check_text(message.content)
    else:
        assert len(request.prompt) <= limits.max_prompt_chars
        check_text(request.prompt)


def test_one_input(data: bytes) -> None:
    try:
        body = parse_json(data)
    except RequestError as error:
        check_error(error)
        return
    # What parse_json accepts is strict JSON: re-encodable, no NaN, no lone surrogates.
    json.dumps(body, allow_nan=False).encode("utf-8")
    for limits in LIMITS:
        for parse in (parse_chat_request, parse_completion_request):
            try:
                request = parse(body, limits)
            except RequestError as error:
                check_error(error)
                continue
            check_request(request, limits)


def seeds() -> Iterable[bytes]:
    bodies: list[object] = [
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        {"messages": [{"role": "system", "content": "be brief"},
                      {"role": "developer", "content": [{"type": "text", "text": "x"}]},
                      {"role": "user", "content": "hello"}],
         "max_completion_tokens": 16, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
         "min_p": 0.05, "seed": 7, "stop": ["\n", "END"], "stream": True,
         "stream_options": {"include_usage": True}, "logit_bias": {"15": -100, "7": 2.5},
         "user": "u1", "n": 1, "response_format": {"type": "text"}},
        {"prompt": "Once upon a time", "max_tokens": 8, "presence_penalty": -1.5,
         "frequency_penalty": 1.0, "repeat_penalty": 1.1, "stop": "."},
        {"prompt": ["only one"], "echo": False, "best_of": 1, "logprobs": None},
    ]
    for body in bodies:
        yield json.dumps(body).encode()
    yield b'{"prompt": "caf\\u00e9 \\ud83d\\ude00", "seed": 9223372036854775807}'


if __name__ == "__main__":
    run(test_one_input, seeds)
