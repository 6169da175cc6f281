"""Thin owners of llama.cpp objects, on llama-cpp-python's low-level ctypes API.

- `LlamaModel`: the weights and the vocabulary. Read-only after loading, so its
  tokenization and detokenization helpers may be called from any thread.
- `LlamaContext`: the KV cache (one stream per sequence), one reusable `llama_batch`, and an
  abort flag read by llama.cpp during `llama_decode`. Not thread-safe: one thread (the
  engine's worker) uses it.
- `SamplerChain`: llama.cpp's native sampler chain for one request's `SamplingParams`.
- `Utf8Stream` and `StopMatcher`: incremental text helpers (no partial UTF-8 character and
  no part of a stop string is ever emitted).

Everything here frees what it allocated in `close()`, which is idempotent.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import os
import secrets
import sys
import threading
from collections.abc import Callable, Sequence

import llama_cpp as ll

from llmward.engine.params import SamplingParams

logger = logging.getLogger("llmward.engine")
_native_logger = logging.getLogger("llmward.engine.llama_cpp")

_init_lock = threading.Lock()
_backend_ready = False

# ggml_log_level (ggml.h: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5) -> logging
# levels. Untagged and INFO lines are load-time chatter: DEBUG here. CONT continues the
# previous line's level. (llama-cpp-python's own callback maps the older numbering.)
_LOG_LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING,
               4: logging.ERROR}
_last_log_level = logging.DEBUG


def _log_callback(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    global _last_log_level
    lvl = _last_log_level if level == 5 else _LOG_LEVELS.get(level, logging.DEBUG)
    _last_log_level = lvl
    if _native_logger.isEnabledFor(lvl):
        msg = text.decode("utf-8", "replace").rstrip("\n")
        if msg:
            _native_logger.log(lvl, "%s", msg)


_log_callback_c = ll.llama_log_callback(_log_callback)  # kept alive: llama.cpp calls it


def init_backend() -> None:
    """llama_backend_init once per process, and llama.cpp's log lines routed to the
    `llmward.engine.llama_cpp` logger instead of stderr."""
    global _backend_ready
    with _init_lock:
        if not _backend_ready:
            ll.llama_log_set(_log_callback_c, ctypes.c_void_p(0))
            ll.llama_backend_init()
            _backend_ready = True


class LlamaModel:
    """A loaded GGUF model (weights on `n_gpu_layers` GPU layers, the rest on the CPU).

    The caller verifies the file (hash, signature) before; this only loads a path.
    """

    def __init__(self, path: str | os.PathLike[str], *, n_gpu_layers: int = 0) -> None:
        init_backend()
        self._model: int | None = None
        params = ll.llama_model_default_params()
        params.n_gpu_layers = 0x7FFFFFFF if n_gpu_layers == -1 else n_gpu_layers
        fs_path = os.fsencode(os.fspath(path))
        model = ll.llama_model_load_from_file(fs_path, params)
        if not model:
            raise ValueError(f"model_path: llama.cpp could not load {os.fsdecode(fs_path)!r}")
        self._model = model
        try:
            if ll.llama_model_has_encoder(model):
                raise ValueError("model_path: encoder-decoder models are not supported")
            vocab = ll.llama_model_get_vocab(model)
            if not vocab:
                raise ValueError("model_path: the model has no vocabulary")
            self.vocab = vocab
            self.n_vocab: int = ll.llama_vocab_n_tokens(vocab)
            self.n_ctx_train: int = ll.llama_model_n_ctx_train(model)
        except BaseException:
            self.close()
            raise
        self._eog: frozenset[int] | None = None
        self._piece_buf = threading.local()

    @property
    def handle(self) -> int:
        if self._model is None:
            raise RuntimeError("the model is closed")
        return self._model

    def close(self) -> None:
        if self._model is not None:
            ll.llama_model_free(self._model)
            self._model = None

    # -- vocabulary (thread-safe: the vocabulary is read-only after loading) --

    def tokenize(self, text: str | bytes, *, add_special: bool = True,
                 parse_special: bool = False) -> list[int]:
        """Token ids of `text`. `add_special` adds the model's BOS (and EOS if it wants one);
        `parse_special` turns special-token text such as "<start_of_turn>" into those tokens
        (only for trusted text such as a rendered chat template, never for raw user input)."""
        try:
            data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        except UnicodeEncodeError:
            raise ValueError("text: not valid Unicode (a lone surrogate)") from None
        if len(data) >= 1 << 30:
            raise ValueError("text: too long to tokenize")
        cap = len(data) + 8
        while True:
            buf = (ll.llama_token * cap)()
            n = ll.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special,
                                  parse_special)
            if n >= 0:
                return list(buf[:n])
            if -n <= cap:  # an error other than "buffer too small"
                raise RuntimeError(f"llama_tokenize failed ({n})")
            cap = -n

    def token_to_piece(self, token: int, *, special: bool = False) -> bytes:
        """The bytes of one token (possibly an incomplete UTF-8 sequence)."""
        buf: ctypes.Array[ctypes.c_char] | None = getattr(self._piece_buf, "buf", None)
        if buf is None:
            buf = ctypes.create_string_buffer(256)
            self._piece_buf.buf = buf
        n = ll.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            self._piece_buf.buf = buf
            n = ll.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
            if n < 0:
                raise RuntimeError(f"llama_token_to_piece failed ({n})")
        return buf.raw[:n]

    def detokenize(self, tokens: Sequence[int], *, special: bool = False) -> str:
        return b"".join(self.token_to_piece(t, special=special) for t in tokens).decode(
            "utf-8", "replace")

    def is_eog(self, token: int) -> bool:
        """End of generation: EOS, end of turn and the like."""
        return bool(ll.llama_vocab_is_eog(self.vocab, token))

    def eog_tokens(self) -> frozenset[int]:
        """Every end-of-generation token of the vocabulary (scanned once, on first use)."""
        if self._eog is None:
            is_eog = ll.llama_vocab_is_eog
            vocab = self.vocab
            self._eog = frozenset(t for t in range(self.n_vocab) if is_eog(vocab, t))
        return self._eog

    def chat_template(self, name: str | None = None) -> str | None:
        """The chat template stored in the GGUF (`tokenizer.chat_template`), if any."""
        raw = ll.llama_model_chat_template(self.handle, None if name is None else name.encode())
        return None if raw is None else raw.decode("utf-8", "replace")


def _abort_callback() -> tuple[Callable[..., bool], ctypes.Array[ctypes.c_char]]:
    """A `ggml_abort_callback` and the flag it reads, without calling into Python.

    llama.cpp's CPU backend calls the abort callback before every graph node (hundreds per
    llama_decode). A Python callback would take the GIL each time and, while another
    thread runs Python, wait up to the interpreter's switch interval (5 ms) per node.
    Instead the callback is libc's `strlen` on a two-byte buffer: 0 ("") while the flag is
    clear, 1 ("\\x01") once set; `bool` is returned in the low byte of the result register,
    which `strlen` sets to exactly 0 or 1. Where libc's strlen cannot be found (no POSIX
    libc), a Python callback reads the same flag.
    """
    flag = ctypes.create_string_buffer(2)
    libc: ctypes.CDLL | None
    try:
        libc = ctypes.cdll.msvcrt if sys.platform == "win32" else ctypes.CDLL(None)
        addr = ctypes.cast(libc.strlen, ctypes.c_void_p).value
    except (OSError, AttributeError):
        addr = None
    if addr:
        return ll.ggml_abort_callback(addr), flag

    def _py_abort(_data: ctypes.c_void_p) -> bool:
        return flag.raw[0] != 0

    return ll.ggml_abort_callback(_py_abort), flag


class LlamaContext:
    """A llama.cpp context: `n_ctx` KV cells split between `n_seq_max` sequences (one KV
    stream each, kv_unified off), and a batch of up to `n_batch` tokens.

    Use from one thread at a time.
    """

    def __init__(self, model: LlamaModel, *, n_ctx: int, n_seq_max: int, n_batch: int,
                 n_threads: int, flash_attn: bool = False) -> None:
        self.model = model
        self._ctx: int | None = None
        self._batch: ll.llama_batch | None = None
        params = ll.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_seq_max = n_seq_max
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        # at most one output (the logits of a sequence's last token) per sequence and batch:
        # without this the logits buffer is sized for n_batch outputs (n_batch * n_vocab
        # floats, 512 MiB for Gemma 3's 262k vocabulary)
        params.n_outputs_max = n_seq_max
        params.n_outputs_max_per_seq = 1
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.kv_unified = False  # a KV stream per sequence: n_ctx // n_seq_max cells each
        params.no_perf = True
        params.flash_attn_type = (ll.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                                  else ll.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        self._abort_cb, self._abort_flag = _abort_callback()
        ctx = ll.llama_init_from_model(model.handle, params)
        if not ctx:
            raise RuntimeError("llama.cpp could not create the context (out of memory?)")
        self._ctx = ctx
        try:
            ll.llama_set_abort_callback(ctx, self._abort_cb,
                                        ctypes.cast(self._abort_flag, ctypes.c_void_p))
            self.n_ctx: int = ll.llama_n_ctx(ctx)
            # llama.cpp pads each sequence's cells (to a multiple of 256); the limit stays
            # what was asked for: n_ctx // n_seq_max tokens per sequence
            n_ctx_seq = getattr(ll, "llama_n_ctx_seq", None)
            self.n_ctx_seq: int = min(n_ctx // n_seq_max,
                                      n_ctx_seq(ctx) if n_ctx_seq is not None
                                      else self.n_ctx // n_seq_max)
            self.n_seq_max = n_seq_max
            self.n_batch = n_batch
            mem = ll.llama_get_memory(ctx)
            if not mem:
                raise RuntimeError("the context has no memory (KV cache)")
            self._mem = mem
            self._batch = ll.llama_batch_init(n_batch, 0, 1)
            b = self._batch
            self._tok = ctypes.cast(b.token, ctypes.POINTER(ll.llama_token * n_batch)).contents
            self._pos = ctypes.cast(b.pos, ctypes.POINTER(ll.llama_pos * n_batch)).contents
            self._out = ctypes.cast(b.logits, ctypes.POINTER(ctypes.c_int8 * n_batch)).contents
            n_seq = ctypes.cast(b.n_seq_id, ctypes.POINTER(ctypes.c_int32 * n_batch)).contents
            n_seq[:] = [1] * n_batch
            self._seq = b.seq_id
            self.n_tokens = 0
        except BaseException:
            self.close()
            raise

    @property
    def handle(self) -> int:
        if self._ctx is None:
            raise RuntimeError("the context is closed")
        return self._ctx

    def close(self) -> None:
        if self._batch is not None:
            ll.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx is not None:
            ll.llama_free(self._ctx)
            self._ctx = None

    # -- the batch --

    def clear_batch(self) -> None:
        self.n_tokens = 0

    def add(self, tokens: Sequence[int], pos0: int, seq: int, *, output_last: bool) -> int:
        """Append `tokens` of sequence `seq` at positions pos0... Returns the batch index of
        the last one (whose logits are computed when `output_last`)."""
        i, n = self.n_tokens, len(tokens)
        if n == 0 or i + n > self.n_batch:
            raise ValueError("batch overflow")
        j = i + n
        self._tok[i:j] = list(tokens)
        self._pos[i:j] = list(range(pos0, pos0 + n))
        self._out[i:j] = [0] * n
        if output_last:
            self._out[j - 1] = 1
        seq_id = self._seq
        for k in range(i, j):
            seq_id[k][0] = seq
        self.n_tokens = j
        return j - 1

    def decode(self) -> int:
        """llama_decode of the batch: 0 ok, 1 no KV slot, 2 aborted, <0 error."""
        if self._batch is None:
            raise RuntimeError("the context is closed")
        self._batch.n_tokens = self.n_tokens
        return int(ll.llama_decode(self.handle, self._batch))

    def set_abort(self, abort: bool) -> None:
        """Makes a running (or the next) llama_decode return 2 at its next graph node.
        Any thread may call this."""
        self._abort_flag[0] = b"\x01" if abort else b"\x00"

    # -- the KV cache --

    def seq_rm(self, seq: int, p0: int = -1, p1: int = -1) -> bool:
        """Drops sequence `seq`'s cells at positions [p0, p1) (all by default)."""
        return bool(ll.llama_memory_seq_rm(self._mem, seq, p0, p1))

    def clear(self) -> None:
        ll.llama_memory_clear(self._mem, True)


