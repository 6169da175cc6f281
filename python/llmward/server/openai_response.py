"""OpenAI-compatible response objects, and Server-Sent Events to stream them.

Chat: `chat.completion`, or for a stream `chat.completion.chunk`s: the first has the
assistant role and empty content, then one per piece of text, then one with the
finish reason and an empty delta, then (with `stream_options.include_usage`) one with
usage and no choices; `data: [DONE]` ends the stream. Text completions the same with
`text_completion` objects. Every chunk of a stream shares its id and creation time, so
one `ChatStream`/`CompletionStream` builds them all. `/v1/models` lists model names,
never a path on the server.

    stream = ChatStream(model)
    response = await prepare_sse(request)
    await sse_event(response, stream.role_chunk())
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

# "content_filter" when the guard stopped the output.
FinishReason = Literal["stop", "length", "content_filter"]
FINISH_REASONS: frozenset[str] = frozenset({"stop", "length", "content_filter"})

SSE_HEADERS: Mapping[str, str] = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx would otherwise hold chunks back
}


def new_id(prefix: str) -> str:
    """`chatcmpl-...` or `cmpl-...`: 128 random bits, nothing about the request."""
    return f"{prefix}-{secrets.token_hex(16)}"


def _now() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    def __post_init__(self) -> None:
        for name in ("prompt_tokens", "completion_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected a non-negative integer, got {value!r}")

    def json(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


def chat_completion(model: str, content: str, finish_reason: FinishReason, usage: Usage, *,
                    id: str | None = None, created: int | None = None) -> dict[str, Any]:
    return {
        "id": id or new_id("chatcmpl"),
        "object": "chat.completion",
        "created": _now() if created is None else created,
        "model": model,
        "choices": [{"index": 0,
                     "message": {"role": "assistant", "content": content},
                     "finish_reason": _finish(finish_reason),
                     "logprobs": None}],
        "usage": usage.json(),
    }


def text_completion(model: str, text: str, finish_reason: FinishReason, usage: Usage, *,
                    id: str | None = None, created: int | None = None) -> dict[str, Any]:
    return {
        "id": id or new_id("cmpl"),
        "object": "text_completion",
        "created": _now() if created is None else created,
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": _finish(finish_reason),
                     "logprobs": None}],
        "usage": usage.json(),
    }


@dataclass(frozen=True, slots=True)
class ChatStream:
    """The chunks of one streamed chat completion. With `include_usage`, every chunk
    carries `"usage": null` but the last, as OpenAI's do."""

    model: str
    include_usage: bool = False
    id: str = field(default_factory=lambda: new_id("chatcmpl"))
    created: int = field(default_factory=_now)

    def role_chunk(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": ""}, None)

    def content_chunk(self, text: str) -> dict[str, Any]:
        return self._chunk({"content": text}, None)

    def finish_chunk(self, finish_reason: FinishReason) -> dict[str, Any]:
        return self._chunk({}, _finish(finish_reason))

    def usage_chunk(self, usage: Usage) -> dict[str, Any]:
        return {**self._head(), "choices": [], "usage": usage.json()}

    def _chunk(self, delta: dict[str, str], finish_reason: str | None) -> dict[str, Any]:
        chunk = {**self._head(), "choices": [{"index": 0, "delta": delta,
                                              "finish_reason": finish_reason,
                                              "logprobs": None}]}
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def _head(self) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model}


@dataclass(frozen=True, slots=True)
class CompletionStream:
    """The chunks of one streamed text completion (objects `text_completion`, as
    OpenAI streams them)."""

    model: str
    include_usage: bool = False
    id: str = field(default_factory=lambda: new_id("cmpl"))
    created: int = field(default_factory=_now)

    def text_chunk(self, text: str) -> dict[str, Any]:
        return self._chunk(text, None)

    def finish_chunk(self, finish_reason: FinishReason) -> dict[str, Any]:
        return self._chunk("", _finish(finish_reason))

    def usage_chunk(self, usage: Usage) -> dict[str, Any]:
        return {**self._head(), "choices": [], "usage": usage.json()}

    def _chunk(self, text: str, finish_reason: str | None) -> dict[str, Any]:
        chunk = {**self._head(), "choices": [{"index": 0, "text": text,
                                              "finish_reason": finish_reason,
                                              "logprobs": None}]}
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def _head(self) -> dict[str, Any]:
        return {"id": self.id, "object": "text_completion", "created": self.created,
                "model": self.model}


# A name, not where the file is: no absolute, home-relative or Windows path, no `..`.
_PATH_LIKE = re.compile(r"^[/~]|\\|^[A-Za-z]:|(^|/)\.\.?(/|$)")


def model_object(model_id: str, created: int) -> dict[str, Any]:
    if not model_id or _PATH_LIKE.search(model_id):
        raise ValueError(f"model id {model_id!r} looks like a file path; give the model's name")
    return {"id": model_id, "object": "model", "created": created, "owned_by": "llmward"}


def model_list(models: Iterable[tuple[str, int]]) -> dict[str, Any]:
    """`GET /v1/models` from (name, created) pairs."""
    return {"object": "list", "data": [model_object(name, created) for name, created in models]}


async def prepare_sse(request: web.BaseRequest,
                      headers: Mapping[str, str] | None = None) -> web.StreamResponse:
    """A 200 event stream, prepared (headers sent): nothing but events follows."""
    response = web.StreamResponse(status=200, headers={**SSE_HEADERS, **(headers or {})})
    await response.prepare(request)
    return response


async def sse_event(response: web.StreamResponse, payload: Mapping[str, Any] | str) -> None:
    """One `data:` event. Dicts are encoded ASCII-only, so text from the model can
    never hold the line break that would end the event early."""
    if isinstance(payload, str):
        if "\n" in payload or "\r" in payload:
            raise ValueError("an SSE data line cannot hold a line break")
        data = payload
    else:
        data = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    await response.write(f"data: {data}\n\n".encode())


async def sse_done(response: web.StreamResponse) -> None:
    await response.write(b"data: [DONE]\n\n")


def _finish(reason: str) -> str:
    if reason not in FINISH_REASONS:
        raise ValueError(f"finish_reason {reason!r} is not one of {sorted(FINISH_REASONS)}")
    return reason
