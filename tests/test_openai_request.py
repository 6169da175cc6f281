"""Validation of chat and text completion requests before llama.cpp: what the official
`openai` client sends is accepted (checked against the client itself, through a
loopback server), every refusal names its field, the JSON parser refuses what Python's
would let through (NaN, huge numbers, deep nesting, duplicate keys, invalid UTF-8, lone
surrogates), and bodies are read within their byte limit (413), chunked or compressed."""

from __future__ import annotations

import copy
import gzip
import json
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import openai
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from llmward.engine.params import SamplingParams
from llmward.server.openai_request import (
    MAX_DEPTH,
    ChatRequest,
    CompletionRequest,
    Message,
    RequestError,
    RequestLimits,
    Sampling,
    check_prompt_tokens,
    parse_chat_request,
    parse_completion_request,
    parse_json,
    read_json_body,
)
from llmward.server.openai_response import (
    ChatStream,
    CompletionStream,
    Usage,
    chat_completion,
    prepare_sse,
    sse_done,
    sse_event,
    text_completion,
)

VOCAB = 1000
LIMITS = RequestLimits(max_body_bytes=4096, max_prompt_chars=100, max_tokens_limit=512,
                       vocab_size=VOCAB, max_messages=4)
CHAT: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
COMPLETION: dict[str, Any] = {"model": "m", "prompt": "Once upon"}


def chat(**fields: Any) -> ChatRequest:
    return parse_chat_request({**copy.deepcopy(CHAT), **fields}, LIMITS)


def completion(**fields: Any) -> CompletionRequest:
    return parse_completion_request({**copy.deepcopy(COMPLETION), **fields}, LIMITS)


def refused(parse: Callable[[], object]) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse()
    return caught.value


# --- what the official client sends --------------------------------------------------

