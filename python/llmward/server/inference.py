"""`/v1/chat/completions` and `/v1/completions`: the guard in the request path.

Per request, in order (auth and the request rate limit ran before, in middleware):
strict body validation (400/413 naming the field) → the input guard on every message,
off the event loop (a blocked prompt: 400 naming rule ids and categories, audited
without its text) → the prompt built from the model's own template with the canary in
the system prompt (message text never becomes control tokens) → the context check →
the token budget charged (429) → a sequence slot in the engine (429 when the queue is
full, 503 past the deadline, both with Retry-After) → generation, every piece of output
through the guard's stream redactor, so nothing that would be redacted is ever sent.
A client that disconnects cancels its generation (aiohttp cancels the handler).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from llmward.engine import (
    Engine,
    EngineClosed,
    EngineConfig,
    Finished,
    Generation,
    Overloaded,
    QueueFull,
    TokenEvent,
)
from llmward.guard import Guard
from llmward.guard.verdict import Verdict
from llmward.ratelimit.middleware import PRINCIPAL_KEY, charge_tokens
from llmward.server.audit_middleware import GUARD_SUMMARY_KEY, REQUEST_ID_KEY, GuardSummary
from llmward.server.metrics import ServerMetrics
from llmward.server.model_files import VerifiedModel
from llmward.server.openai_errors import openai_error
from llmward.server.openai_request import (
    ChatRequest,
    CompletionRequest,
    Message,
    RequestError,
    RequestLimits,
    check_prompt_tokens,
    parse_chat_request,
    parse_completion_request,
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
from llmward.server.prompt_tokens import PromptError, chat_prompt_tokens
from llmward.server.request_body import CLIENT_CLOSED
from llmward.server.routes import RouteId
from llmward.server.state import GDPR_KEY

log = logging.getLogger(__name__)

QUEUE_DEADLINE_SECONDS = 30.0  # longest a request waits for a sequence slot


@dataclass(frozen=True)
class ServiceOptions:
    """How the engine is sized; kept so /v1/models/load starts the next one alike."""

    guard: Guard
    n_ctx: int = 8192
    parallel: int = 4
    n_gpu_layers: int = 0
    threads: int | None = None
    max_queue: int = 64


@dataclass
class InferenceService:
    model: VerifiedModel
    engine: Engine
    guard: Guard
    metrics: ServerMetrics
    limits: RequestLimits
    bos_token: str
    eos_token: str
    bos_id: int | None
    created: int  # when the model was loaded (the `created` of /v1/models)

    @classmethod
    async def start(cls, model: VerifiedModel, guard: Guard, metrics: ServerMetrics,
                    options: ServiceOptions) -> InferenceService:
        engine = Engine(EngineConfig(model.path, n_ctx=options.n_ctx, parallel=options.parallel,
                                     n_threads=options.threads,
                                     n_gpu_layers=options.n_gpu_layers,
                                     max_queue=options.max_queue))
        await asyncio.to_thread(engine.start)
        vocab = engine.model
        bos_id, eos_id = _special_ids(model)
        limits = RequestLimits(max_tokens_limit=max(1, engine.n_ctx_seq - 1),
                               default_max_tokens=min(256, max(1, engine.n_ctx_seq // 2)),
                               vocab_size=vocab.n_vocab,
                               max_prompt_chars=guard.config.limits.max_chars * 16)
        return cls(model, engine, guard, metrics, limits,
                   _piece(engine, bos_id), _piece(engine, eos_id), bos_id, int(time.time()))

    async def close(self) -> None:
        await asyncio.to_thread(self.engine.close)

    def stats(self) -> dict[str, float | int]:
        return self.engine.stats()


class ModelSlot:
    """The service for the loaded model, or None: swapped by /v1/models/load and unload
    (the app's own mapping is frozen once it serves)."""

    def __init__(self, service: InferenceService | None = None) -> None:
        self.service = service


INFERENCE_KEY = web.AppKey("llmward.inference", ModelSlot)


def inference_handlers() -> dict[RouteId, Any]:
    return {("POST", "/v1/chat/completions"): chat_completions,
            ("POST", "/v1/completions"): completions}


# --- handlers ------------------------------------------------------------------------

async def chat_completions(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    if service is None:
        return _no_model()
    try:
        body = await _body(request, service)
        chat = parse_chat_request(body, service.limits)
        _check_model(chat.model, service)
        checked = await _guard_input(request, service, [m.content for m in chat.messages])
        if isinstance(checked, web.Response):
            return checked
        messages = [Message(m.role, text) for m, text in zip(chat.messages, checked,
                                                               strict=True)]
        prompt = await asyncio.to_thread(_chat_tokens, service, messages)
        check_prompt_tokens(len(prompt), chat.sampling.max_tokens,
                            context_size=service.engine.n_ctx_seq, param="messages")
    except RequestError as error:
        return _refused(service, error)
    return await _generate(request, service, prompt, chat, chat=True)


async def completions(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    if service is None:
        return _no_model()
    try:
        body = await _body(request, service)
        completion = parse_completion_request(body, service.limits)
        _check_model(completion.model, service)
        checked = await _guard_input(request, service, [completion.prompt])
        if isinstance(checked, web.Response):
            return checked
        prompt = await asyncio.to_thread(service.engine.tokenize, checked[0], True, False)
        check_prompt_tokens(len(prompt), completion.sampling.max_tokens,
                            context_size=service.engine.n_ctx_seq, param="prompt")
    except RequestError as error:
        return _refused(service, error)
    return await _generate(request, service, prompt, completion, chat=False)


# --- steps ---------------------------------------------------------------------------

def _service(request: web.Request) -> InferenceService | None:
    slot = request.app.get(INFERENCE_KEY)
    return slot.service if slot is not None else None


async def _body(request: web.Request, service: InferenceService) -> Any:
    return await read_json_body(request, service.limits.max_body_bytes)


def _check_model(requested: str | None, service: InferenceService) -> None:
    if requested is not None and requested != service.model.model_id:
        raise RequestError(f"The model {requested[:128]!r} does not exist; this server "
                           f"serves {service.model.model_id!r}.", "model", status=404,
                           code="model_not_found")


async def _guard_input(request: web.Request, service: InferenceService,
                       texts: Sequence[str]) -> web.Response | list[str]:
    """The guard on every message: the refusal, or the sanitized texts to forward (control
    characters and markup removed, PII and secrets replaced by their placeholders)."""
    verdicts: list[Verdict] = await asyncio.to_thread(service.guard.check_batch, list(texts))
    rule_ids: list[str] = []
    categories: list[str] = []
    for verdict in verdicts:
        for finding in verdict.findings:
            service.metrics.guard_finding(finding.category)
            rule_ids.append(finding.rule)
            categories.append(finding.category)
    blocked = [v for v in verdicts if not v.allowed]
    if not blocked:
        request[GUARD_SUMMARY_KEY] = GuardSummary(
            "flagged" if rule_ids else "allowed", tuple(dict.fromkeys(rule_ids)))
        return [v.sanitized for v in verdicts]
    service.metrics.reject("guard_blocked")
    rules = tuple(dict.fromkeys(f.rule for v in blocked for f in v.findings))
    kinds = sorted(dict.fromkeys(f.category for v in blocked for f in v.findings))
    request[GUARD_SUMMARY_KEY] = GuardSummary("blocked", rules)
    reasons = "; ".join(dict.fromkeys(v.reason for v in blocked if v.reason))
    detail = f" (rules: {', '.join(rules)}; categories: {', '.join(kinds)})" if rules else ""
    return openai_error(400, f"The prompt was refused by the guard: {reasons}{detail}.",
                        type="invalid_request_error", code="prompt_blocked",
                        param="messages")


def _chat_tokens(service: InferenceService, messages: Sequence[Message]) -> list[int]:
    """The prompt's tokens, with the canary appended to the system prompt (a request
    without one has no system prompt to leak, and small models tend to echo an injected
    one). Runs on a worker thread (template rendering and tokenization)."""
    turns = [{"role": m.role, "content": m.content} for m in messages]
    systems = [i for i, t in enumerate(turns) if t["role"] == "system"]
    if systems:
        first = turns[systems[0]]
        first["content"] = service.guard.system_prompt_with_canary(first["content"])
    try:
        return chat_prompt_tokens(
            service.model.chat_template, turns,
            lambda text, special: service.engine.tokenize(text, False, special),
            bos_token=service.bos_token, eos_token=service.eos_token, bos_id=service.bos_id)
    except PromptError as error:
        raise RequestError(str(error), "messages") from None


async def _generate(request: web.Request, service: InferenceService, prompt: list[int],
                    ask: ChatRequest | CompletionRequest, *, chat: bool) -> web.StreamResponse:
    await charge_tokens(request, len(prompt), ask.sampling.max_tokens)
    try:
        generation = service.engine.submit(prompt, ask.sampling.engine_params(),
                                           time.monotonic() + QUEUE_DEADLINE_SECONDS)
    except Overloaded as busy:
        return _overloaded(service, busy)
    except EngineClosed:
        return _no_model()
    except ValueError as error:  # a prompt the engine refuses (context, vocabulary)
        return _refused(service, RequestError(str(error), "messages" if chat else "prompt"))
    started = time.monotonic()
    try:
        if ask.stream:
            return await _stream(request, service, generation, ask, chat, started)
        return await _whole(request, service, generation, ask, chat, started)
    except asyncio.CancelledError:
        service.metrics.client_disconnects.inc()
        generation.cancel()
        raise
    finally:
        generation.cancel()  # no-op once finished; frees the slot on any other exit


async def _whole(request: web.Request, service: InferenceService, generation: Generation,
                 ask: ChatRequest | CompletionRequest, chat: bool,
                 started: float) -> web.Response:
    redactor = service.guard.stream_redactor()
    watch = CanaryWatch(service.guard.canary)
    parts: list[str] = []
    first = True
    async for event in generation:
        if isinstance(event, TokenEvent):
            if first:
                service.metrics.time_to_first_token.observe(time.monotonic() - started)
                first = False
            watch.feed(event.text)
            parts.append(redactor.feed(event.text))
        else:
            parts.append(redactor.close())
            return _finished_response(request, service, event, "".join(parts), ask, chat,
                                      watch.leaked)
    raise RuntimeError("generation ended without a Finished event")  # pragma: no cover


def _finished_response(request: web.Request, service: InferenceService, event: Finished,
                       text: str, ask: ChatRequest | CompletionRequest, chat: bool,
                       leaked: bool) -> web.Response:
    service.metrics.count_tokens(event.prompt_tokens, event.completion_tokens)
    if event.reason in ("timeout", "error", "cancelled"):
        if event.reason == "timeout":
            service.metrics.reject("deadline")
        return openai_error(503, "The model could not serve this request"
                            + (": it waited too long for a slot" if event.reason == "timeout"
                               else "") + "; try again later.", type="server_error",
                            code="model_unavailable",
                            headers={"Retry-After": _seconds(service.engine.estimated_wait())})
    if leaked:
        service.metrics.guard_finding("canary")
    reason = "content_filter" if leaked else event.reason
    usage = Usage(event.prompt_tokens, event.completion_tokens)
    model = service.model.model_id
    body = (chat_completion(model, text, reason, usage) if chat  # type: ignore[arg-type]
            else text_completion(model, text, reason, usage))  # type: ignore[arg-type]
    _remember(request, service, ask, text)
    return web.json_response(body)


async def _stream(request: web.Request, service: InferenceService, generation: Generation,
                  ask: ChatRequest | CompletionRequest, chat: bool,
                  started: float) -> web.StreamResponse:
    """Server-sent events. Headers go out only with the first token, so a request that
    waited too long for a slot still gets a proper 503 instead of an empty stream."""
    redactor = service.guard.stream_redactor()
    model = service.model.model_id
    chunks: ChatStream | CompletionStream = (
        ChatStream(model, ask.include_usage) if chat else CompletionStream(model,
                                                                            ask.include_usage))
    response: web.StreamResponse | None = None
    sent: list[str] = []
    watch = CanaryWatch(service.guard.canary)
    last_token = started
    async for event in generation:
        if isinstance(event, Finished):
            if response is None:
                if event.reason in ("timeout", "error", "cancelled"):
                    return _finished_response(request, service, event, "", ask, chat, False)
                response = await _open_stream(request, chunks)
            tail = redactor.close()
            if tail:
                await sse_event(response, _text_chunk(chunks, tail))
                sent.append(tail)
            service.metrics.count_tokens(event.prompt_tokens, event.completion_tokens)
            # An engine failure mid-stream is reported, never passed off as a normal end.
            if watch.leaked:
                service.metrics.guard_finding("canary")
            reason = ("content_filter" if watch.leaked else
                      "error" if event.reason in ("error", "cancelled", "timeout")
                      else event.reason)
            if reason == "error":
                await sse_event(response, {"error": {
                    "message": "generation failed: " + (event.detail or event.reason),
                    "type": "server_error", "param": None, "code": "generation_failed"}})
            else:
                await sse_event(response, chunks.finish_chunk(reason))  # type: ignore[arg-type]
                if ask.include_usage:
                    await sse_event(response, chunks.usage_chunk(
                        Usage(event.prompt_tokens, event.completion_tokens)))
            await sse_done(response)
            _remember(request, service, ask, "".join(sent))
            return response
        now = time.monotonic()
        if response is None:
            service.metrics.time_to_first_token.observe(now - started)
            response = await _open_stream(request, chunks)
        else:
            service.metrics.inter_token_latency.observe(now - last_token)
        last_token = now
        watch.feed(event.text)
        text = redactor.feed(event.text)
        if text:
            await sse_event(response, _text_chunk(chunks, text))
            sent.append(text)
    raise RuntimeError("generation ended without a Finished event")  # pragma: no cover


class CanaryWatch:
    """Did the raw output contain the canary (split over any number of tokens)? The
    redactor already keeps it from the client; this marks the response and the metric."""

    def __init__(self, canary: str) -> None:
        self._canary = canary
        self._tail = ""
        self.leaked = False

    def feed(self, text: str) -> None:
        if not self.leaked:
            window = self._tail + text
            self.leaked = self._canary in window
            self._tail = window[-(len(self._canary) - 1):] if len(self._canary) > 1 else ""


async def _open_stream(request: web.Request,
                       chunks: ChatStream | CompletionStream) -> web.StreamResponse:
    response = await prepare_sse(request)
    if isinstance(chunks, ChatStream):
        await sse_event(response, chunks.role_chunk())
    return response


def _text_chunk(chunks: ChatStream | CompletionStream, text: str) -> dict[str, Any]:
    if isinstance(chunks, ChatStream):
        return chunks.content_chunk(text)
    return chunks.text_chunk(text)


def _remember(request: web.Request, service: InferenceService,
              ask: ChatRequest | CompletionRequest, answer: str) -> None:
    """GDPR: the processing log, and the conversation when storage is on (off by
    default); written off the event loop, never delaying the response."""
    gdpr = request.app.get(GDPR_KEY)
    principal_user = _user(request)
    if gdpr is None or principal_user is None:
        return
    prompt = (ask.messages[-1].content if isinstance(ask, ChatRequest) else ask.prompt)
    request_id = request.get(REQUEST_ID_KEY)

    def write() -> None:
        try:
            gdpr.record_processing(principal_user, "inference", request_id=request_id)
            gdpr.store_conversation(principal_user, request_id or "", prompt, answer)
        except Exception:  # noqa: BLE001 - bookkeeping must not fail a served request
            log.exception("GDPR processing record not written")

    task = asyncio.get_running_loop().run_in_executor(None, write)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


_BACKGROUND: set[asyncio.Future[None]] = set()


def _user(request: web.Request) -> str | None:
    principal = request.get(PRINCIPAL_KEY)
    return principal.user if principal is not None else None


# --- refusals ------------------------------------------------------------------------

def _refused(service: InferenceService, error: RequestError) -> web.Response:
    if error.status == CLIENT_CLOSED:  # gone mid-body: a disconnect, not a bad request
        service.metrics.client_disconnects.inc()
    else:
        service.metrics.reject("payload_too_large" if error.status == 413 else "bad_request")
    return error.response()


def _overloaded(service: InferenceService, busy: Overloaded) -> web.Response:
    full = isinstance(busy, QueueFull)
    service.metrics.reject("queue_full" if full else "deadline")
    status = 429 if full else 503  # else DeadlineExceeded
    return openai_error(status, ("The server is busy: every slot is taken and the queue is "
                                 "full." if full else "The server is busy: the request would "
                                 "wait too long for a slot.") + " Retry later.",
                        type="server_error" if not full else "requests",
                        code="server_busy", headers={"Retry-After": _seconds(busy.retry_after)})


def _no_model() -> web.Response:
    return openai_error(503, "No model is loaded.", type="server_error",
                        code="model_not_loaded", headers={"Retry-After": "5"})


def _seconds(value: float) -> str:
    return str(max(1, math.ceil(value)))


def _special_ids(model: VerifiedModel) -> tuple[int | None, int | None]:
    values = model.header.metadata
    bos, eos = values.get("tokenizer.ggml.bos_token_id"), values.get("tokenizer.ggml.eos_token_id")
    return (bos if isinstance(bos, int) and not isinstance(bos, bool) else None,
            eos if isinstance(eos, int) and not isinstance(eos, bool) else None)


def _piece(engine: Engine, token: int | None) -> str:
    if token is None or not 0 <= token < engine.model.n_vocab:
        return ""
    return engine.model.token_to_piece(token, special=True).decode("utf-8", "replace")
