"""Parameters of the inference engine: per-request sampling and the engine's configuration.

Both are validated when built: a bad value is a `ValueError` (or `TypeError` for a wrong
type) whose message starts with the field's name, so that the server can answer 400 naming
the offending parameter. Bounds keep one request from asking for unbounded work or memory
(the logit-bias table, stop strings).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

FinishReason = Literal["stop", "length", "cancelled", "timeout", "error"]

MAX_LOGIT_BIAS = 1024  # entries in one request's logit_bias table
MAX_LOGIT_BIAS_VALUE = 100.0  # |bias|; +-100 already forces or bans a token
MAX_STOP = 16  # stop strings per request
MAX_STOP_CHARS = 256  # characters in one stop string
MAX_TOKENS = 1 << 20  # the engine also ends a sequence when its context is full
MAX_PENALTY_LAST_N = 1 << 16
MAX_TEMPERATURE = 100.0
MAX_PARALLEL = 256  # llama.cpp's LLAMA_MAX_SEQ
MAX_QUEUE = 1 << 20


def _int(name: str, value: object, lo: int, hi: int) -> int:
    # bool is an int in Python; True as a token count is a caller bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name}: {value} is out of range [{lo}, {hi}]")
    return value


def _float(name: str, value: object, lo: float, hi: float, *, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {v}")
    if (v <= lo if lo_open else v < lo) or v > hi:
        bracket = "(" if lo_open else "["
        raise ValueError(f"{name}: {v} is out of range {bracket}{lo}, {hi}]")
    return v


@dataclass(frozen=True)
class SamplingParams:
    """How one request samples, and when it stops.

    temperature 0 is greedy decoding (top_p/top_k/min_p/seed are then irrelevant).
    top_k 0 and top_p 1 and min_p 0 disable those filters. The penalties follow llama.cpp:
    repeat_penalty 1 and presence/frequency 0 are neutral; they look at the last
    `penalty_last_n` generated tokens (not the prompt, as llama-cpp-python's `Llama` does).
    `seed` None draws a random seed. `logit_bias` maps token ids to a bias added to their
    logits. `stop` strings end the generation; the stop string itself is never emitted.
    `ignore_eos` keeps generating past end-of-generation tokens (benchmarks, tests).
    """

    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    repeat_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    penalty_last_n: int = 64
    seed: int | None = None
    logit_bias: Mapping[int, float] = field(default_factory=dict)
    stop: Sequence[str] = ()
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        s = object.__setattr__
        _int("max_tokens", self.max_tokens, 1, MAX_TOKENS)
        s(self, "temperature", _float("temperature", self.temperature, 0.0, MAX_TEMPERATURE))
        s(self, "top_p", _float("top_p", self.top_p, 0.0, 1.0, lo_open=True))
        _int("top_k", self.top_k, 0, (1 << 31) - 1)
        s(self, "min_p", _float("min_p", self.min_p, 0.0, 1.0))
        s(self, "repeat_penalty",
          _float("repeat_penalty", self.repeat_penalty, 0.0, 10.0, lo_open=True))
        s(self, "presence_penalty", _float("presence_penalty", self.presence_penalty, -2.0, 2.0))
        s(self, "frequency_penalty",
          _float("frequency_penalty", self.frequency_penalty, -2.0, 2.0))
        _int("penalty_last_n", self.penalty_last_n, 0, MAX_PENALTY_LAST_N)
        if self.seed is not None:
            # Any 64-bit integer (OpenAI's `seed`); folded into llama.cpp's 32-bit seed.
            _int("seed", self.seed, -(1 << 63), (1 << 64) - 1)
        if not isinstance(self.ignore_eos, bool):
            raise TypeError("ignore_eos: expected a bool")
        s(self, "logit_bias", MappingProxyType(_logit_bias(self.logit_bias)))
        s(self, "stop", _stop(self.stop))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def _logit_bias(value: object) -> dict[int, float]:
    if not isinstance(value, Mapping):
        raise TypeError(f"logit_bias: expected a mapping, got {type(value).__name__}")
    if len(value) > MAX_LOGIT_BIAS:
        raise ValueError(f"logit_bias: {len(value)} entries, at most {MAX_LOGIT_BIAS}")
    out: dict[int, float] = {}
    for token, bias in value.items():
        # Token ids are checked against the vocabulary at submit.
        tok = _int("logit_bias", token, 0, (1 << 31) - 1)
        out[tok] = _float(f"logit_bias[{tok}]", bias, -MAX_LOGIT_BIAS_VALUE, MAX_LOGIT_BIAS_VALUE)
    return out


def _stop(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"stop: expected a string or a list of strings, "
                        f"got {type(value).__name__}")
    if len(value) > MAX_STOP:
        raise ValueError(f"stop: {len(value)} strings, at most {MAX_STOP}")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"stop: expected strings, got {type(item).__name__}")
        if not 1 <= len(item) <= MAX_STOP_CHARS:
            raise ValueError(f"stop: each string must have 1 to {MAX_STOP_CHARS} characters")
        if item not in out:
            out.append(item)
    return tuple(out)


@dataclass(frozen=True)
class EngineConfig:
    """The engine's resources.

    `n_ctx` is the total KV-cache size in tokens, split evenly between the `parallel`
    sequences (each gets n_ctx // parallel: prompt plus completion). `n_batch` bounds the
    tokens of one llama_decode call (prompt chunks plus one token per decoding sequence).
    `max_queue` bounds requests waiting for a sequence slot; `max_backlog` bounds the tokens
    a sequence may have produced that its consumer has not read yet (the sequence pauses
    beyond it). `n_threads` None uses every CPU the process may run on.
    """

    model_path: str | os.PathLike[str]
    n_ctx: int = 4096
    parallel: int = 4
    n_batch: int = 512
    n_threads: int | None = None
    n_gpu_layers: int = 0
    max_queue: int = 64
    max_backlog: int = 64
    flash_attn: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.model_path, (str, os.PathLike)):
            raise TypeError("model_path: expected a path")
        _int("parallel", self.parallel, 1, MAX_PARALLEL)
        _int("n_ctx", self.n_ctx, 16 * self.parallel, 1 << 24)
        _int("n_batch", self.n_batch, max(self.parallel, 8), 1 << 16)
        if self.n_threads is not None:
            _int("n_threads", self.n_threads, 1, 1024)
        _int("n_gpu_layers", self.n_gpu_layers, -1, 1 << 16)
        _int("max_queue", self.max_queue, 0, MAX_QUEUE)
        _int("max_backlog", self.max_backlog, 1, 1 << 20)
        if not isinstance(self.flash_attn, bool):
            raise TypeError("flash_attn: expected a bool")

    def threads(self) -> int:
        if self.n_threads is not None:
            return self.n_threads
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            return max(1, os.cpu_count() or 1)
