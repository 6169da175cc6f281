"""The inference engine: continuous batching of several sequences through llama.cpp's
batch API, per-sequence KV cache and native samplers, on a worker thread off the event
loop, behind a bounded queue. See scheduler.py for how a step works and what is bounded.
"""

from llmward.engine.params import EngineConfig, FinishReason, SamplingParams
from llmward.engine.scheduler import (
    Completion,
    DeadlineExceeded,
    Engine,
    EngineClosed,
    EngineError,
    Event,
    Finished,
    Generation,
    Overloaded,
    QueueFull,
    TokenEvent,
)

__all__ = [
    "Completion",
    "DeadlineExceeded",
    "Engine",
    "EngineClosed",
    "EngineConfig",
    "EngineError",
    "Event",
    "FinishReason",
    "Finished",
    "Generation",
    "Overloaded",
    "QueueFull",
    "SamplingParams",
    "TokenEvent",
]
