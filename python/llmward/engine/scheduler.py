"""The engine: continuous batching of several sequences on one llama.cpp context.

One worker thread owns the context (llama.cpp contexts are not thread-safe) and runs the
loop; the asyncio side only submits, reads and cancels. Each step the worker

1. frees the slots of cancelled sequences and drops cancelled or expired waiting requests;
2. admits waiting requests (FIFO) into free sequence slots;
3. builds one llama_batch: first the last sampled token of every decoding sequence (so
   decoding is never starved by prompts), then prompt chunks of the sequences still reading
   their prompt, oldest first, until the batch holds `n_batch` tokens; logits only for
   decoding tokens and the last token of a prompt;
4. calls llama_decode once (a cancellation that leaves every sequence of the batch
   cancelled aborts it through llama.cpp's abort callback);
5. samples each sequence with its own native sampler chain, detokenizes, applies stop
   strings, end of generation, max_tokens and the end of the sequence's context, and
   hands the events to the event loop: one loop.call_soon_threadsafe per loop per step.

Bounds: `max_queue` waiting requests (beyond the free slots; `submit` raises `QueueFull`
beyond), `parallel` sequences in flight, `n_batch` tokens per decode, and `max_backlog`
tokens produced but not yet read per sequence: a sequence whose consumer is that far
behind is left out of the batch (it keeps its slot and KV cache) until the consumer has
read half of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import operator
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from llmward.engine.llama_model import (
    LlamaContext,
    LlamaModel,
    SamplerChain,
    StopMatcher,
    Utf8Stream,
)
from llmward.engine.params import EngineConfig, FinishReason, SamplingParams

logger = logging.getLogger("llmward.engine")

_EMA = 0.2  # weight of the newest sample in the moving averages


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """One generated token and the text it released (possibly "": text is held back while
    it is an incomplete UTF-8 character or could be the start of a stop string).
    `token_id` -1 marks a last event carrying text released only at the end (held-back
    text when the generation ended on an end-of-generation token)."""

    text: str
    token_id: int


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event of every generation. `prompt_tokens` is the prompt's length,
    `completion_tokens` the tokens generated (end-of-generation tokens not counted).
    reason: "stop" (end of generation or a stop string), "length" (max_tokens or the
    sequence's context is full), "cancelled", "timeout" (waited for a slot past its
    deadline; no token was generated), "error" (`detail` says why)."""

    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    detail: str = ""


Event = TokenEvent | Finished


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole generation, from `Generation.collect()`."""

    text: str
    token_ids: list[int]
    finished: Finished


class EngineError(RuntimeError):
    pass


class EngineClosed(EngineError):
    """The engine is not running (not started, or closed)."""


class Overloaded(EngineError):
    """Refused at once; `retry_after` is the seconds after which a retry may succeed."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueFull(Overloaded):
    """Every slot is busy and `max_queue` requests are waiting (HTTP 429)."""


class DeadlineExceeded(Overloaded):
    """The request would wait for a slot past its deadline (HTTP 503)."""


