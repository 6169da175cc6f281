"""Bounded reader of GGUF headers (v2 and v3, little-endian): metadata and tensor
infos, never the tensor data.

It exists to refuse crafted files before llama.cpp parses them: every count and
length is checked against the bytes that remain (and against caps) before
anything is read or allocated, sizes are computed with Python integers and
refused where ggml's 64-bit arithmetic would wrap, and every tensor must lie
inside the file without overlapping another. Each refusal is a `GGUFError`
naming the problem and the byte offset of the offending field.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import BinaryIO

from llmward.integrity.gguf_types import (
    FILE_TYPES,
    GGML_TYPES,
    MIN_VALUE_BYTES,
    SCALAR_FORMATS,
    ValueType,
    describe_type,
)

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
GGML_MAX_DIMS = 4
GGML_MAX_NAME = 64  # ggml's tensor name buffer, terminating NUL included
INT64_MAX = (1 << 63) - 1
_U64 = 1 << 64
_MIN_KV_BYTES = 8 + 4 + 1  # key length, value type, smallest value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # name length, n_dims, type, offset
_U64_STRUCT = struct.Struct("<Q")
_CHUNK = 1 << 20

Scalar = int | float | bool | str


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that bound the reader's work and memory whatever the file claims."""

    max_header_bytes: int = 64 << 20  # metadata and tensor infos together
    max_key_bytes: int = 4096
    max_kv_count: int = 1 << 16
    max_tensor_count: int = 1 << 16  # real models have a few thousand at most
    max_array_count: int = 1 << 26
    max_alignment: int = 1 << 16
    max_decoded_array: int = 1024  # longer arrays are kept as an ArraySummary
    max_decoded_items: int = 1 << 18  # array elements decoded over the whole file


DEFAULT_LIMITS = Limits()


class GGUFError(ValueError):
    """A GGUF file refused by the reader: `reason` at byte `offset` of the file."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} (at byte offset {offset})")
        self.reason = reason
        self.offset = offset


@dataclass(frozen=True, slots=True)
class ArraySummary:
    """An array too long to decode for inspection (a tokenizer vocabulary, say):
    its element type and count, and where its elements start in the file."""

    element_type: ValueType
    count: int
    offset: int


MetadataValue = Scalar | tuple[Scalar, ...] | ArraySummary


@dataclass(frozen=True, slots=True)
class MetadataField:
    key: str
    value_type: ValueType
    element_type: ValueType | None  # arrays only
    value: MetadataValue
    offset: int  # of the key in the file

    @property
    def type_name(self) -> str:
        return describe_type(self.value_type, self.element_type)


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # ggml order: innermost dimension first
    type_id: int
    type_name: str
    offset: int  # relative to the data section
    size: int  # bytes

    @property
    def n_elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True, slots=True)
class GGUFFile:
    version: int
    file_size: int
    alignment: int
    data_offset: int  # where the tensor data section starts
    fields: Mapping[str, MetadataField]
    tensors: tuple[TensorInfo, ...]
    _values: Mapping[str, MetadataValue] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values = MappingProxyType({key: f.value for key, f in self.fields.items()})
        object.__setattr__(self, "_values", values)

    @property
    def metadata(self) -> Mapping[str, MetadataValue]:
        """Key -> decoded value (an ArraySummary for long arrays)."""
        return self._values

    @property
    def architecture(self) -> str | None:
        value = self._values.get("general.architecture")
        return value if isinstance(value, str) else None

    @property
    def parameter_count(self) -> int:
        return sum(tensor.n_elements for tensor in self.tensors)

    @property
    def quantization(self) -> str | None:
        """`general.file_type` by name, else the tensor type holding the most bytes."""
        file_type = self._values.get("general.file_type")
        if isinstance(file_type, int) and not isinstance(file_type, bool):
            if file_type in FILE_TYPES:
                return FILE_TYPES[file_type]
        by_type: dict[str, int] = {}
        for tensor in self.tensors:
            by_type[tensor.type_name] = by_type.get(tensor.type_name, 0) + tensor.size
        if not by_type:
            return None
        return max(by_type, key=lambda name: by_type[name])

    @property
    def context_length(self) -> int | None:
        if self.architecture is None:
            return None
        value = self._values.get(f"{self.architecture}.context_length")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def chat_templates(self) -> dict[str, str]:
        """Every template text stored under a key containing `chat_template`: string
        values by key, arrays of strings as `key[i]`. Other stored types are listed
        by `chat_template_problems`."""
        out: dict[str, str] = {}
        for key, f in self.fields.items():
            if "chat_template" not in key:
                continue
            if isinstance(f.value, str):
                out[key] = f.value
            elif f.element_type is ValueType.STRING and isinstance(f.value, tuple):
                for i, item in enumerate(f.value):
                    out[f"{key}[{i}]"] = str(item)
        return out

    @property
    def chat_template_problems(self) -> dict[str, str]:
        """Keys containing `chat_template` whose value is not usable template text."""
        out: dict[str, str] = {}
        for key, f in self.fields.items():
            if "chat_template" not in key or isinstance(f.value, str):
                continue
            if f.element_type is ValueType.STRING and isinstance(f.value, tuple):
                continue
            if isinstance(f.value, ArraySummary):
                out[key] = f"stored as {f.type_name} of {f.value.count} entries, too long to audit"
            else:
                out[key] = f"stored as {f.type_name}, not STRING"
        return out


def read_gguf(source: str | os.PathLike[str] | BinaryIO, *,
              limits: Limits = DEFAULT_LIMITS) -> GGUFFile:
    """Read and check the header of a GGUF file (a path, or a seekable binary file)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb", buffering=1 << 20) as f:
            return _Parser(f, limits).parse()
    return _Parser(source, limits).parse()


