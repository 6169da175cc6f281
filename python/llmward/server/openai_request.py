"""Strict validation of `POST /v1/chat/completions` and `POST /v1/completions` bodies,
before anything reaches llama.cpp.

The body is read up to a byte limit (413 beyond it, announced or streamed) within a time
limit (408 past it), decoded as strict UTF-8 and parsed as JSON refusing what Python's
parser would let through: NaN and Infinity, numbers too long to convert cheaply or out of
float range, duplicate keys, lone surrogate escapes, nesting deeper than MAX_DEPTH
(checked before parsing). Fields then get exact types (a bool is not a number) and
bounded values. Every refusal is a `RequestError` naming the field at fault, which the
handler answers with `error.response()`.

Fields OpenAI defines that this server does not implement (tools, logprobs...) are refused
rather than ignored, so a client never gets an answer that silently differs from what it
asked for; a null, or the value that means "off", is accepted. Client-supplied chat
templates are refused: the model's own, verified template is the only one rendered.

    body = await read_json_body(request, limits.max_body_bytes)
    chat = parse_chat_request(body, limits)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from llmward.engine.params import SamplingParams
from llmward.server.openai_errors import openai_error
from llmward.server.request_body import BODY_READ_SECONDS, BodyRefused, read_body

MAX_DEPTH = 32  # objects and arrays; a request needs 4
MAX_NUMBER_DIGITS = 64  # in a row, in one JSON number: seed needs 19
MAX_STOP = 4
MAX_STOP_CHARS = 256
MAX_LOGIT_BIAS = 300
MAX_LOGIT_BIAS_VALUE = 100.0
MAX_CONTENT_PARTS = 256
MAX_NAME_CHARS = 256  # model and user
MAX_SEED = (1 << 63) - 1
ECHO_CHARS = 64  # of a client-chosen name echoed in an error message

Role = Literal["system", "user", "assistant"]
_ROLES: Mapping[str, Role] = {"system": "system", "user": "user", "assistant": "assistant",
                              "developer": "system"}


class RequestError(Exception):
    """A request refused before inference: `status` 400 (or 413), `param` the field."""

    def __init__(self, message: str, param: str | None = None, status: int = 400,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.status, self.code = message, param, status, code

    def response(self) -> web.Response:
        return openai_error(self.status, self.message, type="invalid_request_error",
                            code=self.code, param=self.param)


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """Bounds set by the server's configuration and the loaded model. `vocab_size`
    None (no model known) refuses logit_bias, whose keys must be token ids."""

    max_body_bytes: int = 1 << 20
    max_prompt_chars: int = 256 * 1024
    max_tokens_limit: int = 4096
    default_max_tokens: int = 256
    vocab_size: int | None = None
    max_messages: int = 256

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_prompt_chars", "max_tokens_limit",
                     "default_max_tokens", "max_messages"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if self.vocab_size is not None and (isinstance(self.vocab_size, bool)
                                            or not isinstance(self.vocab_size, int)
                                            or self.vocab_size < 1):
            raise ValueError(f"vocab_size: expected a positive integer, got {self.vocab_size!r}")


@dataclass(frozen=True, slots=True)
class Message:
    role: Role  # "developer" arrives as "system"
    content: str  # text parts joined by newlines


@dataclass(frozen=True, slots=True)
class Sampling:
    """The sampling fields as asked; None where the client left the engine's default."""

    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repeat_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, bias), by token id

    def engine_params(self) -> SamplingParams:
        given = {name: getattr(self, name) for name in _OPTIONAL_SAMPLING
                 if getattr(self, name) is not None}
        return SamplingParams(max_tokens=self.max_tokens, stop=self.stop,
                              logit_bias=dict(self.logit_bias), **given)


_OPTIONAL_SAMPLING = ("temperature", "top_p", "top_k", "min_p", "presence_penalty",
                      "frequency_penalty", "repeat_penalty", "seed")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str | None
    messages: tuple[Message, ...]
    sampling: Sampling
    stream: bool = False
    include_usage: bool = False  # stream_options.include_usage
    user: str | None = None


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    model: str | None
    prompt: str
    sampling: Sampling
    stream: bool = False
    include_usage: bool = False
    user: str | None = None


# --- the body ------------------------------------------------------------------------