class Recorder:
    """A loopback server answering as llmward would: bodies read and parsed by the
    module under test, answers built by openai_response."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.parsed: list[ChatRequest | CompletionRequest] = []

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, parse_chat_request)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, parse_completion_request)

    async def _answer(self, request: web.Request,
                      parse: Callable[[Any, RequestLimits], ChatRequest | CompletionRequest]
                      ) -> web.StreamResponse:
        try:
            body = await read_json_body(request, LIMITS.max_body_bytes)
            self.bodies.append(body)
            parsed = parse(body, LIMITS)
        except RequestError as error:
            return error.response()
        self.parsed.append(parsed)
        usage = Usage(3, 2)
        model = parsed.model or "m"
        if isinstance(parsed, ChatRequest):
            if not parsed.stream:
                return web.json_response(chat_completion(model, "Hello!", "stop", usage))
            chat_stream = ChatStream(model, parsed.include_usage)
            chunks = [chat_stream.role_chunk(), chat_stream.content_chunk("Hel"),
                      chat_stream.content_chunk("lo!"), chat_stream.finish_chunk("stop")]
        else:
            if not parsed.stream:
                return web.json_response(text_completion(model, " a time", "length", usage))
            text_stream = CompletionStream(model, parsed.include_usage)
            chunks = [text_stream.text_chunk(" a"), text_stream.text_chunk(" time"),
                      text_stream.finish_chunk("length")]
            chat_stream = None
        response = await prepare_sse(request)
        for chunk in chunks:
            await sse_event(response, chunk)
        if parsed.include_usage:
            stream = chat_stream or text_stream
            await sse_event(response, stream.usage_chunk(usage))
        await sse_done(response)
        return response


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[Recorder, openai.AsyncOpenAI]]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", recorder.chat)
    app.router.add_post("/v1/completions", recorder.completions)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    client = openai.AsyncOpenAI(base_url=str(server.make_url("/v1")), api_key="sk-test",
                                max_retries=0)
    try:
        yield recorder, client
    finally:
        await client.close()
        await server.close()


@pytest.mark.asyncio
async def test_what_the_client_sends_for_a_chat_completion_is_accepted(
        served: tuple[Recorder, openai.AsyncOpenAI]) -> None:
    recorder, client = served
    answer = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "Hello!"
    assert recorder.bodies[0] == {"model": "m",
                                           "messages": [{"role": "user", "content": "hi"}]}
    assert recorder.parsed[0] == ChatRequest(model="m", messages=(Message("user", "hi"),),
                                             sampling=Sampling(max_tokens=256))

    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
    assert text == "Hello!"
    assert recorder.bodies[1] == {"model": "m", "stream": True,
                                           "messages": [{"role": "user", "content": "hi"}]}
    assert recorder.parsed[1] == ChatRequest(model="m", messages=(Message("user", "hi"),),
                                             sampling=Sampling(max_tokens=256), stream=True)


@pytest.mark.asyncio
async def test_every_supported_chat_field_as_the_client_sends_it(
        served: tuple[Recorder, openai.AsyncOpenAI]) -> None:
    recorder, client = served
    stream = await client.chat.completions.create(
        model="m",
        messages=[{"role": "developer", "content": "Be brief."},
                  {"role": "system", "content": "No secrets."},
                  {"role": "user", "content": [{"type": "text", "text": "one"},
                                               {"type": "text", "text": "two"}]},
                  {"role": "assistant", "content": "ok"}],
        stream=True, stream_options={"include_usage": True}, max_completion_tokens=5,
        temperature=0.5, top_p=0.9, stop=["x", "y"], seed=7, n=1, logit_bias={"5": -100},
        user="alice", response_format={"type": "text"}, presence_penalty=0.5,
        frequency_penalty=-0.5, logprobs=False, store=False,
        extra_body={"top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1})
    usage = [chunk.usage async for chunk in stream if chunk.usage is not None]
    assert usage[0].total_tokens == 5
    assert recorder.parsed[0] == ChatRequest(
        model="m",
        messages=(Message("system", "Be brief."), Message("system", "No secrets."),
                  Message("user", "one\ntwo"), Message("assistant", "ok")),
        sampling=Sampling(max_tokens=5, temperature=0.5, top_p=0.9, top_k=40, min_p=0.05,
                          presence_penalty=0.5, frequency_penalty=-0.5, repeat_penalty=1.1,
                          seed=7, stop=("x", "y"), logit_bias=((5, -100.0),)),
        stream=True, include_usage=True, user="alice")


@pytest.mark.asyncio
async def test_what_the_client_sends_for_a_text_completion_is_accepted(
        served: tuple[Recorder, openai.AsyncOpenAI]) -> None:
    recorder, client = served
    answer = await client.completions.create(model="m", prompt="Once upon")
    assert answer.choices[0].text == " a time"
    assert recorder.bodies[0] == {"model": "m", "prompt": "Once upon"}
    stream = await client.completions.create(
        model="m", prompt=["Once upon"], stream=True, max_tokens=3, echo=False, best_of=1,
        stream_options={"include_usage": True}, temperature=0, seed=0, stop="\n")
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == " a time"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2
    assert recorder.parsed == [
        CompletionRequest(model="m", prompt="Once upon", sampling=Sampling(max_tokens=256)),
        CompletionRequest(model="m", prompt="Once upon",
                          sampling=Sampling(max_tokens=3, temperature=0.0, seed=0,
                                            stop=("\n",)),
                          stream=True, include_usage=True)]


@pytest.mark.asyncio
async def test_the_client_reads_refusals_with_their_param(
        served: tuple[Recorder, openai.AsyncOpenAI]) -> None:
    _, client = served
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], temperature=3)
    assert caught.value.param == "temperature"
    assert caught.value.type == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "f"}}])
    assert caught.value.param == "tools"
    with pytest.raises(openai.APIStatusError) as too_large:
        await client.completions.create(model="m", prompt="x" * 5000)
    assert too_large.value.status_code == 413


# --- accepted shapes -----------------------------------------------------------------

def test_defaults() -> None:
    request = chat()
    assert request == ChatRequest(model="m", messages=(Message("user", "hi"),),
                                  sampling=Sampling(max_tokens=256))
    small = RequestLimits(max_tokens_limit=100)
    assert parse_chat_request(CHAT, small).sampling.max_tokens == 100  # default capped


def test_nulls_mean_absent() -> None:
    nulls = dict.fromkeys(
        ["model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
         "min_p", "presence_penalty", "frequency_penalty", "repeat_penalty", "seed", "n",
         "stop", "stream", "stream_options", "logit_bias", "user", "response_format",
         "tools", "tool_choice", "logprobs", "store", "metadata", "service_tier"])
    assert chat(**nulls) == ChatRequest(model=None, messages=(Message("user", "hi"),),
                                        sampling=Sampling(max_tokens=256))


def test_bounds_are_inclusive_where_they_should_be() -> None:
    high = chat(temperature=2, top_p=1, top_k=VOCAB, min_p=1, presence_penalty=2,
                frequency_penalty=-2, repeat_penalty=10, seed=2**63 - 1, max_tokens=512,
                logit_bias={"0": -100, str(VOCAB - 1): 100.0})
    assert high.sampling == Sampling(
        max_tokens=512, temperature=2.0, top_p=1.0, top_k=VOCAB, min_p=1.0,
        presence_penalty=2.0, frequency_penalty=-2.0, repeat_penalty=10.0, seed=2**63 - 1,
        logit_bias=((0, -100.0), (VOCAB - 1, 100.0)))
    low = chat(temperature=0, top_p=1e-9, top_k=0, min_p=0, seed=0, max_tokens=1)
    assert low.sampling.temperature == 0.0 and low.sampling.max_tokens == 1


def test_message_shapes() -> None:
    request = chat(messages=[
        {"role": "developer", "content": "d"},
        {"role": "user", "content": [{"type": "text", "text": "a"},
                                     {"type": "text", "text": ""}]},
        {"role": "assistant", "content": ""},
        {"content": "order of keys does not matter", "role": "user"}])
    assert request.messages == (Message("system", "d"), Message("user", "a\n"),
                                Message("assistant", ""),
                                Message("user", "order of keys does not matter"))


def test_other_accepted_values() -> None:
    assert chat(stop="end").sampling.stop == ("end",)
    assert chat(stop=[]).sampling.stop == ()
    assert chat(stop=["a"] * 4).sampling.stop == ("a",) * 4
    assert chat(logit_bias={}).sampling.logit_bias == ()
    assert chat(max_tokens=9, max_completion_tokens=9).sampling.max_tokens == 9
    assert chat(stream=True, stream_options={"include_obfuscation": False}).include_usage is False
    assert chat(stream=False).stream is False
    assert chat(n=1, logprobs=False, store=False, modalities=["text"]).sampling.max_tokens
    assert chat(user="u" * 256).user == "u" * 256
    assert chat(messages=[{"role": "user", "content": "x" * 100}]).messages[0].content
    assert completion(prompt=["only one"]).prompt == "only one"
    assert completion(prompt="").prompt == ""
    assert completion(echo=False, best_of=1, suffix=None, logprobs=None).prompt == "Once upon"
    assert completion(prompt="é" * 100).prompt == "é" * 100  # characters, not bytes


def test_engine_params() -> None:
    sampling = chat(temperature=0.2, seed=5, stop="x", logit_bias={"3": 1},
                    max_tokens=7).sampling
    params = sampling.engine_params()
    assert isinstance(params, SamplingParams)
    assert (params.max_tokens, params.temperature, params.seed, params.stop,
            dict(params.logit_bias)) == (7, 0.2, 5, ("x",), {3: 1.0})
    assert params.top_p == SamplingParams().top_p  # not given: the engine's default
    assert chat().sampling.engine_params().max_tokens == 256


# --- refusals ------------------------------------------------------------------------

MANY_BIASES = {str(i): 1 for i in range(301)}

CHAT_REFUSALS: list[tuple[dict[str, Any], str]] = [
    ({"messages": None}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": "hi"}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}] * 5}, "messages"),
    ({"messages": [{"role": "user", "content": "x" * 60}] * 2}, "messages"),
    ({"messages": ["hi"]}, "messages[0]"),
    ({"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]},
     "messages[0].role"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "root", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": 1, "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": "x", "name": "bob"}]}, "messages[0].name"),
    ({"messages": [{"role": "assistant", "content": None,
                    "tool_calls": []}]}, "messages[0].tool_calls"),
    ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": []}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": ["a"]}]}, "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://x"}}]}]}, "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": [{"type": "text"}]}]},
     "messages[0].content[0].text"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
     "messages[0].content[0].text"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "a", "x": 1}]}]},
     "messages[0].content[0].x"),
    ({"messages": [{"role": "user", "content": "ok"},
                   {"role": "user", "content": "\ud800"}]}, "messages[1].content"),
    ({"messages": [{"role": "user", "content": "a\x00b"}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "\x00"}]}]},
     "messages[0].content[0].text"),
    ({"model": ""}, "model"),
    ({"model": 1}, "model"),
    ({"model": "m" * 257}, "model"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": -1}, "max_tokens"),
    ({"max_tokens": 513}, "max_tokens"),
    ({"max_tokens": "5"}, "max_tokens"),
    ({"max_tokens": 5.0}, "max_tokens"),
    ({"max_tokens": True}, "max_tokens"),
    ({"max_completion_tokens": 0}, "max_completion_tokens"),
    ({"max_completion_tokens": 10**30}, "max_completion_tokens"),
    ({"max_tokens": 5, "max_completion_tokens": 6}, "max_tokens"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": 2.01}, "temperature"),
    ({"temperature": "1"}, "temperature"),
    ({"temperature": True}, "temperature"),
    ({"temperature": math.nan}, "temperature"),
    ({"temperature": math.inf}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_k": -1}, "top_k"),
    ({"top_k": 1.5}, "top_k"),
    ({"top_k": VOCAB + 1}, "top_k"),
    ({"min_p": -0.1}, "min_p"),
    ({"min_p": 1.1}, "min_p"),
    ({"presence_penalty": 2.5}, "presence_penalty"),
    ({"frequency_penalty": -3}, "frequency_penalty"),
    ({"repeat_penalty": 0}, "repeat_penalty"),
    ({"repeat_penalty": 10.5}, "repeat_penalty"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**63}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"seed": False}, "seed"),
    ({"n": 2}, "n"),
    ({"n": 0}, "n"),
    ({"n": True}, "n"),
    ({"n": "1"}, "n"),
    ({"n": 1.0}, "n"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": ""}, "stop"),
    ({"stop": [""]}, "stop"),
    ({"stop": "x" * 257}, "stop"),
    ({"stop": [1]}, "stop"),
    ({"stop": {"a": 1}}, "stop"),
    ({"stop": "\udc00"}, "stop"),
    ({"stream": "true"}, "stream"),
    ({"stream": 1}, "stream"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
    ({"stream": False, "stream_options": {"include_usage": True}}, "stream_options"),
    ({"stream": True, "stream_options": {"include_usage": 1}}, "stream_options.include_usage"),
    ({"stream": True, "stream_options": {"x": True}}, "stream_options"),
    ({"stream": True, "stream_options": []}, "stream_options"),
    ({"logit_bias": MANY_BIASES}, "logit_bias"),
    ({"logit_bias": []}, "logit_bias"),
    ({"logit_bias": {"abc": 1}}, "logit_bias"),
    ({"logit_bias": {"-1": 1}}, "logit_bias"),
    ({"logit_bias": {"+1": 1}}, "logit_bias"),
    ({"logit_bias": {" 1": 1}}, "logit_bias"),
    ({"logit_bias": {"1_0": 1}}, "logit_bias"),
    ({"logit_bias": {"1.0": 1}}, "logit_bias"),
    ({"logit_bias": {"\u0661": 1}}, "logit_bias"),  # ARABIC-INDIC DIGIT ONE: int() takes it
    ({"logit_bias": {str(VOCAB): 1}}, "logit_bias"),
    ({"logit_bias": {"99999999999999999999": 1}}, "logit_bias"),
    ({"logit_bias": {"1": 101}}, "logit_bias"),
    ({"logit_bias": {"1": -100.5}}, "logit_bias"),
    ({"logit_bias": {"1": True}}, "logit_bias"),
    ({"logit_bias": {"1": "1"}}, "logit_bias"),
    ({"logit_bias": {"7": 1, "07": 1}}, "logit_bias"),
    ({"user": 1}, "user"),
    ({"user": "u" * 257}, "user"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
     "response_format"),
    ({"response_format": "text"}, "response_format"),
    ({"response_format": {"type": 1}}, "response_format"),
    ({"response_format": {"type": "text", "x": 1}}, "response_format"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"tool_choice": "none"}, "tool_choice"),
    ({"functions": [{"name": "f"}]}, "functions"),
    ({"function_call": "auto"}, "function_call"),
    ({"parallel_tool_calls": False}, "parallel_tool_calls"),
    ({"logprobs": True}, "logprobs"),
    ({"logprobs": 0}, "logprobs"),
    ({"top_logprobs": 2}, "top_logprobs"),
    ({"audio": {"voice": "x"}}, "audio"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"store": True}, "store"),
    ({"metadata": {"a": "b"}}, "metadata"),
    ({"reasoning_effort": "low"}, "reasoning_effort"),
    ({"chat_template": "{{ messages }}"}, "chat_template"),
    ({"chat_template_kwargs": {"enable_thinking": True}}, "chat_template_kwargs"),
    ({"template": "x"}, "template"),
    ({"chat_template": None}, "chat_template"),
    ({"prompt": "x"}, "prompt"),
    ({"foo": 1}, "foo"),
    ({"x" * 1000: 1}, "x" * 64),
]


@pytest.mark.parametrize(("fields", "param"), CHAT_REFUSALS)
def test_chat_refusals_name_the_field(fields: dict[str, Any], param: str) -> None:
    error = refused(lambda: chat(**fields))
    assert (error.status, error.param) == (400, param), error.message
    assert len(error.message) < 400  # bounded, whatever the client sent


COMPLETION_REFUSALS: list[tuple[dict[str, Any], str]] = [
    ({"prompt": None}, "prompt"),
    ({"prompt": [1, 2, 3]}, "prompt"),
    ({"prompt": [[1, 2]]}, "prompt"),
    ({"prompt": ["a", "b"]}, "prompt"),
    ({"prompt": []}, "prompt"),
    ({"prompt": 5}, "prompt"),
    ({"prompt": {"text": "x"}}, "prompt"),
    ({"prompt": "x" * 101}, "prompt"),
    ({"prompt": "\ud800x"}, "prompt"),
    ({"prompt": "x\x00"}, "prompt"),
    ({"stop": "\x00"}, "stop"),
    ({"echo": True}, "echo"),
    ({"best_of": 2}, "best_of"),
    ({"suffix": "x"}, "suffix"),
    ({"logprobs": 1}, "logprobs"),
    ({"messages": []}, "messages"),
    ({"response_format": {"type": "text"}}, "response_format"),
    ({"max_completion_tokens": 5}, "max_completion_tokens"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"n": 3}, "n"),
    ({"chat_template": "x"}, "chat_template"),
]


@pytest.mark.parametrize(("fields", "param"), COMPLETION_REFUSALS)
def test_completion_refusals_name_the_field(fields: dict[str, Any], param: str) -> None:
    error = refused(lambda: completion(**fields))
    assert (error.status, error.param) == (400, param), error.message


def test_refusal_messages_say_why() -> None:
    assert "only 1" in refused(lambda: chat(n=2)).message
    assert "chat templates are refused" in refused(lambda: chat(chat_template="x")).message
    assert "not supported" in refused(lambda: chat(tools=[{}])).message
    assert "json_schema" in refused(
        lambda: chat(response_format={"type": "json_schema"})).message
    assert "token arrays" in refused(lambda: completion(prompt=[1, 2])).message
    assert "unknown field 'foo'" in refused(lambda: chat(foo=1)).message


def test_the_first_offending_field_in_body_order_is_named() -> None:
    body = {"model": "m", "zzz": 1, "tools": [{}], "messages": CHAT["messages"]}
    assert refused(lambda: parse_chat_request(body, LIMITS)).param == "zzz"


@pytest.mark.parametrize("body", [[], "x", 1, None, True, [CHAT]])
def test_body_must_be_an_object(body: object) -> None:
    for parse in (parse_chat_request, parse_completion_request):
        error = refused(lambda parse=parse: parse(body, LIMITS))  # type: ignore[misc]
        assert error.param is None and "JSON object" in error.message


def test_logit_bias_needs_a_known_vocabulary() -> None:
    unknown = RequestLimits()
    error = refused(lambda: parse_chat_request({**CHAT, "logit_bias": {"1": 1}}, unknown))
    assert error.param == "logit_bias"
    assert parse_chat_request({**CHAT, "logit_bias": {}}, unknown).sampling.logit_bias == ()


def test_error_response_is_openai_shaped() -> None:
    response = refused(lambda: chat(top_p=2)).response()
    assert response.status == 400
    assert response.body is not None
    body = json.loads(bytes(response.body))  # type: ignore[arg-type]
    assert body["error"]["param"] == "top_p"
    assert body["error"]["type"] == "invalid_request_error"
    assert set(body["error"]) == {"message", "type", "param", "code"}


def test_check_prompt_tokens() -> None:
    check_prompt_tokens(100, 28, context_size=128, param="messages")
    error = refused(lambda: check_prompt_tokens(100, 29, context_size=128, param="messages"))
    assert (error.status, error.param, error.code) == (400, "messages",
                                                       "context_length_exceeded")
    assert "maximum context length is 128 tokens" in error.message
    assert "129 tokens (100 in the messages, 29 in the completion)" in error.message
    assert refused(lambda: check_prompt_tokens(5, 5, context_size=8,
                                               param="prompt")).param == "prompt"


@pytest.mark.parametrize("field", ["max_body_bytes", "max_prompt_chars", "max_tokens_limit",
                                   "default_max_tokens", "max_messages", "vocab_size"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_limits_are_validated(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        RequestLimits(**{field: value})  # type: ignore[arg-type]


# --- the JSON parser -----------------------------------------------------------------

def parse_refusal(raw: bytes) -> str:
    with pytest.raises(RequestError) as caught:
        parse_json(raw)
    assert caught.value.status == 400 and caught.value.param is None
    return caught.value.message


@pytest.mark.parametrize("raw", [b'{"t": NaN}', b'{"t": Infinity}', b'{"t": -Infinity}',
                                 b"[NaN]"])
def test_nan_and_infinity_are_refused(raw: bytes) -> None:
    assert "not a JSON number" in parse_refusal(raw)


@pytest.mark.parametrize("raw", [b"[1e999]", b"[-1e999]", b"[1E+400]", b"[1e00000000500]",
                                 b"[1.5e100]"])
def test_numbers_out_of_float_range_are_refused(raw: bytes) -> None:
    assert "exponent" in parse_refusal(raw)


def test_small_exponents_are_fine() -> None:
    assert parse_json(b"[1e99, 1e-999, 2.5E+3, 0e0]") == [1e99, 0.0, 2500.0, 0.0]
    assert parse_json(b'["1e999", "\\"1e999"]') == ["1e999", '"1e999']  # strings are text


def test_huge_integers_are_refused_before_conversion() -> None:
    assert "more than 64 digits" in parse_refusal(b'{"max_tokens": 1' + b"0" * 1000 + b"}")
    assert "more than 64 digits" in parse_refusal(b"[" + b"9" * 1_000_000 + b"]")
    assert "more than 64 digits" in parse_refusal(b"[0." + b"1" * 65 + b"]")
    assert parse_json(b"[" + b"9" * 64 + b"]") == [int("9" * 64)]
    assert parse_json(b'["' + b"9" * 1000 + b'"]') == ["9" * 1000]  # in a string: text
    error = refused(lambda: chat(max_tokens=int("9" * 64)))  # parsed, then out of range
    assert error.param == "max_tokens"


def nested(depth: int) -> bytes:
    """`depth` levels, objects and arrays in turn."""
    raw = b"1"
    for level in range(depth):
        raw = b'{"a": ' + raw + b"}" if level % 2 else b"[" + raw + b"]"
    return raw


def test_nesting_is_bounded() -> None:
    assert parse_json(nested(MAX_DEPTH)) is not None
    assert "levels deep" in parse_refusal(nested(MAX_DEPTH + 1))
    assert "levels deep" in parse_refusal(b"[" * 100_000 + b"]" * 100_000)
    assert "levels deep" in parse_refusal(b"[" * 100_000)  # malformed: the parser's own limit
    # brackets in strings are text, escaped quotes do not end strings
    text = '"' + "[" * 100 + '\\"' + "{" * 100 + '"'
    assert parse_json(f'[{text}, "\\\\", "[[[["]'.encode()) is not None


def test_duplicate_keys_are_refused_at_any_depth() -> None:
    assert "duplicate key 'model'" in parse_refusal(b'{"model": "a", "model": "b"}')
    assert "duplicate key 'x'" in parse_refusal(b'{"m": [{"x": 1, "y": 2, "x": 3}]}')
    assert parse_json(b'{"a": {"a": 1}}') == {"a": {"a": 1}}


@pytest.mark.parametrize("raw", [b'{"a": "\xff"}', b'{"a": "\xc3"}', b'{"a": "\xed\xa0\x80"}',
                                 b'\xef\xbb\xbf{"a": 1}'.replace(b"\xef\xbb\xbf", b"\xfe\xff"),
                                 b'{"a": "\xc0\xaf"}'])
def test_invalid_utf8_is_refused(raw: bytes) -> None:
    assert "UTF-8" in parse_refusal(raw)


@pytest.mark.parametrize("raw", [
    rb'["\ud800"]', rb'["\uDBFF"]', rb'["\udc00"]', rb'["\udc00\ud800"]',
    rb'["\ud800\ud800\udc00"]', rb'["x\ud83d"]', rb'{"\ud800": 1}',
    rb'["\ud800\\\udc00"]',  # an escaped backslash between them: not a pair
    rb'["\\\ud800"]',  # an escaped backslash, then a real surrogate escape
])
def test_lone_surrogates_are_refused(raw: bytes) -> None:
    assert "surrogate" in parse_refusal(raw)


def test_surrogate_pairs_and_look_alikes_are_fine() -> None:
    assert parse_json(rb'["\ud83d\ude00", "\uD83D\uDE00"]') == ["\U0001f600"] * 2
    assert parse_json(rb'["\\ud800"]') == ["\\ud800"]  # a backslash, then text


@given(st.lists(st.text(alphabet=st.sampled_from(
    ["a", "\\", '"', "\ud800", "\udbff", "\udc00", "\udfff", "\U0001f600", "\u00e9", "u"]),
    max_size=8), max_size=4))
def test_surrogate_detection_matches_python(strings: list[str]) -> None:
    raw = json.dumps(strings).encode()  # ASCII, surrogates as \u escapes
    decoded = json.loads(raw)
    try:
        for text in decoded:
            text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(RequestError, match="surrogate"):
            parse_json(raw)
    else:
        assert parse_json(raw) == decoded


@given(st.recursive(st.one_of(st.integers(-10, 10), st.text(alphabet="[]{}\"\\ a", max_size=4)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.text(max_size=3), inner,
                                                            max_size=3)),
                    max_leaves=60))
def test_depth_limit_matches_the_structure(value: Any) -> None:
    def depth(v: Any) -> int:
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        return 0 if children is None else 1 + max(map(depth, children), default=0)

    raw = json.dumps(value).encode()
    if depth(value) > MAX_DEPTH:
        with pytest.raises(RequestError, match="levels deep"):
            parse_json(raw)
    else:
        assert parse_json(raw) == value


def test_other_malformed_json_is_a_400() -> None:
    for raw in (b"", b" ", b"{", b'{"a" 1}', b"{'a': 1}", b'{"a": 1,}', b"[1] [2]", b"]"):
        assert parse_refusal(raw).startswith("request body is not valid JSON")


# --- reading the body ----------------------------------------------------------------

@pytest_asyncio.fixture
async def reader() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async def echo(request: web.Request) -> web.Response:
        try:
            body = await read_json_body(request, 1024)
        except RequestError as error:
            return error.response()
        return web.json_response({"got": body})

    app = web.Application()
    app.router.add_post("/", echo)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def body_of(size: int) -> bytes:
    raw = b'{"p": "' + b"x" * (size - 9) + b'"}'
    assert len(raw) == size
    return raw


@pytest.mark.asyncio
async def test_body_within_the_limit(
        reader: TestClient[web.Request, web.Application]) -> None:
    response = await reader.post("/", data=body_of(1024))
    assert response.status == 200
    assert (await response.json())["got"]["p"] == "x" * 1015


@pytest.mark.asyncio
async def test_413_from_content_length(
        reader: TestClient[web.Request, web.Application]) -> None:
    response = await reader.post("/", data=body_of(1025))
    assert response.status == 413
    body = await response.json()
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "payload_too_large"


async def chunks(raw: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start:start + size]


@pytest.mark.asyncio
async def test_chunked_bodies_are_read_within_the_limit(
        reader: TestClient[web.Request, web.Application]) -> None:
    ok = await reader.post("/", data=chunks(body_of(1024)))  # no Content-Length
    assert ok.status == 200
    too_large = await reader.post("/", data=chunks(body_of(50_000)))
    assert too_large.status == 413


@pytest.mark.asyncio
async def test_compressed_bodies_are_bounded_after_decompression(
        reader: TestClient[web.Request, web.Application]) -> None:
    bomb = gzip.compress(body_of(800_000))
    assert len(bomb) < 1024  # within the limit on the wire, 800 kB once inflated
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    response = await reader.post("/", data=bomb, headers=headers)
    assert response.status == 413
    response = await reader.post("/", data=chunks(bomb), headers=headers)
    assert response.status == 413
    small = await reader.post("/", data=gzip.compress(b'{"a": 1}'),
                              headers={"Content-Encoding": "gzip"})
    assert (await small.json()) == {"got": {"a": 1}}


@pytest.mark.asyncio
async def test_parse_errors_through_http(
        reader: TestClient[web.Request, web.Application]) -> None:
    for raw, words in ((b'{"a": NaN}', "NaN"), (b"\xff", "UTF-8"),
                       (b'{"a": 1, "a": 1}', "duplicate"), (rb'["\ud800"]', "surrogate")):
        response = await reader.post("/", data=raw)
        assert response.status == 400
        assert words in (await response.json())["error"]["message"]
