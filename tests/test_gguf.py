"""The bounded GGUF reader: valid files read as the reference reader (gguf-py) reads
them, and every class of crafted header refused with a message naming the problem
and its byte offset."""

import io
import math
import tracemalloc

import gguf
import pytest

from gguf_files import (
    ARRAY,
    BOOL,
    CHATML,
    F16,
    F32,
    HEADER,
    INT32,
    Q4_K,
    STRING,
    UINT8,
    UINT32,
    RawGGUF,
    array,
    crafted_cases,
    minimal,
    scalar,
    string,
    write_tiny_model,
)
from llmward.integrity import gguf as gguf_reader
from llmward.integrity.gguf import (
    ArraySummary,
    GGUFError,
    Limits,
    read_gguf,
)
from llmward.integrity.gguf_types import FILE_TYPES, GGML_TYPES, ValueType


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def test_metadata_matches_reference_reader(tiny):
    model = read_gguf(tiny)
    reference = gguf.GGUFReader(tiny)
    ours = dict(model.metadata)
    theirs = {name: field.contents() for name, field in reference.fields.items()
              if not name.startswith("GGUF.")}
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        mine = list(ours[key]) if isinstance(ours[key], tuple) else ours[key]
        if isinstance(value, float):
            assert math.isclose(mine, value), key
        elif isinstance(value, list) and value and isinstance(value[0], float):
            assert mine == pytest.approx(value), key
        else:
            assert mine == value, key
    for key, field in model.fields.items():
        ref_types = [int(t) for t in reference.fields[key].types]
        expected = [int(field.value_type)]
        if field.element_type is not None:
            expected.append(int(field.element_type))
        assert ref_types == expected, key


def test_tensors_match_reference_reader(tiny):
    model = read_gguf(tiny)
    reference = gguf.GGUFReader(tiny)
    assert model.version == 3
    assert model.alignment == reference.alignment == 32
    assert model.data_offset == reference.data_offset
    assert model.file_size == tiny.stat().st_size
    assert len(model.tensors) == len(reference.tensors) == 4
    for mine, theirs in zip(model.tensors, reference.tensors, strict=True):
        assert mine.name == theirs.name
        assert list(mine.shape) == [int(d) for d in theirs.shape]
        assert mine.type_id == int(theirs.tensor_type)
        assert mine.type_name == theirs.tensor_type.name
        assert model.data_offset + mine.offset == theirs.data_offset
        assert mine.size == theirs.n_bytes
        assert mine.n_elements == theirs.n_elements


def test_summary_helpers(tiny):
    model = read_gguf(tiny)
    assert model.architecture == "llama"
    assert model.parameter_count == 256 + 8 * 256 + 2 * 256 + 2 * 256
    assert model.quantization == "Q8_0"  # general.file_type 7
    assert model.context_length == 2048
    assert model.chat_templates == {"tokenizer.chat_template": CHATML}
    assert model.chat_template_problems == {}


def test_quantization_falls_back_to_the_type_holding_most_bytes(tmp_path):
    model = read_gguf(write_tiny_model(tmp_path / "m.gguf", file_type=None))
    assert model.quantization == "F16"  # the 8x256 F16 embedding outweighs the rest


def test_unknown_file_type_falls_back_too(tmp_path):
    model = read_gguf(write_tiny_model(tmp_path / "m.gguf", file_type=999))
    assert model.quantization == "F16"


def test_type_tables_match_gguf_py():
    for ggml_type, (block_size, type_size) in gguf.GGML_QUANT_SIZES.items():
        layout = GGML_TYPES[int(ggml_type)]
        assert (layout.name, layout.block_size, layout.type_size) == \
            (ggml_type.name, block_size, type_size)
    assert set(GGML_TYPES) == {int(t) for t in gguf.GGMLQuantizationType}
    for file_type in gguf.LlamaFileType:
        if file_type is not gguf.LlamaFileType.GUESSED:
            expected = file_type.name.removeprefix("MOSTLY_").removeprefix("ALL_")
            assert FILE_TYPES[int(file_type)] == expected


def test_version_2_is_read():
    model = read_gguf(io.BytesIO(minimal(version=2).to_bytes()))
    assert model.version == 2
    assert model.tensors[0].name == "w"


def test_file_object_and_path_agree(tmp_path):
    data = minimal().to_bytes()
    path = tmp_path / "m.gguf"
    path.write_bytes(data)
    assert read_gguf(path) == read_gguf(io.BytesIO(data))