async def read_json_body(request: web.BaseRequest, max_bytes: int,
                         timeout: float = BODY_READ_SECONDS) -> Any:
    """The request's body (`read_body`: 413 past `max_bytes`, 408 past `timeout`) parsed
    strictly (`parse_json`)."""
    try:
        data = await read_body(request, max_bytes, timeout)
    except BodyRefused as refused:
        raise RequestError(refused.message, status=refused.status, code=refused.code) from None
    return parse_json(data)


def parse_json(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("request body is not valid UTF-8") from None
    # Escaped backslashes blanked out (not removed: that would join the escapes on
    # either side), every backslash left starts an escape of its own; escaped quotes
    # blanked too, the strings can be cut out: what is left is the structure.
    unescaped = data.replace(b"\\\\", b"__")
    bare = _STRING.sub(b"", unescaped.replace(b'\\"', b"__"))
    if _LONG_NUMBER.search(bare):  # int() of a long digit string is quadratic
        raise RequestError(f"request body has a number of more than {MAX_NUMBER_DIGITS} "
                           "digits")
    if _HUGE_EXPONENT.search(bare):
        raise RequestError("request body has a number with an exponent of 100 or more")
    if _nested_deeper_than(bare, MAX_DEPTH):
        raise RequestError(f"request body nests objects and arrays more than {MAX_DEPTH} "
                           "levels deep")
    if _LONE_SURROGATE.search(unescaped):
        raise RequestError("request body has a lone UTF-16 surrogate escape (\\ud800-\\udfff "
                           "not in a pair): not a Unicode character")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:  # malformed input the depth scan could not measure
        raise RequestError(f"request body nests objects and arrays more than {MAX_DEPTH} "
                           "levels deep") from None
    except ValueError as error:  # JSONDecodeError, or one of the hooks
        raise RequestError(f"request body is not valid JSON: {error}") from None


_STRING = re.compile(rb'"[^"]*"')  # once escaped quotes are gone
_LONG_NUMBER = re.compile(rb"[0-9]{%d}" % (MAX_NUMBER_DIGITS + 1))
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
# With at most 64 digits before the point, only a three-digit exponent reaches float
# infinity (1e999 parses as inf); refused by pattern rather than by a hook called per float.
_HUGE_EXPONENT = re.compile(rb"[eE]\+?0*[1-9][0-9]{2}")
# A high surrogate escape not followed by a low one, or a low one not after a high one.
# Starting with the literal `\u` lets the regex engine skip ahead fast.
_LONE_SURROGATE = re.compile(rb"\\u(?:[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
                             rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u)[dD][c-fC-F])")


def _nested_deeper_than(bare: bytes, limit: int) -> bool:
    """Exact for valid JSON, in C-speed passes (a Python loop over a 1 MiB body is
    too slow for the event loop): brackets kept, then each round of removing innermost
    `[]` pairs takes one level off. Malformed input that no round shrinks is left to
    the parser (which catches its own recursion)."""
    structure = bare.translate(_BRACKETS, _NOT_BRACKETS)
    for _ in range(limit):
        shorter = structure.replace(b"[]", b"")
        if not shorter or len(shorter) == len(structure):
            return False
        structure = shorter
    return True


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key[:ECHO_CHARS]!r}")
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# --- the fields ----------------------------------------------------------------------

_COMMON_FIELDS = frozenset({
    "model", "max_tokens", "temperature", "top_p", "top_k", "min_p", "presence_penalty",
    "frequency_penalty", "repeat_penalty", "seed", "n", "stop", "stream", "stream_options",
    "logit_bias", "user"})
_CHAT_FIELDS = _COMMON_FIELDS | {"messages", "max_completion_tokens", "response_format"}
_COMPLETION_FIELDS = _COMMON_FIELDS | {"prompt"}
_TEMPLATE_FIELDS = frozenset({"chat_template", "chat_template_kwargs", "template"})

# OpenAI fields not implemented here, with the values that ask for nothing (null too).
_CHAT_UNSUPPORTED: Mapping[str, tuple[object, ...]] = {
    "tools": (), "tool_choice": (), "functions": (), "function_call": (),
    "parallel_tool_calls": (), "logprobs": (False,), "top_logprobs": (), "audio": (),
    "modalities": (["text"],), "prediction": (), "web_search_options": (),
    "reasoning_effort": (), "verbosity": (), "store": (False,), "metadata": (),
    "service_tier": (), "safety_identifier": (), "prompt_cache_key": (),
    "prompt_cache_options": (), "prompt_cache_retention": (), "moderation": (),
}
_COMPLETION_UNSUPPORTED: Mapping[str, tuple[object, ...]] = {
    "best_of": (1,), "echo": (False,), "logprobs": (), "suffix": (),
}
_TOOL_FIELDS = frozenset({"tools", "tool_choice", "functions", "function_call",
                          "parallel_tool_calls"})


