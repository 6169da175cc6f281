"""atheris harness: the GGUF header reader (llmward.integrity.gguf.read_gguf).

Contract: any bytes are either read into a GGUFFile or refused with GGUFError at an
offset inside the file; nothing else is raised, no read is larger than the file, and an
accepted header keeps what the reader promises llama.cpp: a power-of-two alignment,
every tensor aligned, inside the file and disjoint from the others, and helpers that
work on whatever metadata it holds."""

from __future__ import annotations

import io
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["llmward"]):
    from llmward.integrity.gguf import GGUFError, GGUFFile, read_gguf

from atheris_main import run


class _CountingFile(io.BytesIO):
    largest_read = 0

    def read(self, size: int | None = -1) -> bytes:
        self.largest_read = max(self.largest_read, size if size is not None else -1)
        return super().read(size)


def check_accepted(model: GGUFFile, size: int) -> None:
    assert model.alignment > 0 and model.alignment & (model.alignment - 1) == 0
    assert model.data_offset <= size or not model.tensors
    end = 0
    for tensor in sorted(model.tensors, key=lambda t: t.offset):
        assert tensor.offset % model.alignment == 0, tensor
        assert model.data_offset + tensor.offset + tensor.size <= size, tensor
        if tensor.size:
            assert tensor.offset >= end, tensor
            end = tensor.offset + tensor.size
    assert len({t.name for t in model.tensors}) == len(model.tensors)
    assert isinstance(model.parameter_count, int)
    model.quantization, model.context_length, model.architecture  # noqa: B018
    model.chat_templates, model.chat_template_problems  # noqa: B018


def test_one_input(data: bytes) -> None:
    f = _CountingFile(data)
    try:
        model = read_gguf(f)
    except GGUFError as error:
        assert 0 <= error.offset <= len(data), (error.offset, len(data))
        return
    finally:
        assert f.largest_read <= len(data) + 1, (f.largest_read, len(data))
    check_accepted(model, len(data))


def seeds() -> Iterable[bytes]:
    """A valid tiny model, the minimal file and every crafted-file class of the tests."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from gguf_files import crafted_cases, minimal, write_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        yield write_tiny_model(Path(tmp) / "tiny.gguf").read_bytes()
    yield minimal().to_bytes()
    for case in crafted_cases():
        yield case.data


if __name__ == "__main__":
    run(test_one_input, seeds)