# Keys whose type llama.cpp assumes (some through asserts that abort the process).
_EXPECTED_TYPES: dict[str, tuple[ValueType, ValueType | None]] = {
    "general.architecture": (ValueType.STRING, None),
    "general.alignment": (ValueType.UINT32, None),
    "general.file_type": (ValueType.UINT32, None),
    "general.quantization_version": (ValueType.UINT32, None),
    "tokenizer.ggml.model": (ValueType.STRING, None),
    "tokenizer.ggml.tokens": (ValueType.ARRAY, ValueType.STRING),
    "tokenizer.ggml.scores": (ValueType.ARRAY, ValueType.FLOAT32),
    "tokenizer.ggml.token_type": (ValueType.ARRAY, ValueType.INT32),
    "tokenizer.ggml.merges": (ValueType.ARRAY, ValueType.STRING),
}
_ARCH_UINT32_KEYS = ("context_length", "embedding_length", "block_count")
_TOKEN_ID_KEYS = tuple(f"tokenizer.ggml.{name}_token_id" for name in (
    "bos", "eos", "unknown", "separator", "padding"))
# Arrays indexed by token id, so as long as the vocabulary.
_PER_TOKEN_ARRAYS = ("tokenizer.ggml.scores", "tokenizer.ggml.token_type")


class _Cursor:
    """Reads from a file, refusing any read past its end or past the header cap."""

    def __init__(self, f: BinaryIO, header_cap: int) -> None:
        self.f = f
        self.size = f.seek(0, os.SEEK_END)
        f.seek(0)
        self.pos = 0
        self.header_cap = header_cap

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def need(self, n: int, what: str, at: int, *, at_least: bool = False) -> None:
        needs = f"{what} needs {'at least ' if at_least else ''}{n} bytes"
        if n > self.remaining:
            raise GGUFError(f"{needs} but only {self.remaining} remain in the file", at)
        if self.pos + n > self.header_cap:
            raise GGUFError(f"{needs}, taking the header past its {self.header_cap}-byte "
                            "limit", at)

    def take(self, n: int, what: str) -> bytes:
        at = self.pos
        self.need(n, what, at)
        data = self.f.read(n)
        if len(data) != n:  # the file shrank under us
            raise GGUFError(f"{what}: file ended early", at)
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        self.need(n, what, self.pos)
        self.f.seek(n, os.SEEK_CUR)
        self.pos += n

    def skip_strings(self, count: int, what: str) -> None:
        """Walk `count` strings without decoding them (a vocabulary: hundreds of
        thousands), checking each length. Reads ahead in chunks, never past the file
        or the header cap, and never much more than the strings left can occupy (at
        least 8 bytes each), so the bytes read past the array and read again after it
        stay a small multiple of its size."""
        limit = min(self.size, self.header_cap)
        buf, base, at = b"", self.pos, 0  # buf holds the file from offset `base`
        for i in range(count):
            if len(buf) - at < 8:
                ahead = min(_CHUNK, 16 * (count - i) + 64, limit - base - len(buf))
                buf = buf[at:] + self.f.read(ahead)
                base, at = base + at, 0
                if len(buf) < 8:
                    self.pos = base
                    self.need(8, f"string {i} of {what} length", base)
                    raise GGUFError(f"string {i} of {what}: file ended early", base)
            (length,) = _U64_STRUCT.unpack_from(buf, at)
            start = base + at
            if length > limit - start - 8:
                self.pos = start + 8
                self.need(length, f"string {i} of {what}", start)
            at += 8 + length
            if at > len(buf):  # a string longer than the chunk: continue after it
                base, buf, at = base + at, b"", 0
                self.f.seek(base)
        self.pos = base + at
        self.f.seek(self.pos)

    def scalar(self, fmt: str, what: str) -> Scalar:
        value: Scalar = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))[0]
        return value

    def u32(self, what: str) -> int:
        value: int = struct.unpack("<I", self.take(4, what))[0]
        return value

    def u64(self, what: str) -> int:
        value: int = struct.unpack("<Q", self.take(8, what))[0]
        return value