def parse_chat_request(body: object, limits: RequestLimits) -> ChatRequest:
    fields = _object(body)
    _check_field_names(fields, _CHAT_FIELDS, _CHAT_UNSUPPORTED)
    _response_format(fields.get("response_format"))
    messages = _messages(fields.get("messages"), limits)
    # max_tokens is the older name; a client may send both, if they agree.
    newer, older = fields.get("max_completion_tokens"), fields.get("max_tokens")
    if newer is not None and older is not None and not _same_value(newer, older):
        raise RequestError("max_tokens and max_completion_tokens differ: give one of them",
                           "max_tokens")
    param = "max_completion_tokens" if newer is not None else "max_tokens"
    stream, include_usage = _streaming(fields)
    return ChatRequest(
        model=_name(fields, "model"), messages=messages,
        sampling=_sampling(fields, limits, param, fields.get(param)),
        stream=stream, include_usage=include_usage, user=_name(fields, "user"))


def parse_completion_request(body: object, limits: RequestLimits) -> CompletionRequest:
    fields = _object(body)
    _check_field_names(fields, _COMPLETION_FIELDS, _COMPLETION_UNSUPPORTED)
    stream, include_usage = _streaming(fields)
    return CompletionRequest(
        model=_name(fields, "model"), prompt=_prompt(fields.get("prompt"), limits),
        sampling=_sampling(fields, limits, "max_tokens", fields.get("max_tokens")),
        stream=stream, include_usage=include_usage, user=_name(fields, "user"))


def check_prompt_tokens(prompt_tokens: int, max_tokens: int, *, context_size: int,
                        param: str) -> None:
    """Once the prompt is tokenized: prompt plus completion must fit the model's
    context (a sequence's share of it), as OpenAI words the refusal."""
    total = prompt_tokens + max_tokens
    if total > context_size:
        where = "messages" if param == "messages" else "prompt"
        raise RequestError(
            f"This model's maximum context length is {context_size} tokens. However, you "
            f"requested {total} tokens ({prompt_tokens} in the {where}, {max_tokens} in the "
            f"completion). Please reduce the length of the {where} or completion.",
            param, code="context_length_exceeded")


def _object(body: object) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    return body


def _check_field_names(fields: Mapping[str, Any], known: frozenset[str],
                       unsupported: Mapping[str, tuple[object, ...]]) -> None:
    """The first offending field in the body's order is the one named."""
    for name, value in fields.items():
        if name in known:
            continue
        shown = name[:ECHO_CHARS]
        if name in _TEMPLATE_FIELDS:
            raise RequestError(f"{shown}: client-supplied chat templates are refused; the "
                               "model's own verified template is used", shown)
        if name in unsupported:
            if value is None or any(_same_value(value, off) for off in unsupported[name]):
                continue
            why = " (tools and function calling are refused)" if name in _TOOL_FIELDS else ""
            raise RequestError(f"{shown}: not supported by this server{why}", shown)
        raise RequestError(f"unknown field {shown!r}", shown)


def _same_value(value: object, expected: object) -> bool:
    # False == 0 in Python; JSON tells them apart.
    return type(value) is type(expected) and value == expected