class SamplerChain:
    """llama.cpp's native samplers for one request, in llama.cpp's usual order:
    logit bias, penalties, then greedy, or top-k, top-p, min-p, temperature and a seeded
    random draw."""

    def __init__(self, model: LlamaModel, params: SamplingParams) -> None:
        self._chain: int | None = ll.llama_sampler_chain_init(
            ll.llama_sampler_chain_default_params())
        if not self._chain:
            raise RuntimeError("llama_sampler_chain_init failed")
        try:
            bias = dict(params.logit_bias)
            if params.ignore_eos:
                for t in model.eog_tokens():
                    bias[t] = float("-inf")
            if bias:
                arr = (ll.llama_logit_bias * len(bias))()
                for k, (tok, b) in enumerate(bias.items()):
                    arr[k] = ll.llama_logit_bias(tok, b)
                self._add(ll.llama_sampler_init_logit_bias(model.n_vocab, len(bias), arr))
            if (params.repeat_penalty != 1.0 or params.presence_penalty != 0.0
                    or params.frequency_penalty != 0.0) and params.penalty_last_n != 0:
                self._add(ll.llama_sampler_init_penalties(
                    model.n_vocab, params.penalty_last_n, params.repeat_penalty,
                    params.frequency_penalty, params.presence_penalty))
            if params.greedy:
                self._add(ll.llama_sampler_init_greedy())
            else:
                if params.top_k > 0:
                    self._add(ll.llama_sampler_init_top_k(params.top_k))
                if params.top_p < 1.0:
                    self._add(ll.llama_sampler_init_top_p(params.top_p, 1))
                if params.min_p > 0.0:
                    self._add(ll.llama_sampler_init_min_p(params.min_p, 1))
                self._add(ll.llama_sampler_init_temp(params.temperature))
                self._add(ll.llama_sampler_init_dist(seed32(params.seed)))
        except BaseException:
            self.close()
            raise

    def _add(self, sampler: int | None) -> None:
        if not sampler:
            raise RuntimeError("llama.cpp could not create a sampler")
        ll.llama_sampler_chain_add(self._chain, sampler)  # the chain owns it now

    def sample(self, ctx: LlamaContext, idx: int) -> int:
        """Samples from the logits of batch index `idx` of the last decode. llama.cpp's
        llama_sampler_sample also accepts the token (penalties see it): no separate
        llama_sampler_accept."""
        return int(ll.llama_sampler_sample(self._chain, ctx.handle, idx))

    def close(self) -> None:
        if self._chain:
            ll.llama_sampler_free(self._chain)
            self._chain = None