class Generation:
    """The stream of one request: an async iterator of `TokenEvent`s ending with one
    `Finished`. Iterate it on the event loop that submitted it.

    `cancel()` (any thread) stops it within one token and frees its slot; so does
    cancelling the task that awaits it (a client disconnect in aiohttp).
    """

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop, prompt: list[int],
                 params: SamplingParams, deadline: float | None) -> None:
        self._engine = engine
        self._loop = loop
        self.prompt = prompt
        self.params = params
        self.deadline = deadline
        self.submitted_at = time.monotonic()
        self._events: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._done = False  # the Finished event was returned
        self.finished: Finished | None = None  # set on the loop once delivered
        # written by any thread, read by the worker; a bool store is atomic
        self.cancel_requested = False
        # backpressure: `_sent` written only by the worker, `_read` only by the loop
        self._sent = 0
        self._read = 0
        self._paused = False  # the worker left this sequence out for its backlog

    @property
    def backlog(self) -> int:
        return self._sent - self._read

    def cancel(self) -> None:
        if self.finished is None and not self.cancel_requested:
            self.cancel_requested = True
            self._engine._on_cancel(self)

    def __aiter__(self) -> Generation:
        return self

    async def __anext__(self) -> Event:
        while not self._events:
            if self._done:
                raise StopAsyncIteration
            waiter = self._loop.create_future()
            self._waiter = waiter
            try:
                await waiter
            except asyncio.CancelledError:
                self.cancel()  # whoever read us went away: free the slot
                raise
            finally:
                self._waiter = None
        ev = self._events.popleft()
        if isinstance(ev, TokenEvent):
            self._read += 1
            if self._paused and self.backlog <= self._engine.config.max_backlog // 2:
                self._paused = False
                self._engine._wake.set()
        else:
            self._done = True
        return ev

    async def aclose(self) -> None:
        self.cancel()

    async def next_event(self, timeout: float) -> Event | None:
        """The next event, or None when none came within `timeout` seconds (the
        generation goes on: for keep-alive timers; asyncio.wait_for on `__anext__` would
        cancel the generation instead). Raises StopAsyncIteration after the last event."""
        if not self._events and not self._done:
            waiter = self._loop.create_future()
            self._waiter = waiter
            try:
                await asyncio.wait({waiter}, timeout=timeout)
            except asyncio.CancelledError:
                self.cancel()
                raise
            finally:
                self._waiter = None
                waiter.cancel()
            if not self._events:
                return None
        return await self.__anext__()

    async def collect(self) -> Completion:
        """Reads the whole generation."""
        parts: list[str] = []
        ids: list[int] = []
        async for ev in self:
            if isinstance(ev, TokenEvent):
                parts.append(ev.text)
                if ev.token_id >= 0:
                    ids.append(ev.token_id)
            else:
                return Completion("".join(parts), ids, ev)
        raise EngineError("generation ended without a Finished event")  # pragma: no cover

    def _deliver(self, events: list[Event]) -> None:  # on the loop
        self._events.extend(events)
        last = events[-1]
        if isinstance(last, Finished):
            self.finished = last
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)


def _deliver_all(items: list[tuple[Generation, list[Event]]]) -> None:
    for gen, events in items:
        gen._deliver(events)


@dataclass(slots=True, eq=False)
class _Seq:
    """A request in a sequence slot (worker thread only)."""

    slot: int
    gen: Generation
    sampler: SamplerChain
    admitted_at: float
    prompt_pos: int = 0  # prompt tokens in the KV cache
    n_past: int = 0  # tokens in the KV cache
    pending: int | None = None  # sampled, not yet decoded
    completion: int = 0
    utf8: Utf8Stream = field(default_factory=Utf8Stream)
    stop: StopMatcher = field(default_factory=lambda: StopMatcher(()))
    paused: bool = False


