"""Response objects parse with the official `openai` client's own models (no field it
does not know), streams share one id, the model list never shows a path, and the SSE
helpers write exact frames with the right headers."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openai.types import Completion, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel

from llmward.server.openai_response import (
    SSE_HEADERS,
    ChatStream,
    CompletionStream,
    Usage,
    chat_completion,
    model_list,
    model_object,
    new_id,
    prepare_sse,
    sse_done,
    sse_event,
    text_completion,
)

USAGE = Usage(prompt_tokens=11, completion_tokens=4)


def no_unknown_fields(model: BaseModel) -> None:
    """The client's models allow extra fields; ours must send none."""
    assert not model.model_extra, model.model_extra
    for value in model.__dict__.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                no_unknown_fields(item)


def parses_as(cls: type[BaseModel], obj: dict[str, Any]) -> Any:
    parsed = cls.model_validate(obj)
    no_unknown_fields(parsed)
    return parsed


def test_chat_completion() -> None:
    obj = chat_completion("gemma", "Hello!", "stop", USAGE)
    parsed = parses_as(ChatCompletion, obj)
    assert parsed.object == "chat.completion"
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{32}", parsed.id)
    assert parsed.choices[0].message.role == "assistant"
    assert parsed.choices[0].message.content == "Hello!"
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.choices[0].logprobs is None
    assert parsed.usage is not None
    assert (parsed.usage.prompt_tokens, parsed.usage.completion_tokens,
            parsed.usage.total_tokens) == (11, 4, 15)
    fixed = chat_completion("gemma", "", "content_filter", USAGE, id="chatcmpl-x", created=5)
    assert (fixed["id"], fixed["created"]) == ("chatcmpl-x", 5)
    assert parses_as(ChatCompletion, fixed).choices[0].finish_reason == "content_filter"


def test_text_completion() -> None:
    parsed = parses_as(Completion, text_completion("gemma", " a time", "length", USAGE))
    assert parsed.object == "text_completion"
    assert re.fullmatch(r"cmpl-[0-9a-f]{32}", parsed.id)
    assert parsed.choices[0].text == " a time"
    assert parsed.choices[0].finish_reason == "length"
    assert parsed.usage is not None and parsed.usage.total_tokens == 15


@pytest.mark.parametrize("reason", ["cancelled", "error", "tool_calls", ""])
def test_finish_reasons_are_the_openai_ones(reason: str) -> None:
    with pytest.raises(ValueError, match="finish_reason"):
        chat_completion("m", "", reason, USAGE)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finish_reason"):
        ChatStream("m").finish_chunk(reason)  # type: ignore[arg-type]


def test_usage_is_validated() -> None:
    for bad in (-1, True, 1.0):
        with pytest.raises(ValueError):
            Usage(bad, 0)  # type: ignore[arg-type]


def test_chat_stream_chunks() -> None:
    stream = ChatStream("gemma")
    chunks = [stream.role_chunk(), stream.content_chunk("Hel"), stream.content_chunk("lo"),
              stream.finish_chunk("stop")]
    parsed = [parses_as(ChatCompletionChunk, chunk) for chunk in chunks]
    assert {p.id for p in parsed} == {stream.id}
    assert {p.created for p in parsed} == {stream.created}
    assert all(p.object == "chat.completion.chunk" and p.model == "gemma" for p in parsed)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [p.choices[0].delta.content for p in parsed[1:3]] == ["Hel", "lo"]
    assert [p.choices[0].finish_reason for p in parsed] == [None, None, None, "stop"]
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert all("usage" not in chunk for chunk in chunks)  # only with include_usage


def test_chat_stream_with_usage() -> None:
    stream = ChatStream("gemma", include_usage=True)
    content = stream.content_chunk("x")
    assert content["usage"] is None  # every chunk but the last, as OpenAI's
    last = parses_as(ChatCompletionChunk, stream.usage_chunk(USAGE))
    assert last.choices == [] and last.usage is not None and last.usage.total_tokens == 15
    assert last.id == stream.id


def test_completion_stream_chunks() -> None:
    stream = CompletionStream("gemma", include_usage=True)
    text, finish, usage = (stream.text_chunk(" a"), stream.finish_chunk("length"),
                           stream.usage_chunk(USAGE))
    # The client's Completion model wants a finish reason; OpenAI's own stream chunks
    # have null until the last, and the client reads them without validating (the
    # end-to-end test below). So: the same shape as a chunk that validates.
    assert text["choices"][0]["finish_reason"] is None
    assert {**text, "choices": [{**text["choices"][0], "text": "", "finish_reason": "length"}]
            } == finish
    parsed = [parses_as(Completion, chunk) for chunk in (finish, usage)]
    assert {p.id for p in parsed} == {stream.id} and text["id"] == stream.id
    assert parsed[0].choices[0].text == "" and parsed[0].choices[0].finish_reason == "length"
    assert parsed[1].choices == [] and parsed[1].usage is not None


def test_ids_are_random() -> None:
    assert len({new_id("chatcmpl") for _ in range(1000)}) == 1000
    assert ChatStream("m").id != ChatStream("m").id