def seed32(seed: int | None) -> int:
    """A 32-bit seed for llama_sampler_init_dist; never LLAMA_DEFAULT_SEED (0xFFFFFFFF),
    which llama.cpp replaces by a random one. None: a random seed."""
    if seed is None:
        return secrets.randbelow(0xFFFFFFFF)
    return seed % 0xFFFFFFFF


class Utf8Stream:
    """Bytes in, text out, never a partial UTF-8 character: the bytes of an incomplete
    sequence wait for the next piece. Invalid bytes become U+FFFD."""

    def __init__(self) -> None:
        self._dec = codecs.getincrementaldecoder("utf-8")("replace")

    def push(self, data: bytes) -> str:
        return self._dec.decode(data)

    def flush(self) -> str:
        """Text of the bytes still held (an incomplete sequence becomes U+FFFD)."""
        return self._dec.decode(b"", True)


class StopMatcher:
    """Finds stop strings in streamed text. `push` returns the text that can be released
    and whether a stop string was found (the text before it is released, the stop string
    and anything after it never are). Text that could be the start of a stop string is held
    back until it can't."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stops)
        self.held = ""

    def push(self, text: str) -> tuple[str, bool]:
        if not self.stops:
            return text, False
        buf = self.held + text
        best = -1
        for s in self.stops:
            i = buf.find(s)
            if i != -1 and (best == -1 or i < best):
                best = i
        if best != -1:
            self.held = ""
            return buf[:best], True
        keep = 0
        if buf:
            last = buf[-1]
            for s in self.stops:
                # the longest proper prefix of s that is a suffix of buf
                for k in range(min(len(s) - 1, len(buf)), keep, -1):
                    if s[k - 1] == last and buf.endswith(s[:k]):
                        keep = k
                        break
        cut = len(buf) - keep
        self.held = buf[cut:]
        return buf[:cut], False

    def flush(self) -> str:
        out, self.held = self.held, ""
        return out