def test_no_tensors_needs_no_data_section():
    raw = RawGGUF().kv("general.architecture", STRING, string("llama"))
    model = read_gguf(io.BytesIO(raw.to_bytes()))
    assert model.tensors == ()
    assert model.parameter_count == 0
    assert model.quantization is None
    assert model.context_length is None


def test_custom_alignment_is_used():
    raw = RawGGUF(alignment=64).kv("general.alignment", UINT32, scalar(UINT32, 64))
    raw.tensor("a", [16], F32, 0).tensor("b", [8], F16, 64)
    raw.data = bytes(128)
    model = read_gguf(io.BytesIO(raw.to_bytes()))
    assert model.alignment == 64
    assert model.data_offset % 64 == 0
    assert [(t.name, t.offset, t.size) for t in model.tensors] == [("a", 0, 64), ("b", 64, 16)]


def test_quantized_sizes_use_blocks():
    raw = RawGGUF().tensor("q", [512, 3], Q4_K, 0)
    raw.data = bytes(2 * 144 * 3)
    (tensor,) = read_gguf(io.BytesIO(raw.to_bytes())).tensors
    assert tensor.size == 2 * 144 * 3 and tensor.type_name == "Q4_K"


def test_zero_size_tensors_do_not_overlap_anything():
    raw = RawGGUF().tensor("empty", [0], F32, 0).tensor("w", [8], F32, 0)
    raw.data = bytes(32)
    assert [t.size for t in read_gguf(io.BytesIO(raw.to_bytes())).tensors] == [0, 32]


def test_long_arrays_are_summarized_not_decoded():
    items = [string(f"t{i}") for i in range(10)]
    raw = RawGGUF().kv("tokenizer.ggml.tokens", ARRAY, array(STRING, items))
    raw.kv("tokenizer.ggml.token_type", ARRAY, array(INT32, [scalar(INT32, 1)] * 10))
    raw.kv("small", ARRAY, array(UINT8, [b"\1", b"\2"]))
    data = raw.to_bytes()
    model = read_gguf(io.BytesIO(data), limits=Limits(max_decoded_array=4))
    tokens = model.metadata["tokenizer.ggml.tokens"]
    assert isinstance(tokens, ArraySummary)
    assert (tokens.element_type, tokens.count) == (ValueType.STRING, 10)
    assert data[tokens.offset:tokens.offset + 10] == string("t0")  # where elements start
    assert isinstance(model.metadata["tokenizer.ggml.token_type"], ArraySummary)
    assert model.metadata["small"] == (1, 2)


@pytest.mark.parametrize("chunk", [8, 13, 64, 1 << 20])
def test_walking_strings_across_read_chunks(chunk, monkeypatch):
    """Summarized string arrays are walked in read-ahead chunks: strings that straddle
    a chunk, or are longer than one, must leave the reader exactly after the array."""
    items = [string("x" * n) for n in (0, 1, 5, 7, 8, 20, 3, 100, 0, 9)]
    key = "tokenizer.ggml.merges"
    first_item = HEADER + 8 + len(key) + 4 + 12  # key, value type, element type and count
    raw = RawGGUF().kv(key, ARRAY, array(STRING, items))
    raw.kv("after", UINT32, scalar(UINT32, 77)).tensor("w", [8], F32, 0)
    raw.data = bytes(32)
    data = raw.to_bytes()
    monkeypatch.setattr(gguf_reader, "_CHUNK", chunk)
    walked = read_gguf(io.BytesIO(data), limits=Limits(max_decoded_array=0))
    decoded = read_gguf(io.BytesIO(data))
    assert walked.metadata["after"] == 77
    assert walked.tensors == decoded.tensors
    assert walked.metadata[key] == ArraySummary(ValueType.STRING, 10, first_item)
    seventh = first_item + sum(map(len, items[:7]))
    with pytest.raises(GGUFError, match=f"string 7 of '{key}' needs 100 bytes") as info:
        read_gguf(io.BytesIO(data[:seventh + 50]), limits=Limits(max_decoded_array=0))
    assert info.value.offset == seventh


def test_many_summarized_arrays_are_not_reread_from_the_start():
    raw = RawGGUF()
    for i in range(2000):  # past the decoding budget, each is walked, not decoded
        raw.kv(f"k{i}", ARRAY, array(STRING, [string("ab")]))
    data = raw.to_bytes()
    f = RecordingFile(data)
    model = read_gguf(f, limits=Limits(max_decoded_items=0))
    assert isinstance(model.metadata["k1999"], ArraySummary)
    assert sum(f.sizes) < 4 * len(data)


