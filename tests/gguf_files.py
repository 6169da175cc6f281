"""GGUF files for the tests: valid tiny models written with the `gguf` package (the
reference writer), and a raw byte builder for the crafted files it refuses to write."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import gguf
import numpy as np

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Value type ids of the GGUF format.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, \
    FLOAT64 = range(13)
F32, F16, Q8_0, Q4_K = 0, 1, 8, 12


def write_tiny_model(path: Path, *, arch: str = "llama", chat_template: str | None = CHATML,
                     file_type: int | None = int(gguf.LlamaFileType.MOSTLY_Q8_0),
                     context_length: int = 2048, vocab: int = 8) -> Path:
    """A small but well-formed model: F32 norm, F16 embedding, Q8_0 and Q4_K weights,
    a tokenizer vocabulary with scores and token types, and a chat template."""
    writer = gguf.GGUFWriter(path, arch)
    writer.add_name("tiny test model")
    writer.add_context_length(context_length)
    writer.add_embedding_length(256)
    writer.add_block_count(1)
    if file_type is not None:
        writer.add_file_type(file_type)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"tok{i}" for i in range(vocab)])
    writer.add_token_scores([float(i) for i in range(vocab)])
    writer.add_token_types([1] * vocab)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    writer.add_array("test.flags", [True, False, True])
    writer.add_float64("test.pi", 3.25)
    writer.add_int8("test.int8", -7)
    rng = np.random.default_rng(0)
    writer.add_tensor("output_norm.weight", rng.standard_normal(256).astype(np.float32))
    writer.add_tensor("token_embd.weight",
                      rng.standard_normal((vocab, 256)).astype(np.float16))
    # Quantized tensors as raw bytes: 2 rows of 256 elements.
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((2, 8 * 34), dtype=np.uint8),
                      raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("blk.0.ffn_up.weight", np.zeros((2, 144), dtype=np.uint8),
                      raw_dtype=gguf.GGMLQuantizationType.Q4_K)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# ---- raw builder -------------------------------------------------------------------------

def string(value: str | bytes, *, length: int | None = None) -> bytes:
    """A GGUF string; `length` overrides the stored length (to craft lies)."""
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("<Q", len(raw) if length is None else length) + raw


def scalar(value_type: int, value: float | int) -> bytes:
    fmt = {UINT8: "B", INT8: "b", UINT16: "H", INT16: "h", UINT32: "I", INT32: "i",
           FLOAT32: "f", BOOL: "B", UINT64: "Q", INT64: "q", FLOAT64: "d"}[value_type]
    return struct.pack("<" + fmt, value)


def array(element_type: int, items: list[bytes], *, count: int | None = None) -> bytes:
    """An array value (without its ARRAY type tag); `count` overrides the stored count."""
    n = len(items) if count is None else count
    return struct.pack("<IQ", element_type, n) + b"".join(items)


@dataclass
class RawTensor:
    name: str
    dims: list[int]
    ggml_type: int
    offset: int
    n_dims: int | None = None  # overrides len(dims)


@dataclass
class RawGGUF:
    """A GGUF file assembled field by field, every count and size overridable."""

    kvs: list[tuple[str | bytes, int, bytes]] = field(default_factory=list)
    tensors: list[RawTensor] = field(default_factory=list)
    data: bytes = b""
    version: int = 3
    magic: bytes = b"GGUF"
    kv_count: int | None = None
    tensor_count: int | None = None
    alignment: int = 32  # for padding only; add a general.alignment kv to declare it
    big_endian: bool = False

    def kv(self, key: str | bytes, value_type: int, payload: bytes) -> RawGGUF:
        self.kvs.append((key, value_type, payload))
        return self

    def tensor(self, name: str, dims: list[int], ggml_type: int, offset: int,
               n_dims: int | None = None) -> RawGGUF:
        self.tensors.append(RawTensor(name, dims, ggml_type, offset, n_dims))
        return self

    def header(self) -> bytes:
        order = ">" if self.big_endian else "<"
        out = bytearray(self.magic)
        out += struct.pack(order + "I", self.version)
        out += struct.pack(order + "Q", len(self.tensors) if self.tensor_count is None
                           else self.tensor_count)
        out += struct.pack(order + "Q", len(self.kvs) if self.kv_count is None
                           else self.kv_count)
        for key, value_type, payload in self.kvs:
            out += string(key) + struct.pack("<I", value_type) + payload
        for t in self.tensors:
            n_dims = len(t.dims) if t.n_dims is None else t.n_dims
            out += string(t.name) + struct.pack("<I", n_dims)
            out += b"".join(struct.pack("<Q", d) for d in t.dims)
            out += struct.pack("<IQ", t.ggml_type, t.offset)
        return bytes(out)

    def to_bytes(self) -> bytes:
        head = self.header()
        padding = b"\0" * (-len(head) % self.alignment) if self.tensors else b""
        return head + padding + self.data

    def write(self, path: Path) -> Path:
        path.write_bytes(self.to_bytes())
        return path


def minimal(**overrides: object) -> RawGGUF:
    """A valid raw file: an architecture, a context length and one F32 tensor."""
    raw = RawGGUF(**overrides)  # type: ignore[arg-type]
    raw.kv("general.architecture", STRING, string("llama"))
    raw.kv("llama.context_length", UINT32, scalar(UINT32, 4096))
    raw.tensor("w", [8], F32, 0)
    raw.data = bytes(32)
    return raw


# ---- crafted files -----------------------------------------------------------------------

@dataclass(frozen=True)
class Crafted:
    """A crafted file, the phrase its refusal must contain, and the byte offset named."""

    name: str
    data: bytes
    message: str
    offset: int


HEADER = 24  # magic, version, tensor_count, metadata_kv_count


def first_value_at(key: str) -> int:
    """Offset of the value of the first key/value pair (after its key and type)."""
    return HEADER + 8 + len(key) + 4


def _kv(key: str, value_type: int, payload: bytes, **overrides: object) -> bytes:
    return RawGGUF(**overrides).kv(key, value_type, payload).to_bytes()  # type: ignore[arg-type]


def _tensors(*tensors: tuple[str, list[int], int, int], data: bytes = bytes(64),
             alignment: int | None = None) -> bytes:
    raw = RawGGUF(data=data)
    if alignment is not None:
        raw.kv("general.alignment", UINT32, scalar(UINT32, alignment))
    for name, dims, ggml_type, offset in tensors:
        raw.tensor(name, dims, ggml_type, offset)
    return raw.to_bytes()


def _tensor_field_at(name: str, n_dims: int, field_name: str) -> int:
    """Offset of a field of the first tensor info of a file without metadata."""
    dims_at = HEADER + 8 + len(name)
    return {"name": HEADER, "n_dims": dims_at, "type": dims_at + 4 + 8 * n_dims,
            "offset": dims_at + 4 + 8 * n_dims + 4}[field_name]


def crafted_cases() -> list[Crafted]:
    """One file per class of crafted header the reader must refuse."""
    big = 1 << 62
    tokens = array(STRING, [string("a"), string("b"), string("c")])
    vocab = RawGGUF().kv("tokenizer.ggml.tokens", ARRAY, tokens)
    short_scores = RawGGUF(kvs=list(vocab.kvs)).kv(
        "tokenizer.ggml.scores", ARRAY, array(FLOAT32, [scalar(FLOAT32, 0.0)] * 2))
    bad_bos = RawGGUF(kvs=list(vocab.kvs)).kv(
        "tokenizer.ggml.bos_token_id", UINT32, scalar(UINT32, 3))
    duplicate = RawGGUF().kv("a", UINT8, b"\1").kv("a", UINT8, b"\2")
    long_name = "x" * 64
    past_end = _tensors(("w", [8], F32, 32), data=bytes(32))
    header_only = RawGGUF().tensor("w", [8], F32, 0).header()
    return [
        Crafted("bad magic", b"GGML" + bytes(20), "not a GGUF file", 0),
        Crafted("truncated preamble", b"GGUF\3\0\0\0\0\0", "tensor_count needs 8 bytes", 8),
        Crafted("big-endian", RawGGUF(big_endian=True).to_bytes(), "big-endian GGUF", 4),
        Crafted("version 1", RawGGUF(version=1).to_bytes(), "version 1", 4),
        Crafted("unknown version", RawGGUF(version=7).to_bytes(), "unsupported GGUF version 7",
                4),
        Crafted("kv count past end", RawGGUF(kv_count=1 << 40).to_bytes(),
                "metadata_kv_count 1099511627776 needs at least", 16),
        Crafted("tensor count past end", RawGGUF(tensor_count=1 << 40).to_bytes(),
                "tensor_count 1099511627776 needs at least", 8),
        Crafted("kv count overflow", RawGGUF(kv_count=(1 << 64) - 1).to_bytes(),
                "overflows 64 bits", 16),
        Crafted("key length past end", RawGGUF(kv_count=1).to_bytes()
                + string(b"kkkkk", length=4000), "key needs 4000 bytes but only 5 remain",
                HEADER),
        Crafted("key length over cap", RawGGUF(kv_count=1).to_bytes()
                + string(b"kkkkk", length=1 << 20), "key length 1048576 is over the limit",
                HEADER),
        Crafted("string length past end", _kv("general.name", STRING, string("x", length=big)),
                f"string value of 'general.name' needs {big} bytes",
                first_value_at("general.name")),
        Crafted("array count past end", _kv("a", ARRAY, array(UINT32, [], count=1000)),
                "array 'a' of UINT32, count 1000 needs 4000 bytes", first_value_at("a") + 4),
        Crafted("array count times size overflows",
                _kv("a", ARRAY, array(UINT64, [], count=1 << 61)),
                "count 2305843009213693952 (count times size overflows 64 bits)",
                first_value_at("a") + 4),
        Crafted("string array count past end",
                _kv("a", ARRAY, array(STRING, [], count=1 << 40)),
                "array 'a' of STRING, count 1099511627776 needs at least",
                first_value_at("a") + 4),
        Crafted("string in array past end",
                _kv("a", ARRAY, array(STRING, [string("x", length=big)])),
                f"string 0 of 'a' needs {big} bytes", first_value_at("a") + 12),
        Crafted("unknown value type", _kv("k", 13, b"\0" * 8),
                "value type of 'k' is 13, not a known GGUF value type", first_value_at("k") - 4),
        Crafted("unknown array element type", _kv("k", ARRAY, array(99, [])),
                "array element type of 'k' is 99", first_value_at("k")),
        Crafted("nested array", _kv("k", ARRAY, array(ARRAY, [])), "nested array",
                first_value_at("k")),
        Crafted("bool out of range", _kv("k", BOOL, b"\2"), "BOOL value 2",
                first_value_at("k")),
        Crafted("key not utf-8", _kv(b"\xff\xfe", UINT8, b"\0"), "not valid UTF-8", HEADER),
        Crafted("duplicate key", duplicate.to_bytes(), "duplicate metadata key 'a'",
                HEADER + 8 + 1 + 4 + 1),
        Crafted("mismatched type: alignment", _kv("general.alignment", STRING, string("32")),
                "'general.alignment' is STRING, expected UINT32", HEADER),
        Crafted("mismatched type: tokens",
                _kv("tokenizer.ggml.tokens", ARRAY, array(INT32, [scalar(INT32, 1)])),
                "'tokenizer.ggml.tokens' is ARRAY[INT32], expected ARRAY[STRING]", HEADER),
        Crafted("mismatched type: context length",
                RawGGUF().kv("general.architecture", STRING, string("llama"))
                .kv("llama.context_length", FLOAT32, scalar(FLOAT32, 4096.0)).to_bytes(),
                "'llama.context_length' is FLOAT32, expected UINT32",
                first_value_at("general.architecture") + 8 + 5),
        Crafted("per-token array shorter than vocabulary", short_scores.to_bytes(),
                "tokenizer.ggml.scores has 2 entries but the vocabulary has 3 tokens",
                HEADER + 8 + len("tokenizer.ggml.tokens") + 4 + len(tokens)),
        Crafted("token id outside vocabulary", bad_bos.to_bytes(),
                "tokenizer.ggml.bos_token_id 3 is outside the 3-token vocabulary",
                HEADER + 8 + len("tokenizer.ggml.tokens") + 4 + len(tokens)),
        Crafted("alignment zero", _kv("general.alignment", UINT32, scalar(UINT32, 0)),
                "general.alignment 0 is not a power of two", HEADER),
        Crafted("alignment not a power of two",
                _kv("general.alignment", UINT32, scalar(UINT32, 48)),
                "general.alignment 48 is not a power of two", HEADER),
        Crafted("alignment huge", _kv("general.alignment", UINT32, scalar(UINT32, 1 << 31)),
                "general.alignment 2147483648 is over the limit", HEADER),
        Crafted("too many dimensions", _tensors(("w", [1, 1, 1, 1, 1], F32, 0)),
                "has 5 dimensions", _tensor_field_at("w", 5, "n_dims")),
        Crafted("negative dimension", _tensors(("w", [1 << 63], F32, 0)),
                "negative as int64", _tensor_field_at("w", 1, "n_dims") + 4),
        Crafted("element count overflow", _tensors(("w", [1 << 32, 1 << 32], F32, 0)),
                "overflows int64", _tensor_field_at("w", 2, "n_dims")),
        Crafted("unknown ggml type", _tensors(("w", [8], 4, 0)), "unknown ggml type 4",
                _tensor_field_at("w", 1, "type")),
        Crafted("row not whole blocks", _tensors(("w", [33], Q8_0, 0)),
                "first dimension 33 is not a multiple of the Q8_0 block size 32",
                _tensor_field_at("w", 1, "n_dims")),
        Crafted("tensor offset past end", past_end, "ends past the end of the file",
                _tensor_field_at("w", 1, "offset")),
        Crafted("tensor size past end", _tensors(("w", [1 << 40], F32, 0)),
                "ends past the end of the file", _tensor_field_at("w", 1, "offset")),
        Crafted("data section past end", header_only + b"\0",
                "data section would start at 64, past the end of the 58-byte file",
                _tensor_field_at("w", 1, "offset")),
        Crafted("tensor offset not aligned", _tensors(("w", [8], F32, 8)),
                "offset 8 is not a multiple of the alignment 32",
                _tensor_field_at("w", 1, "offset")),
        Crafted("overlapping tensors", _tensors(("a", [16], F32, 0), ("b", [8], F32, 32)),
                "tensor 'b' (data offset 32) overlaps tensor 'a'",
                _tensor_field_at("a", 1, "offset") + 8 + 8 + 1 + 4 + 8 + 4),
        Crafted("duplicate tensor name", _tensors(("a", [8], F32, 0), ("a", [8], F32, 32)),
                "duplicate tensor name 'a'", HEADER + 8 + 1 + 4 + 8 + 4 + 8),
        Crafted("tensor name too long", _tensors((long_name, [8], F32, 0)),
                "tensor name length 64 is over the limit of 63", HEADER),
    ]