def test_model_list() -> None:
    obj = model_list([("gemma-3-270m", 1_700_000_000), ("google/gemma-3-1b", 5)])
    assert obj["object"] == "list"
    models = [parses_as(Model, item) for item in obj["data"]]
    assert [(m.id, m.object, m.created, m.owned_by) for m in models] == [
        ("gemma-3-270m", "model", 1_700_000_000, "llmward"),
        ("google/gemma-3-1b", "model", 5, "llmward")]


@pytest.mark.parametrize("name", ["/srv/models/gemma.gguf", "~/models/x", "C:\\models\\x",
                                  "c:gemma", "models\\x", "../x", "a/../b", "./x", "a/.", ""])
def test_model_ids_are_never_paths(name: str) -> None:
    with pytest.raises(ValueError):
        model_object(name, 0)


# --- Server-Sent Events --------------------------------------------------------------

@pytest_asyncio.fixture
async def sse_client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async def events(request: web.Request) -> web.StreamResponse:
        stream = ChatStream("gemma", include_usage=True, id="chatcmpl-fixed", created=7)
        response = await prepare_sse(request, {"X-Request-Id": "r1"})
        await sse_event(response, stream.role_chunk())
        await sse_event(response, stream.content_chunk("line\nbreak \u00e9 \U0001f600"))
        await sse_event(response, stream.finish_chunk("stop"))
        await sse_event(response, stream.usage_chunk(USAGE))
        await sse_event(response, '{"raw":true}')
        await sse_done(response)
        return response

    async def models(request: web.Request) -> web.Response:
        return web.json_response(model_list([("gemma", 3)]))

    async def chat(request: web.Request) -> web.StreamResponse:
        stream = ChatStream("gemma")
        response = await prepare_sse(request)
        for chunk in (stream.role_chunk(), stream.content_chunk("Hi"),
                      stream.content_chunk(" there"), stream.finish_chunk("content_filter")):
            await sse_event(response, chunk)
        await sse_done(response)
        return response

    async def completions(request: web.Request) -> web.StreamResponse:
        stream = CompletionStream("gemma", include_usage=True)
        response = await prepare_sse(request)
        for chunk in (stream.text_chunk(" a"), stream.text_chunk(" time"),
                      stream.finish_chunk("stop"), stream.usage_chunk(USAGE)):
            await sse_event(response, chunk)
        await sse_done(response)
        return response

    app = web.Application()
    app.router.add_post("/v1/completions", completions)
    app.router.add_get("/events", events)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_sse_frames_and_headers(
        sse_client: TestClient[web.Request, web.Application]) -> None:
    response = await sse_client.get("/events")
    assert response.status == 200
    for name, value in SSE_HEADERS.items():
        assert response.headers[name] == value
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["X-Request-Id"] == "r1"
    text = (await response.read()).decode("ascii")  # JSON escapes keep frames ASCII
    frames = text.split("\n\n")
    assert frames[-2:] == ["data: [DONE]", ""]
    assert all(frame.startswith("data: ") and "\n" not in frame for frame in frames[:-1])
    payloads = [json.loads(frame[6:]) for frame in frames[:-2]]
    assert payloads[1]["choices"][0]["delta"]["content"] == "line\nbreak \u00e9 \U0001f600"
    assert payloads[3]["usage"]["total_tokens"] == 15
    assert payloads[4] == {"raw": True}
    assert frames[0] == ('data: {"id":"chatcmpl-fixed","object":"chat.completion.chunk",'
                         '"created":7,"model":"gemma","choices":[{"index":0,"delta":'
                         '{"role":"assistant","content":""},"finish_reason":null,'
                         '"logprobs":null}],"usage":null}')


@pytest.mark.asyncio
async def test_raw_payloads_cannot_break_the_framing() -> None:
    for bad in ("a\nb", "a\rb"):
        with pytest.raises(ValueError, match="line break"):
            await sse_event(web.StreamResponse(), bad)


@pytest.mark.asyncio
async def test_the_official_client_reads_them(
        sse_client: TestClient[web.Request, web.Application]) -> None:
    client = openai.AsyncOpenAI(base_url=str(sse_client.make_url("/v1")), api_key="sk-test",
                                max_retries=0)
    try:
        models = await client.models.list()
        assert [(m.id, m.owned_by) for m in models.data] == [("gemma", "llmward")]
        stream = await client.chat.completions.create(
            model="gemma", messages=[{"role": "user", "content": "hi"}], stream=True)
        chunks = [chunk async for chunk in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hi there"
        assert chunks[-1].choices[0].finish_reason == "content_filter"
        texts = await client.completions.create(model="gemma", prompt="Once upon",
                                                stream=True,
                                                stream_options={"include_usage": True})
        pieces = [chunk async for chunk in texts]
        assert "".join(c.choices[0].text for c in pieces if c.choices) == " a time"
        assert [c.choices[0].finish_reason for c in pieces[:3]] == [None, None, "stop"]
        assert pieces[-1].usage is not None and pieces[-1].usage.total_tokens == 15
    finally:
        await client.close()
