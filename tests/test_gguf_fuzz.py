"""Fuzzing the GGUF reader with mutated headers, seeded from a valid model and from
every crafted-file class: it only ever returns a consistent result or raises
GGUFError, quickly, without reading past the file or allocating from a claimed size."""

import io
import struct
import tempfile
import time
import tracemalloc
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gguf_files import crafted_cases, minimal, write_tiny_model
from llmward.integrity.gguf import DEFAULT_LIMITS, GGUFError, GGUFFile, Limits, read_gguf


def _valid_seeds() -> list[bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        valid = write_tiny_model(Path(tmp) / "tiny.gguf").read_bytes()
    return [valid, minimal().to_bytes()]


# Half the examples start from a valid file, half from one of the crafted classes.
SEEDS = st.one_of(st.sampled_from(_valid_seeds()),
                  st.sampled_from([case.data for case in crafted_cases()]))
# Values that have broken GGUF parsers: zero, sign boundaries, all ones, huge sizes.
INTERESTING = [0, 1, 2, 3, 4, 5, 13, 31, 32, 33, 63, 64, 255, 256, 4096, (1 << 31) - 1,
               1 << 31, (1 << 32) - 1, 1 << 32, (1 << 61), (1 << 62), (1 << 63) - 1,
               1 << 63, (1 << 64) - 1]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(SEEDS))
    # Mutations land in the header (the seeds' headers are under 2 KiB), where the
    # parser's decisions are.
    for _ in range(draw(st.integers(1, 4))):
        end = max(1, min(len(data), 2048))
        pos = draw(st.integers(0, end - 1))
        kind = draw(st.sampled_from(["byte", "u32", "u64", "truncate", "insert", "delete"]))
        if kind == "byte":
            data[pos:pos + 1] = bytes([draw(st.integers(0, 255))])
        elif kind in ("u32", "u64"):
            width, fmt = (4, "<I") if kind == "u32" else (8, "<Q")
            value = draw(st.sampled_from(INTERESTING)) % (1 << (8 * width))
            data[pos:pos + width] = struct.pack(fmt, value)
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[pos:pos + draw(st.integers(1, 16))]
    return bytes(data)


class CountingFile(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest_read = 0
        self.total_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.largest_read = max(self.largest_read, size)
        self.total_read += len(chunk)
        return chunk


def _read(data: bytes, limits: Limits = DEFAULT_LIMITS
          ) -> tuple[GGUFFile | None, CountingFile]:
    f = CountingFile(data)
    try:
        return read_gguf(f, limits=limits), f
    except GGUFError as error:
        assert 0 <= error.offset <= len(data)
        return None, f


def _check_consistent(model: GGUFFile, size: int) -> None:
    """What a model accepted by the reader guarantees to llama.cpp."""
    assert model.alignment & (model.alignment - 1) == 0
    end = 0
    for tensor in sorted(model.tensors, key=lambda t: t.offset):
        assert tensor.offset % model.alignment == 0
        assert model.data_offset + tensor.offset + tensor.size <= size
        if tensor.size:
            assert tensor.offset >= end
            end = tensor.offset + tensor.size
    # The helpers must not fail on whatever the metadata holds.
    assert isinstance(model.parameter_count, int)
    model.quantization, model.context_length, model.architecture  # noqa: B018
    model.chat_templates, model.chat_template_problems  # noqa: B018


@given(mutated(), st.sampled_from([DEFAULT_LIMITS, Limits(max_decoded_array=0)]))
def test_mutated_headers_are_read_or_refused(data, limits):
    start = time.monotonic()
    model, f = _read(data, limits)
    assert time.monotonic() - start < 1.0
    assert f.largest_read <= len(data)
    # Walking a summarized string array reads ahead, then rereads what followed it:
    # a bounded multiple of the file, never a claimed size.
    assert f.total_read <= 8 * len(data) + 64
    if model is not None:
        _check_consistent(model, len(data))


@settings(max_examples=60)
@given(mutated())
def test_mutated_headers_allocate_little(data):
    tracemalloc.start()
    try:
        _read(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The seeds are a few KiB: nothing a header claims may be allocated ahead.
    assert peak < 1 << 20


@settings(max_examples=100)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_after_the_magic(tail):
    model, f = _read(b"GGUF" + tail)
    assert f.largest_read <= 4 + len(tail)
    if model is not None:
        _check_consistent(model, 4 + len(tail))
