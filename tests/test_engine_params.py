"""The engine's parameter validation and its text helpers (no model needed)."""

import math

import pytest

pytest.importorskip("llama_cpp")

from llmward.engine import EngineConfig, SamplingParams
from llmward.engine.llama_model import StopMatcher, Utf8Stream, seed32
from llmward.engine.params import MAX_LOGIT_BIAS, MAX_STOP, MAX_STOP_CHARS


def test_defaults_are_valid():
    p = SamplingParams()
    assert p.max_tokens == 256 and p.temperature == 1.0 and not p.greedy
    assert SamplingParams(temperature=0).greedy
    assert SamplingParams(stop="x").stop == ("x",)
    assert SamplingParams(stop=["a", "b", "a"]).stop == ("a", "b")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": True}, "max_tokens"),
    ({"max_tokens": 1.5}, "max_tokens"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": math.nan}, "temperature"),
    ({"temperature": math.inf}, "temperature"),
    ({"temperature": "1"}, "temperature"),
    ({"top_p": 0.0}, "top_p"),
    ({"top_p": 1.01}, "top_p"),
    ({"top_k": -1}, "top_k"),
    ({"min_p": 1.5}, "min_p"),
    ({"min_p": -0.1}, "min_p"),
    ({"repeat_penalty": 0.0}, "repeat_penalty"),
    ({"presence_penalty": 2.5}, "presence_penalty"),
    ({"frequency_penalty": -3}, "frequency_penalty"),
    ({"penalty_last_n": -1}, "penalty_last_n"),
    ({"seed": 1.0}, "seed"),
    ({"seed": 1 << 70}, "seed"),
    ({"logit_bias": {-1: 1.0}}, "logit_bias"),
    ({"logit_bias": {"5": 1.0}}, "logit_bias"),
    ({"logit_bias": {5: 101.0}}, "logit_bias[5]"),
    ({"logit_bias": {5: math.nan}}, "logit_bias[5]"),
    ({"logit_bias": [(5, 1.0)]}, "logit_bias"),
    ({"logit_bias": {i: 1.0 for i in range(MAX_LOGIT_BIAS + 1)}}, "logit_bias"),
    ({"stop": [""]}, "stop"),
    ({"stop": ["x" * (MAX_STOP_CHARS + 1)]}, "stop"),
    ({"stop": ["s"] * 0 + [str(i) for i in range(MAX_STOP + 1)]}, "stop"),
    ({"stop": [1]}, "stop"),
    ({"stop": 7}, "stop"),
    ({"ignore_eos": 1}, "ignore_eos"),
])
def test_invalid_sampling_params_name_the_field(kwargs, field):
    with pytest.raises((ValueError, TypeError)) as info:
        SamplingParams(**kwargs)
    assert str(info.value).startswith(field + ":"), str(info.value)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"parallel": 0}, "parallel"),
    ({"parallel": 1000}, "parallel"),
    ({"n_ctx": 8, "parallel": 1}, "n_ctx"),
    ({"n_batch": 2, "parallel": 4}, "n_batch"),
    ({"n_threads": 0}, "n_threads"),
    ({"max_queue": -1}, "max_queue"),
    ({"max_backlog": 0}, "max_backlog"),
    ({"n_gpu_layers": -2}, "n_gpu_layers"),
])
def test_invalid_engine_config_names_the_field(kwargs, field):
    with pytest.raises((ValueError, TypeError)) as info:
        EngineConfig("model.gguf", **kwargs)
    assert str(info.value).startswith(field + ":"), str(info.value)


def test_params_are_frozen_copies():
    bias = {1: 2.0}
    stops = ["a"]
    p = SamplingParams(logit_bias=bias, stop=stops)
    bias[3] = 1.0
    stops.append("b")
    assert dict(p.logit_bias) == {1: 2.0} and p.stop == ("a",)
    with pytest.raises(TypeError):
        p.logit_bias[4] = 1.0  # type: ignore[index]


def test_seed32_never_the_random_seed_sentinel():
    assert seed32(0xFFFFFFFF) != 0xFFFFFFFF
    assert seed32(-1) != 0xFFFFFFFF
    assert seed32(42) == 42
    assert 0 <= seed32(None) < 0xFFFFFFFF


def _feed(matcher: StopMatcher, pieces: list[str]) -> tuple[str, bool]:
    out = []
    for piece in pieces:
        text, stopped = matcher.push(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    return "".join(out) + matcher.flush(), False


@pytest.mark.parametrize(("stops", "pieces", "expected", "stopped"), [
    (["END"], ["hello E", "N", "D more"], "hello ", True),
    (["END"], ["hello E", "N", "d"], "hello ENd", False),
    (["END"], ["E", "E", "END"], "EE", True),
    (["ab", "b"], ["xa", "b"], "x", True),  # earliest occurrence wins
    (["abd", "bc"], ["a", "bc"], "a", True),  # a held prefix of one stop, then another
    (["\n\n"], ["line\n", "\nnext"], "line", True),
    ([], ["any", "thing"], "anything", False),
    (["aab"], ["a", "a", "a", "b"], "a", True),
])
def test_stop_matcher(stops, pieces, expected, stopped):
    assert _feed(StopMatcher(stops), pieces) == (expected, stopped)


def test_stop_matcher_holds_only_possible_prefixes():
    m = StopMatcher(["STOP"])
    assert m.push("abcS") == ("abc", False)
    assert m.held == "S"
    assert m.push("T") == ("", False)
    assert m.push("x") == ("STx", False)
    assert m.held == ""


def test_utf8_stream_never_emits_partial_characters():
    text = "a\u00e9\u4e16\U0001d518z"
    data = text.encode()
    for cut in range(1, len(data)):
        s = Utf8Stream()
        parts = [s.push(data[:cut]), s.push(data[cut:]), s.flush()]
        assert "".join(parts) == text
        assert all("\ufffd" not in p for p in parts)
    s = Utf8Stream()
    out = [s.push(bytes([b])) for b in data]
    assert "".join(out) == text and "\ufffd" not in "".join(out)
    s = Utf8Stream()
    assert s.push(b"ok\xf0\x9d") == "ok"
    assert s.flush() == "\ufffd"  # an incomplete character at the very end
    assert Utf8Stream().push(b"\xff!") == "\ufffd!"  # invalid bytes