class _Parser:
    def __init__(self, f: BinaryIO, limits: Limits) -> None:
        self.cur = _Cursor(f, limits.max_header_bytes)
        self.limits = limits
        self.decoded_items = 0

    def parse(self) -> GGUFFile:
        version = self._read_preamble()
        tensor_at = self.cur.pos
        tensor_count = self.cur.u64("tensor_count")
        kv_at = self.cur.pos
        kv_count = self.cur.u64("metadata_kv_count")
        self._check_count(kv_count, _MIN_KV_BYTES, "metadata_kv_count", kv_at)
        self._check_count(tensor_count, _MIN_TENSOR_INFO_BYTES, "tensor_count", tensor_at)
        if kv_count > self.limits.max_kv_count:
            raise GGUFError(f"metadata_kv_count {kv_count} is over the limit of "
                            f"{self.limits.max_kv_count}", kv_at)
        if tensor_count > self.limits.max_tensor_count:
            raise GGUFError(f"tensor_count {tensor_count} is over the limit of "
                            f"{self.limits.max_tensor_count}", tensor_at)
        fields: dict[str, MetadataField] = {}
        for _ in range(kv_count):
            f = self._read_field()
            if f.key in fields:
                raise GGUFError(f"duplicate metadata key {f.key!r}", f.offset)
            fields[f.key] = f
        _check_metadata(fields)
        alignment = self._alignment(fields)
        tensors = [self._read_tensor_info() for _ in range(tensor_count)]
        data_offset = -(-self.cur.pos // alignment) * alignment
        checked = _check_tensors(tensors, alignment, data_offset, self.cur.size)
        return GGUFFile(version=version, file_size=self.cur.size, alignment=alignment,
                        data_offset=data_offset, fields=MappingProxyType(fields),
                        tensors=checked)

    def _read_preamble(self) -> int:
        magic = self.cur.take(4, "magic")
        if magic != MAGIC:
            raise GGUFError(f"not a GGUF file: magic is {magic!r}, expected {MAGIC!r}", 0)
        version = self.cur.u32("version")
        swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
        if version not in SUPPORTED_VERSIONS and swapped in (1, 2, 3):
            raise GGUFError(f"big-endian GGUF (version {swapped}) is not supported", 4)
        if version == 1:
            raise GGUFError("GGUF version 1 (32-bit counts) is not supported", 4)
        if version not in SUPPORTED_VERSIONS:
            raise GGUFError(f"unsupported GGUF version {version}", 4)
        return version

    def _check_count(self, count: int, unit: int, what: str, at: int, *,
                     exact: bool = False) -> None:
        """Refuse a count whose smallest possible encoding overruns the file."""
        total = count * unit
        overflow = " (count times size overflows 64 bits)" if total >= _U64 else ""
        self.cur.need(total, f"{what} {count}{overflow}", at, at_least=not exact)

    def _read_string(self, what: str, max_bytes: int | None = None) -> tuple[bytes, int]:
        at = self.cur.pos
        length = self.cur.u64(f"{what} length")
        if max_bytes is not None and length > max_bytes:
            raise GGUFError(f"{what} length {length} is over the limit of {max_bytes}", at)
        self.cur.need(length, what, at)  # refused at the length field, which is the lie
        return self.cur.take(length, what), at

    def _read_type(self, what: str) -> ValueType:
        at = self.cur.pos
        raw = self.cur.u32(what)
        try:
            return ValueType(raw)
        except ValueError:
            raise GGUFError(f"{what} is {raw}, not a known GGUF value type", at) from None

    def _read_field(self) -> MetadataField:
        raw_key, at = self._read_string("key", self.limits.max_key_bytes)
        try:
            key = raw_key.decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFError("metadata key is not valid UTF-8", at) from None
        value_type = self._read_type(f"value type of {key!r}")
        if value_type is ValueType.ARRAY:
            element_type, value = self._read_array(key)
            return MetadataField(key, value_type, element_type, value, at)
        return MetadataField(key, value_type, None, self._read_scalar(value_type, key), at)

    def _read_scalar(self, value_type: ValueType, key: str) -> Scalar:
        if value_type is ValueType.STRING:
            raw, _ = self._read_string(f"string value of {key!r}")
            return raw.decode("utf-8", errors="replace")
        at = self.cur.pos
        value = self.cur.scalar(SCALAR_FORMATS[value_type], f"value of {key!r}")
        if value_type is ValueType.BOOL:
            value = _bool(int(value), key, at)
        return value

    def _read_array(self, key: str) -> tuple[ValueType, MetadataValue]:
        element_type = self._read_type(f"array element type of {key!r}")
        if element_type is ValueType.ARRAY:
            raise GGUFError(f"nested array in {key!r} is not supported", self.cur.pos - 4)
        count_at = self.cur.pos
        count = self.cur.u64(f"array count of {key!r}")
        unit = MIN_VALUE_BYTES[element_type]
        self._check_count(count, unit, f"array {key!r} of {element_type.name}, count",
                          count_at, exact=element_type is not ValueType.STRING)
        if count > self.limits.max_array_count:
            raise GGUFError(f"array {key!r} count {count} is over the limit of "
                            f"{self.limits.max_array_count}", count_at)
        start = self.cur.pos
        keep = (count <= self.limits.max_decoded_array
                and self.decoded_items + count <= self.limits.max_decoded_items)
        if keep:
            self.decoded_items += count
        if element_type is ValueType.STRING:
            items = self._read_string_items(key, count, keep)
        else:
            items = self._read_fixed_items(key, element_type, count, keep)
        if items is None:
            return element_type, ArraySummary(element_type, count, start)
        return element_type, items

    def _read_string_items(self, key: str, count: int, keep: bool
                           ) -> tuple[Scalar, ...] | None:
        if not keep:
            self.cur.skip_strings(count, repr(key))
            return None
        items: list[Scalar] = []
        for i in range(count):
            raw, _ = self._read_string(f"string {i} of {key!r}")
            items.append(raw.decode("utf-8", errors="replace"))
        return tuple(items)

    def _read_fixed_items(self, key: str, element_type: ValueType, count: int, keep: bool
                          ) -> tuple[Scalar, ...] | None:
        fmt = SCALAR_FORMATS[element_type]
        nbytes = count * struct.calcsize("<" + fmt)
        if not keep:
            self.cur.skip(nbytes, f"array {key!r}")
            return None
        at = self.cur.pos
        values: tuple[Scalar, ...] = struct.unpack(
            f"<{count}{fmt}", self.cur.take(nbytes, f"array {key!r}"))
        if element_type is ValueType.BOOL:
            values = tuple(_bool(int(v), key, at + i) for i, v in enumerate(values))
        return values

    def _alignment(self, fields: Mapping[str, MetadataField]) -> int:
        f = fields.get("general.alignment")
        if f is None:
            return DEFAULT_ALIGNMENT
        value = f.value
        if not isinstance(value, int):  # cannot happen: _check_metadata checked the type
            raise GGUFError("general.alignment is not an integer", f.offset)
        if value == 0 or value & (value - 1):
            raise GGUFError(f"general.alignment {value} is not a power of two", f.offset)
        if value > self.limits.max_alignment:
            raise GGUFError(f"general.alignment {value} is over the limit of "
                            f"{self.limits.max_alignment}", f.offset)
        return value

    def _read_tensor_info(self) -> _RawTensor:
        raw_name, at = self._read_string("tensor name", GGML_MAX_NAME - 1)
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFError("tensor name is not valid UTF-8", at) from None
        dims_at = self.cur.pos
        n_dims = self.cur.u32(f"n_dims of tensor {name!r}")
        if n_dims > GGML_MAX_DIMS:
            raise GGUFError(f"tensor {name!r} has {n_dims} dimensions, ggml allows at most "
                            f"{GGML_MAX_DIMS}", dims_at)
        shape = []
        for i in range(n_dims):
            dim_at = self.cur.pos
            dim = self.cur.u64(f"dimension {i} of tensor {name!r}")
            if dim > INT64_MAX:
                raise GGUFError(f"dimension {i} of tensor {name!r} is {dim}, negative as "
                                "int64", dim_at)
            shape.append(dim)
        type_at = self.cur.pos
        type_id = self.cur.u32(f"type of tensor {name!r}")
        offset_at = self.cur.pos
        offset = self.cur.u64(f"offset of tensor {name!r}")
        return _RawTensor(name, tuple(shape), type_id, offset, at, dims_at, type_at, offset_at)


@dataclass(frozen=True, slots=True)
class _RawTensor:
    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int
    name_at: int  # where each field of the record starts, for error messages
    dims_at: int
    type_at: int
    offset_at: int


def _bool(value: int, key: str, at: int) -> bool:
    if value not in (0, 1):
        raise GGUFError(f"BOOL value {value} of {key!r} is neither 0 nor 1", at)
    return value == 1


def _check_metadata(fields: Mapping[str, MetadataField]) -> None:
    """Types llama.cpp relies on, and per-token arrays as long as the vocabulary."""
    expected = dict(_EXPECTED_TYPES)
    arch = fields.get("general.architecture")
    if arch is not None and isinstance(arch.value, str):
        for name in _ARCH_UINT32_KEYS:
            expected[f"{arch.value}.{name}"] = (ValueType.UINT32, None)
    for name in _TOKEN_ID_KEYS:
        expected[name] = (ValueType.UINT32, None)
    for key, (value_type, element_type) in expected.items():
        f = fields.get(key)
        if f is not None and (f.value_type, f.element_type) != (value_type, element_type):
            raise GGUFError(f"metadata key {key!r} is {f.type_name}, expected "
                            f"{describe_type(value_type, element_type)}", f.offset)
    tokens = fields.get("tokenizer.ggml.tokens")
    if tokens is None:
        return
    n_tokens = _array_len(tokens.value)
    for key in _PER_TOKEN_ARRAYS:
        f = fields.get(key)
        if f is not None and _array_len(f.value) != n_tokens:
            raise GGUFError(f"{key} has {_array_len(f.value)} entries but the vocabulary "
                            f"has {n_tokens} tokens", f.offset)
    for key in _TOKEN_ID_KEYS:
        f = fields.get(key)
        if f is not None and isinstance(f.value, int) and f.value >= n_tokens:
            raise GGUFError(f"{key} {f.value} is outside the {n_tokens}-token vocabulary",
                            f.offset)


def _array_len(value: MetadataValue) -> int:
    if isinstance(value, ArraySummary):
        return value.count
    return len(value) if isinstance(value, tuple) else 0


def _check_tensors(raw: list[_RawTensor], alignment: int, data_offset: int,
                   file_size: int) -> tuple[TensorInfo, ...]:
    """Known types, sizes without int64 overflow, aligned, inside the file, disjoint."""
    if raw and data_offset > file_size:
        raise GGUFError(f"data section would start at {data_offset}, past the end of the "
                        f"{file_size}-byte file", raw[-1].offset_at)
    data_size = file_size - data_offset
    names: set[str] = set()
    tensors = []
    for t in raw:
        if t.name in names:
            raise GGUFError(f"duplicate tensor name {t.name!r}", t.name_at)
        names.add(t.name)
        size = _tensor_size(t)
        if t.offset % alignment:
            raise GGUFError(f"tensor {t.name!r} offset {t.offset} is not a multiple of the "
                            f"alignment {alignment}", t.offset_at)
        if t.offset + size > data_size:
            raise GGUFError(f"tensor {t.name!r} ({size} bytes at data offset {t.offset}) ends "
                            f"past the end of the file ({data_size} data bytes)", t.offset_at)
        layout = GGML_TYPES[t.type_id]
        tensors.append(TensorInfo(t.name, t.shape, t.type_id, layout.name, t.offset, size))
    placed = sorted((pair for pair in zip(tensors, raw, strict=True) if pair[0].size),
                    key=lambda pair: pair[0].offset)
    for (before, _), (after, after_raw) in zip(placed, placed[1:], strict=False):
        if after.offset < before.offset + before.size:
            raise GGUFError(f"tensor {after.name!r} (data offset {after.offset}) overlaps "
                            f"tensor {before.name!r} (data offset {before.offset}, "
                            f"{before.size} bytes)", after_raw.offset_at)
    return tuple(tensors)


def _tensor_size(t: _RawTensor) -> int:
    layout = GGML_TYPES.get(t.type_id)
    if layout is None:
        raise GGUFError(f"tensor {t.name!r} has unknown ggml type {t.type_id}", t.type_at)
    elements = 1
    for dim in t.shape:
        elements *= dim
        if elements > INT64_MAX:
            raise GGUFError(f"element count of tensor {t.name!r} {t.shape} overflows int64",
                            t.dims_at)
    row = t.shape[0] if t.shape else 1
    if row % layout.block_size:
        raise GGUFError(f"tensor {t.name!r}: first dimension {row} is not a multiple of the "
                        f"{layout.name} block size {layout.block_size}", t.dims_at)
    return elements // layout.block_size * layout.type_size