class Engine:
    """Continuous-batching inference on one model; see the module docstring.

    `start()` loads the model (blocking: call it at startup or through asyncio.to_thread)
    and starts the worker; `close()` cancels everything, joins the worker and frees the
    model. `submit()` never blocks.
    """

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._model: LlamaModel | None = None
        self._ctx: LlamaContext | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # the waiting queue, slot count, closing flag
        self._abort_lock = threading.Lock()  # the batch being decoded, the abort flag
        self._wake = threading.Event()
        self._users_cv = threading.Condition()  # threads using the model outside the worker
        self._users = 0
        self._waiting: deque[Generation] = deque()
        self._active: list[_Seq] = []  # worker thread only
        self._n_active = 0  # under _lock: slots taken
        self._free_slots: list[int] = []
        self._in_batch: tuple[Generation, ...] = ()
        self._closing = False
        self._running = False
        self._budget = config.n_batch  # lowered after llama_decode finds no KV slot
        self._rotate = 0
        self._outbox: dict[asyncio.AbstractEventLoop, list[tuple[Generation, list[Event]]]] = {}
        self._pending_events: dict[Generation, list[Event]] = {}
        # statistics (written by the worker; read anywhere)
        self._service_s = 0.0  # moving average: seconds a request holds a slot
        self._step_s = 0.0  # moving average: seconds per decode step
        self._counters = dict.fromkeys(
            ("submitted", "completed", "tokens_generated", "prompt_tokens_processed",
             "cancellations", "timeouts", "rejected_queue_full", "rejected_deadline",
             "errors", "decode_steps", "aborted_decodes", "paused_steps"), 0)

    # -- lifecycle --

    def start(self) -> None:
        with self._lock:
            if self._running or self._closing:
                raise EngineError("the engine was already started")
            cfg = self.config
            model = LlamaModel(cfg.model_path, n_gpu_layers=cfg.n_gpu_layers)
            try:
                model.eog_tokens()  # scanned now (0.1 s for 262k tokens), not mid-serving
                ctx = LlamaContext(model, n_ctx=cfg.n_ctx, n_seq_max=cfg.parallel,
                                   n_batch=cfg.n_batch, n_threads=cfg.threads(),
                                   flash_attn=cfg.flash_attn)
            except BaseException:
                model.close()
                raise
            self._model, self._ctx = model, ctx
            self._free_slots = list(range(cfg.parallel))  # a heap: lowest slot first
            self._running = True
            self._thread = threading.Thread(target=self._run, name="llmward-engine",
                                            daemon=True)
            self._thread.start()
        logger.info("engine started: %d sequences of %d tokens, batch %d, %d threads",
                    cfg.parallel, ctx.n_ctx_seq, cfg.n_batch, cfg.threads())

    def close(self, timeout: float | None = None) -> None:
        """Finishes every generation as "cancelled", joins the worker, frees the model.
        Idempotent; blocks (at most about one llama_decode graph node, then the joins)."""
        with self._lock:
            self._closing = True
        with self._abort_lock:
            if self._ctx is not None:
                self._ctx.set_abort(True)
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            if t.is_alive():
                raise EngineError("the engine's worker did not stop in time")
        self._thread = None
        if self._ctx is not None:  # the worker frees it; here if it never ran
            self._ctx.close()
            self._ctx = None
        with self._users_cv:  # tokenize() calls on other threads finish first
            self._users_cv.wait_for(lambda: self._users == 0)
            model, self._model = self._model, None
        if model is not None:
            model.close()
        self._running = False

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- properties --

    @property
    def model(self) -> LlamaModel:
        if self._model is None:
            raise EngineClosed("the engine is not running")
        return self._model

    def _context(self) -> LlamaContext:
        if self._ctx is None:
            raise EngineClosed("the engine is not running")
        return self._ctx

    @property
    def n_ctx_seq(self) -> int:
        """Tokens per sequence (prompt plus completion)."""
        if self._ctx is None:
            raise EngineClosed("the engine is not running")
        return self._ctx.n_ctx_seq

    @property
    def max_prompt_tokens(self) -> int:
        return self.n_ctx_seq - 1

    @contextlib.contextmanager
    def _using_model(self) -> Iterator[LlamaModel]:
        """The model, kept alive (close() waits) while another thread uses it."""
        with self._users_cv:
            model = self._model
            if model is None or self._closing:
                raise EngineClosed("the engine is not running")
            self._users += 1
        try:
            yield model
        finally:
            with self._users_cv:
                self._users -= 1
                self._users_cv.notify_all()

    def tokenize(self, text: str | bytes, add_special: bool = True,
                 parse_special: bool = False) -> list[int]:
        """Token ids of `text`. Thread-safe (it only reads the vocabulary): call it through
        asyncio.to_thread for long texts. `parse_special` only for trusted text (a rendered
        chat template), never for raw user input."""
        with self._using_model() as model:
            return model.tokenize(text, add_special=add_special, parse_special=parse_special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        with self._using_model() as model:
            return model.detokenize(tokens)

    # -- admission --

    def submit(self, prompt_tokens: Sequence[int], params: SamplingParams,
               deadline: float | None = None) -> Generation:
        """Queues a generation; call on the event loop that will read it.

        `deadline` is a time.monotonic() instant by which the request must have a sequence
        slot. Raises ValueError for an empty prompt, one that does not fit the sequence's
        context (longer than `max_prompt_tokens`) or token ids outside the vocabulary;
        `QueueFull` when every slot is busy and `max_queue` requests wait; and
        `DeadlineExceeded` when the deadline has passed or the estimated wait exceeds it.
        A request that then waits past its deadline finishes with reason "timeout".
        """
        loop = asyncio.get_running_loop()
        if not isinstance(params, SamplingParams):
            raise TypeError("params: expected SamplingParams")
        model, ctx = self._model, self._ctx
        if model is None or ctx is None or not self._running:
            raise EngineClosed("the engine is not running")
        try:
            prompt = [operator.index(t) for t in prompt_tokens]
        except TypeError:
            raise TypeError("prompt_tokens: expected a sequence of integers") from None
        if not prompt:
            raise ValueError("prompt_tokens: the prompt is empty")
        if len(prompt) > ctx.n_ctx_seq - 1:
            raise ValueError(f"prompt_tokens: {len(prompt)} tokens, at most "
                             f"{ctx.n_ctx_seq - 1} fit this engine's context")
        if min(prompt) < 0 or max(prompt) >= model.n_vocab:
            raise ValueError("prompt_tokens: a token id is outside the vocabulary")
        for tok in params.logit_bias:
            if tok >= model.n_vocab:
                raise ValueError(f"logit_bias: token id {tok} is outside the vocabulary")
        gen = Generation(self, loop, prompt, params, deadline)
        with self._lock:
            if self._closing:
                raise EngineClosed("the engine is closing")
            free = self.config.parallel - self._n_active
            ahead = len(self._waiting)
            if ahead >= free + self.config.max_queue:
                self._counters["rejected_queue_full"] += 1
                raise QueueFull("the inference queue is full",
                                max(1.0, self._estimate_wait(ahead, free)))
            if deadline is not None:
                wait = self._estimate_wait(ahead, free)
                if gen.submitted_at + wait > deadline:
                    self._counters["rejected_deadline"] += 1
                    raise DeadlineExceeded(
                        "the request would wait for a slot past its deadline",
                        max(1.0, wait))
            self._waiting.append(gen)
            self._counters["submitted"] += 1
        self._wake.set()
        return gen

    def _estimate_wait(self, ahead: int, free: int) -> float:
        """Seconds until a request with `ahead` requests before it gets a slot, with
        `free` slots free: slots free up at parallel / (mean slot holding time)."""
        if ahead < free:
            return 0.0
        return (ahead - free + 1) * self._service_s / self.config.parallel

    def estimated_wait(self) -> float:
        """Seconds a request submitted now would wait for a slot (for Retry-After)."""
        with self._lock:
            return self._estimate_wait(len(self._waiting),
                                       self.config.parallel - self._n_active)

    def stats(self) -> dict[str, float | int]:
        with self._lock:
            waiting = len(self._waiting)
            active = self._n_active
            wait = self._estimate_wait(waiting, self.config.parallel - active)
        out: dict[str, float | int] = {
            "queue_depth": waiting,
            "active_sequences": active,
            "slots": self.config.parallel,
            "max_queue": self.config.max_queue,
            "estimated_wait_s": wait,
            "mean_service_s": self._service_s,
            "mean_step_s": self._step_s,
            "n_ctx_seq": self._ctx.n_ctx_seq if self._ctx is not None else 0,
        }
        out.update(self._counters)
        return out

    # -- cancellation --

    def _on_cancel(self, gen: Generation) -> None:
        with self._abort_lock:
            batch = self._in_batch
            if batch and self._ctx is not None and all(g.cancel_requested for g in batch):
                self._ctx.set_abort(True)
        self._wake.set()

    # -- the worker --

    def _run(self) -> None:
        try:
            while True:
                self._wake.clear()
                if self._closing:
                    break
                try:
                    busy = self._step()
                except Exception as exc:
                    logger.exception("inference engine step failed; failing its generations")
                    self._fail_everything(f"internal error: {type(exc).__name__}")
                    busy = False
                finally:
                    self._flush_events()
                if not busy and not self._closing:
                    self._wake.wait(self._idle_timeout())
        except BaseException:  # pragma: no cover - the finally still finishes everyone
            logger.exception("inference engine worker died")
            raise
        finally:
            self._shutdown()

    def _idle_timeout(self) -> float:
        with self._lock:
            deadlines = [g.deadline for g in self._waiting if g.deadline is not None]
        if not deadlines:
            return 1.0
        return min(1.0, max(0.0, min(deadlines) - time.monotonic()) + 0.001)

    def _step(self) -> bool:
        """One scheduling step; False when there was nothing to decode."""
        ctx = self._context()
        now = time.monotonic()
        for seq in [s for s in self._active if s.gen.cancel_requested]:
            self._finish(seq, "cancelled")
        self._admit(now)
        if not self._active:
            return False

        # -- build the batch --
        # Which tokens: every decoding sequence's last token first, then prompt chunks
        # (oldest request first) up to the budget. In what order: by slot. With one KV
        # stream per sequence llama.cpp splits a batch into micro-batches of consecutive
        # sequence ids in batch order; sorted slots (allocated lowest first) keep that to
        # one micro-batch for the decoding tokens.
        budget = self._budget
        plan: list[tuple[_Seq, Sequence[int], int, bool]] = []  # seq, tokens, pos0, logits
        decoding = [s for s in self._active if s.pending is not None]
        if len(decoding) > budget:
            r = self._rotate % len(decoding)  # fairness when the budget is small
            decoding = decoding[r:] + decoding[:r]
            self._rotate += 1
        max_backlog = self.config.max_backlog
        for seq in decoding:
            gen = seq.gen
            if gen.backlog >= max_backlog:
                gen._paused = True  # the reader wakes us when it sees this...
                if gen.backlog >= max_backlog:  # ...or has read before it could
                    seq.paused = True
                    continue
            seq.paused = gen._paused = False
            if budget == 0 or seq.pending is None:
                continue
            plan.append((seq, (seq.pending,), seq.n_past, True))
            budget -= 1
        for seq in self._active:
            if budget == 0:
                break
            if seq.pending is None:
                prompt = seq.gen.prompt
                n = min(len(prompt) - seq.prompt_pos, budget)
                plan.append((seq, prompt[seq.prompt_pos:seq.prompt_pos + n], seq.prompt_pos,
                             seq.prompt_pos + n == len(prompt)))
                budget -= n
        if not plan:
            self._counters["paused_steps"] += 1
            return False
        plan.sort(key=lambda item: item[0].slot)
        ctx.clear_batch()
        outputs: list[tuple[_Seq, int]] = []  # (sequence, batch index of its logits)
        prompt_adv: list[tuple[_Seq, int]] = []  # (sequence, prompt tokens added)
        for seq, toks, pos0, logits in plan:
            idx = ctx.add(toks, pos0, seq.slot, output_last=logits)
            if seq.pending is None:
                prompt_adv.append((seq, len(toks)))
            if logits:
                outputs.append((seq, idx))
        in_batch = {seq.gen: None for seq, _, _, _ in plan}

        # -- decode --
        with self._abort_lock:
            self._in_batch = tuple(in_batch)
            ctx.set_abort(self._closing or all(g.cancel_requested for g in in_batch))
        t0 = time.monotonic()
        try:
            rc = ctx.decode()
        finally:
            with self._abort_lock:
                self._in_batch = ()
                ctx.set_abort(self._closing)
        dt = time.monotonic() - t0
        self._step_s += _EMA * (dt - self._step_s) if self._step_s else dt
        self._counters["decode_steps"] += 1
        seqs = [s for s, _ in outputs if s.pending is not None] + [s for s, _ in prompt_adv]
        if rc != 0:
            self._decode_failed(rc, seqs, ctx.n_tokens)
            return True
        if self._budget < self.config.n_batch:
            self._budget = min(self.config.n_batch, self._budget * 2)

        # -- advance and sample --
        for seq, n in prompt_adv:
            seq.prompt_pos += n
            seq.n_past += n
            self._counters["prompt_tokens_processed"] += n
        for seq, _ in outputs:
            if seq.pending is not None:
                seq.n_past += 1
                seq.pending = None
        for seq, idx in outputs:
            if seq.gen.cancel_requested:
                self._finish(seq, "cancelled")
                continue
            self._on_token(seq, seq.sampler.sample(ctx, idx))
        return True

    def _admit(self, now: float) -> None:
        model = self.model
        with self._lock:
            keep: deque[Generation] = deque()
            dropped: list[tuple[Generation, FinishReason]] = []
            for gen in self._waiting:
                if gen.cancel_requested:
                    dropped.append((gen, "cancelled"))
                elif gen.deadline is not None and now > gen.deadline:
                    dropped.append((gen, "timeout"))
                else:
                    keep.append(gen)
            admitted: list[tuple[Generation, int]] = []
            while keep and self._free_slots:
                admitted.append((keep.popleft(), heapq.heappop(self._free_slots)))
                self._n_active += 1
            self._waiting = keep
        for gen, reason in dropped:
            self._counters["cancellations" if reason == "cancelled" else "timeouts"] += 1
            self._emit(gen, Finished(reason, len(gen.prompt), 0))
        for gen, slot in admitted:
            try:
                sampler = SamplerChain(model, gen.params)
            except Exception as exc:
                logger.exception("could not build the sampler chain")
                self._release_slot(slot)
                self._counters["errors"] += 1
                self._emit(gen, Finished("error", len(gen.prompt), 0,
                                         f"sampler: {type(exc).__name__}"))
                continue
            seq = _Seq(slot=slot, gen=gen, sampler=sampler, admitted_at=now)
            if gen.params.stop:
                seq.stop = StopMatcher(gen.params.stop)
            self._active.append(seq)

    def _release_slot(self, slot: int) -> None:
        self._context().seq_rm(slot)
        with self._lock:
            heapq.heappush(self._free_slots, slot)
            self._n_active -= 1

    def _on_token(self, seq: _Seq, token: int) -> None:
        model, ctx = self.model, self._context()
        params = seq.gen.params
        if not params.ignore_eos and model.is_eog(token):
            tail = self._final_text(seq)
            if tail:
                self._emit(seq.gen, TokenEvent(tail, -1))
            self._finish(seq, "stop")
            return
        seq.completion += 1
        self._counters["tokens_generated"] += 1
        text, stopped = seq.stop.push(seq.utf8.push(model.token_to_piece(token)))
        if stopped:
            self._emit(seq.gen, TokenEvent(text, token))
            self._finish(seq, "stop")
        elif seq.completion >= params.max_tokens or seq.n_past >= ctx.n_ctx_seq:
            # the token cannot be decoded (max_tokens reached, or no KV cell left)
            self._emit(seq.gen, TokenEvent(text + self._final_text(seq), token))
            self._finish(seq, "length")
        else:
            self._emit(seq.gen, TokenEvent(text, token))
            seq.pending = token

    @staticmethod
    def _final_text(seq: _Seq) -> str:
        text, stopped = seq.stop.push(seq.utf8.flush())
        return text if stopped else text + seq.stop.flush()

    def _finish(self, seq: _Seq, reason: FinishReason, detail: str = "") -> None:
        self._active.remove(seq)
        seq.sampler.close()
        self._release_slot(seq.slot)
        held = time.monotonic() - seq.admitted_at
        self._service_s += _EMA * (held - self._service_s) if self._service_s else held
        if reason == "cancelled":
            self._counters["cancellations"] += 1
        elif reason == "error":
            self._counters["errors"] += 1
        else:
            self._counters["completed"] += 1
        self._emit(seq.gen, Finished(reason, len(seq.gen.prompt), seq.completion, detail))

    def _decode_failed(self, rc: int, seqs: list[_Seq], n_tokens: int) -> None:
        ctx = self._context()
        if rc == 2:  # aborted: every sequence of the batch was cancelled (or closing)
            self._counters["aborted_decodes"] += 1
            for seq in seqs:
                if seq.gen.cancel_requested or self._closing:
                    self._finish(seq, "cancelled")
                elif not ctx.seq_rm(seq.slot, seq.n_past, -1):  # undo a partial batch
                    self._finish(seq, "error", "llama_decode aborted")
            return
        if rc == 1 and n_tokens > 1:
            # no KV slot for the batch: llama.cpp restored the cache; retry smaller
            self._budget = max(1, n_tokens // 2)
            logger.warning("llama_decode found no KV slot for %d tokens; retrying with %d",
                           n_tokens, self._budget)
            return
        logger.error("llama_decode failed (%d) for a batch of %d tokens; failing its %d "
                     "sequences", rc, n_tokens, len(seqs))
        for seq in seqs:
            self._finish(seq, "error", f"llama_decode returned {rc}")

    def _fail_everything(self, detail: str) -> None:
        for seq in list(self._active):
            try:
                self._finish(seq, "error", detail)
            except Exception:
                logger.exception("could not free a sequence")
                if seq in self._active:
                    self._active.remove(seq)
        with self._lock:
            waiting, self._waiting = self._waiting, deque()
            self._free_slots = list(range(self.config.parallel))
            self._n_active = 0
        for gen in waiting:
            self._counters["errors"] += 1
            self._emit(gen, Finished("error", len(gen.prompt), 0, detail))
        try:
            if self._ctx is not None:
                self._ctx.clear()
        except Exception:
            logger.exception("could not clear the KV cache")

    def _shutdown(self) -> None:
        try:
            for seq in list(self._active):
                self._active.remove(seq)
                seq.sampler.close()
                self._counters["cancellations"] += 1
                self._emit(seq.gen, Finished("cancelled", len(seq.gen.prompt),
                                             seq.completion, "the engine is closing"))
            with self._lock:
                self._closing = True
                waiting, self._waiting = self._waiting, deque()
            for gen in waiting:
                self._counters["cancellations"] += 1
                self._emit(gen, Finished("cancelled", len(gen.prompt), 0,
                                         "the engine is closing"))
            self._flush_events()
        finally:
            with self._abort_lock:
                ctx, self._ctx = self._ctx, None
            if ctx is not None:
                ctx.close()

    # -- delivery --

    def _emit(self, gen: Generation, ev: Event) -> None:
        if isinstance(ev, TokenEvent):
            gen._sent += 1
        evs = self._pending_events.get(gen)
        if evs is None:
            self._pending_events[gen] = evs = []
            self._outbox.setdefault(gen._loop, []).append((gen, evs))
        evs.append(ev)

    def _flush_events(self) -> None:
        outbox, self._outbox = self._outbox, {}
        self._pending_events = {}
        for loop, items in outbox.items():
            try:
                loop.call_soon_threadsafe(_deliver_all, items)
            except RuntimeError:  # the loop is closed: nobody will read these
                for gen, _ in items:
                    gen.cancel_requested = True


__all__ = [
    "Completion",
    "DeadlineExceeded",
    "Engine",
    "EngineClosed",
    "EngineError",
    "Event",
    "Finished",
    "Generation",
    "Overloaded",
    "QueueFull",
    "TokenEvent",
]