def _response_format(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise RequestError('response_format: expected an object such as {"type": "text"}',
                           "response_format")
    kind = value["type"][:ECHO_CHARS]
    if kind != "text":
        raise RequestError(f"response_format: type {kind!r} is not supported; only "
                           '{"type": "text"}', "response_format")
    extra = sorted(set(value) - {"type"})
    if extra:
        raise RequestError(f"response_format: unknown field {extra[0][:ECHO_CHARS]!r}",
                           "response_format")


def _messages(value: object, limits: RequestLimits) -> tuple[Message, ...]:
    if value is None:
        raise RequestError("messages: required", "messages")
    if not isinstance(value, list) or not value:
        raise RequestError("messages: expected a non-empty array of messages", "messages")
    if len(value) > limits.max_messages:
        raise RequestError(f"messages: {len(value)} messages, at most {limits.max_messages}",
                           "messages")
    messages = tuple(_message(item, f"messages[{i}]") for i, item in enumerate(value))
    chars = sum(len(m.content) for m in messages)
    if chars > limits.max_prompt_chars:
        raise RequestError(f"messages: {chars} characters in all, more than the limit of "
                           f"{limits.max_prompt_chars}", "messages")
    return messages


def _message(value: object, where: str) -> Message:
    if not isinstance(value, dict):
        raise RequestError(f"{where}: expected an object with role and content", where)
    role = value.get("role")
    if role in ("tool", "function"):  # named before their other fields: the real reason
        raise RequestError(f"{where}.role: {role} messages are not supported (tools and "
                           "function calling are refused)", f"{where}.role")
    for name in value:
        if name not in ("role", "content"):
            shown = name[:ECHO_CHARS]
            raise RequestError(f"{where}.{shown}: not supported (a message has role and "
                               "content only)", f"{where}.{shown}")
    if not isinstance(role, str) or role not in _ROLES:
        raise RequestError(f"{where}.role: expected one of system, developer, user, "
                           "assistant", f"{where}.role")
    return Message(_ROLES[role], _content(value.get("content"), f"{where}.content"))


def _content(value: object, where: str) -> str:
    if isinstance(value, str):
        return _text(value, where)
    if not isinstance(value, list) or not value:
        raise RequestError(f"{where}: expected a string or a non-empty array of text parts",
                           where)
    if len(value) > MAX_CONTENT_PARTS:
        raise RequestError(f"{where}: {len(value)} parts, at most {MAX_CONTENT_PARTS}", where)
    texts = []
    for i, part in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise RequestError(f"{here}: expected an object with a type", here)
        if part["type"] != "text":
            kind = part["type"][:ECHO_CHARS]
            raise RequestError(f"{here}.type: only text parts are supported, not {kind!r}",
                               f"{here}.type")
        extra = sorted(set(part) - {"type", "text"})
        if extra:
            shown = extra[0][:ECHO_CHARS]
            raise RequestError(f"{here}.{shown}: not supported", f"{here}.{shown}")
        text = part.get("text")
        if not isinstance(text, str):
            raise RequestError(f"{here}.text: expected a string", f"{here}.text")
        texts.append(_text(text, f"{here}.text"))
    return "\n".join(texts)


def _prompt(value: object, limits: RequestLimits) -> str:
    if value is None:
        raise RequestError("prompt: required", "prompt")
    if isinstance(value, list):
        if len(value) != 1 or not isinstance(value[0], str):
            what = ("token arrays are not accepted, send text"
                    if value and not isinstance(value[0], str)
                    else "a list must hold exactly one string")
            raise RequestError(f"prompt: {what}", "prompt")
        value = value[0]
    if not isinstance(value, str):
        raise RequestError("prompt: expected a string", "prompt")
    if len(value) > limits.max_prompt_chars:
        raise RequestError(f"prompt: {len(value)} characters, more than the limit of "
                           f"{limits.max_prompt_chars}", "prompt")
    return _text(value, "prompt")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: str, where: str) -> str:
    """Bodies from `read_json_body` cannot hold lone surrogates; others (tests, other
    callers) are checked here, since llama.cpp's tokenizer expects valid UTF-8. NUL
    (`\\u0000`) is refused too: C code reading up to it would see less text than the
    guard scanned."""
    if "\x00" in value:
        raise RequestError(f"{where}: NUL characters are not accepted", where)
    if not value.isascii() and _SURROGATE.search(value):
        raise RequestError(f"{where}: lone UTF-16 surrogate, not a Unicode character", where)
    return value