def test_decoded_items_budget_is_shared_across_arrays():
    raw = RawGGUF()
    for i in range(3):
        raw.kv(f"a{i}", ARRAY, array(UINT8, [b"\0"] * 4))
    model = read_gguf(io.BytesIO(raw.to_bytes()), limits=Limits(max_decoded_items=8))
    kinds = [type(model.metadata[f"a{i}"]) for i in range(3)]
    assert kinds == [tuple, tuple, ArraySummary]


def test_bool_values_decode():
    raw = RawGGUF().kv("b", BOOL, b"\1").kv("bs", ARRAY, array(BOOL, [b"\0", b"\1"]))
    assert read_gguf(io.BytesIO(raw.to_bytes())).metadata == {"b": True, "bs": (False, True)}


def test_every_chat_template_key_is_collected_whatever_its_type():
    raw = RawGGUF()
    raw.kv("tokenizer.chat_template", STRING, string(CHATML))
    raw.kv("tokenizer.chat_templates", ARRAY, array(STRING, [string("rag"), string("tools")]))
    raw.kv("tokenizer.chat_template.rag", STRING, string("{{ messages }}"))
    raw.kv("tokenizer.chat_template.tools", ARRAY, array(UINT8, [b"{", b"{"]))
    raw.kv("my.chat_template_flag", UINT32, scalar(UINT32, 1))
    model = read_gguf(io.BytesIO(raw.to_bytes()))
    assert model.chat_templates == {
        "tokenizer.chat_template": CHATML,
        "tokenizer.chat_templates[0]": "rag",
        "tokenizer.chat_templates[1]": "tools",
        "tokenizer.chat_template.rag": "{{ messages }}",
    }
    assert model.chat_template_problems == {
        "tokenizer.chat_template.tools": "stored as ARRAY[UINT8], not STRING",
        "my.chat_template_flag": "stored as UINT32, not STRING",
    }


def test_too_long_template_array_is_a_problem_not_a_crash():
    raw = RawGGUF().kv("tokenizer.chat_templates", ARRAY,
                       array(STRING, [string("x")] * 5))
    model = read_gguf(io.BytesIO(raw.to_bytes()), limits=Limits(max_decoded_array=2))
    assert model.chat_templates == {}
    assert "5 entries, too long to audit" in model.chat_template_problems[
        "tokenizer.chat_templates"]


@pytest.mark.parametrize("decoded", [True, False], ids=["decoding", "summarizing"])
@pytest.mark.parametrize("case", crafted_cases(), ids=lambda c: c.name)
def test_crafted_file_is_refused(case, decoded):
    limits = Limits() if decoded else Limits(max_decoded_array=0)  # arrays walked, not read
    with pytest.raises(GGUFError) as info:
        read_gguf(io.BytesIO(case.data), limits=limits)
    assert case.message in info.value.reason
    assert info.value.offset == case.offset
    assert str(info.value).endswith(f"(at byte offset {case.offset})")
    assert "\n" not in str(info.value)


def test_refusal_from_a_path(tmp_path):
    path = tmp_path / "bad.gguf"
    path.write_bytes(b"GGUF\1\0\0\0" + bytes(16))
    with pytest.raises(GGUFError, match="version 1"):
        read_gguf(path)


@pytest.mark.parametrize("limits, message", [
    (Limits(max_header_bytes=64), "taking the header past its 64-byte limit"),
    (Limits(max_kv_count=1), "metadata_kv_count 3 is over the limit of 1"),
    (Limits(max_tensor_count=0), "tensor_count 1 is over the limit of 0"),
    (Limits(max_key_bytes=10), "key length 20 is over the limit of 10"),
    (Limits(max_array_count=1), "count 3 is over the limit of 1"),
])
def test_caps_are_enforced(limits, message):
    raw = minimal()
    raw.kv("a" * 20, ARRAY, array(UINT8, [b"\0"] * 3))
    with pytest.raises(GGUFError, match=message):
        read_gguf(io.BytesIO(raw.to_bytes()), limits=limits)


class RecordingFile(io.BytesIO):
    """Records every read, to show the reader never asks for more than the file has."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int] = []

    def read(self, size=-1):
        self.sizes.append(size)
        return super().read(size)


@pytest.mark.parametrize("case", crafted_cases(), ids=lambda c: c.name)
def test_crafted_lengths_never_reach_read_or_allocation(case):
    f = RecordingFile(case.data)
    tracemalloc.start()
    try:
        with pytest.raises(GGUFError):
            read_gguf(f)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f.sizes and all(0 <= size <= len(case.data) for size in f.sizes)
    assert peak < 256 * 1024