def _name(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_CHARS:
        raise RequestError(f"{name}: expected a string of 1 to {MAX_NAME_CHARS} characters",
                           name)
    return _text(value, name)


def _streaming(fields: Mapping[str, Any]) -> tuple[bool, bool]:
    stream = _bool(fields, "stream") or False
    options = fields.get("stream_options")
    if options is None:
        return stream, False
    if not stream:
        raise RequestError("stream_options: only allowed when stream is true",
                           "stream_options")
    if not isinstance(options, dict):
        raise RequestError("stream_options: expected an object", "stream_options")
    for name, value in options.items():
        if name not in ("include_usage", "include_obfuscation"):
            raise RequestError(f"stream_options: unknown field {name[:ECHO_CHARS]!r}",
                               "stream_options")
        if not isinstance(value, bool):  # include_obfuscation is accepted and ignored
            raise RequestError(f"stream_options.{name}: expected true or false",
                               f"stream_options.{name}")
    return stream, options.get("include_usage") is True


def _sampling(fields: Mapping[str, Any], limits: RequestLimits, max_param: str,
              max_value: object) -> Sampling:
    n = fields.get("n")
    if n is not None and not _same_value(n, 1):
        raise RequestError("n: only 1 choice per request is supported", "n")
    top = limits.max_tokens_limit
    max_tokens = (min(limits.default_max_tokens, top) if max_value is None
                  else _int_in(max_value, max_param, 1, top))
    return Sampling(
        max_tokens=max_tokens,
        temperature=_number(fields, "temperature", 0.0, 2.0),
        top_p=_number(fields, "top_p", 0.0, 1.0, low_open=True),
        top_k=_optional_int(fields, "top_k", 0, limits.vocab_size or (1 << 31) - 1),
        min_p=_number(fields, "min_p", 0.0, 1.0),
        presence_penalty=_number(fields, "presence_penalty", -2.0, 2.0),
        frequency_penalty=_number(fields, "frequency_penalty", -2.0, 2.0),
        repeat_penalty=_number(fields, "repeat_penalty", 0.0, 10.0, low_open=True),
        seed=_optional_int(fields, "seed", 0, MAX_SEED),
        stop=_stop(fields.get("stop")),
        logit_bias=_logit_bias(fields.get("logit_bias"), limits.vocab_size),
    )


def _bool(fields: Mapping[str, Any], name: str) -> bool | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, bool):
        raise RequestError(f"{name}: expected true or false", name)
    return value


def _optional_int(fields: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = fields.get(name)
    return None if value is None else _int_in(value, name, low, high)


def _int_in(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{name}: expected an integer", name)
    if not low <= value <= high:
        raise RequestError(f"{name}: expected an integer from {low} to {high}, got {value}",
                           name)
    return value


def _number(fields: Mapping[str, Any], name: str, low: float, high: float, *,
            low_open: bool = False) -> float | None:
    value = fields.get(name)
    return None if value is None else _number_in(value, name, low, high, low_open=low_open)


def _number_in(value: object, name: str, low: float, high: float, *,
               low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{name}: expected a number", name)
    number = float(value)
    if not math.isfinite(number) or number > high or (
            number <= low if low_open else number < low):
        bracket = "(" if low_open else "["
        raise RequestError(f"{name}: expected a number in {bracket}{low:g}, {high:g}], got "
                           f"{number:g}", name)
    return number


def _stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise RequestError("stop: expected a string or an array of strings", "stop")
    if len(items) > MAX_STOP:
        raise RequestError(f"stop: {len(items)} strings, at most {MAX_STOP}", "stop")
    for item in items:
        if not isinstance(item, str) or not 1 <= len(item) <= MAX_STOP_CHARS:
            raise RequestError(f"stop: each stop must be a string of 1 to {MAX_STOP_CHARS} "
                               "characters", "stop")
        _text(item, "stop")
    return tuple(items)


_TOKEN_ID = re.compile("[0-9]{1,10}")  # ASCII digits: int() would take "+1", " 1", "1_0"


def _logit_bias(value: object, vocab_size: int | None) -> tuple[tuple[int, float], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise RequestError("logit_bias: expected an object of token ids to numbers",
                           "logit_bias")
    if not value:
        return ()
    if vocab_size is None:
        raise RequestError("logit_bias: the model's vocabulary is not known", "logit_bias")
    if len(value) > MAX_LOGIT_BIAS:
        raise RequestError(f"logit_bias: {len(value)} entries, at most {MAX_LOGIT_BIAS}",
                           "logit_bias")
    biases: dict[int, float] = {}
    for key, bias in value.items():
        token = int(key) if _TOKEN_ID.fullmatch(key) else -1
        if not 0 <= token < vocab_size:
            raise RequestError(f"logit_bias: key {key[:ECHO_CHARS]!r} is not a token id "
                               f"(a decimal integer below {vocab_size})", "logit_bias")
        if token in biases:
            raise RequestError(f"logit_bias: token {token} given twice", "logit_bias")
        biases[token] = _number_in(bias, "logit_bias", -MAX_LOGIT_BIAS_VALUE,
                                   MAX_LOGIT_BIAS_VALUE)
    return tuple(sorted(biases.items()))

