"""Type tables of the GGUF format: metadata value types, ggml tensor types with
their block layout, and llama.cpp's `general.file_type` names.

Only types listed here are accepted: a tensor of an unknown ggml type has an
unknown byte size, so its bounds cannot be checked and the file is refused.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class ValueType(enum.IntEnum):
    """Metadata value types (the u32 stored before each value)."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


# struct format (little-endian) of each fixed-size value type.
SCALAR_FORMATS: dict[ValueType, str] = {
    ValueType.UINT8: "B", ValueType.INT8: "b",
    ValueType.UINT16: "H", ValueType.INT16: "h",
    ValueType.UINT32: "I", ValueType.INT32: "i",
    ValueType.UINT64: "Q", ValueType.INT64: "q",
    ValueType.FLOAT32: "f", ValueType.FLOAT64: "d",
    ValueType.BOOL: "B",
}

# Fewest bytes one array element of a type occupies: a string is at least its u64
# length. (Arrays of arrays are refused.)
MIN_VALUE_BYTES: dict[ValueType, int] = {
    ValueType.UINT8: 1, ValueType.INT8: 1, ValueType.BOOL: 1,
    ValueType.UINT16: 2, ValueType.INT16: 2,
    ValueType.UINT32: 4, ValueType.INT32: 4, ValueType.FLOAT32: 4,
    ValueType.UINT64: 8, ValueType.INT64: 8, ValueType.FLOAT64: 8,
    ValueType.STRING: 8,
}


class TensorType(NamedTuple):
    name: str
    block_size: int  # elements per block
    type_size: int  # bytes per block


# ggml_type id -> layout. Ids absent here (4, 5, 31-33, 36-38: types removed from
# ggml) are refused like any other unknown id.
GGML_TYPES: dict[int, TensorType] = {
    0: TensorType("F32", 1, 4),
    1: TensorType("F16", 1, 2),
    2: TensorType("Q4_0", 32, 18),
    3: TensorType("Q4_1", 32, 20),
    6: TensorType("Q5_0", 32, 22),
    7: TensorType("Q5_1", 32, 24),
    8: TensorType("Q8_0", 32, 34),
    9: TensorType("Q8_1", 32, 40),
    10: TensorType("Q2_K", 256, 84),
    11: TensorType("Q3_K", 256, 110),
    12: TensorType("Q4_K", 256, 144),
    13: TensorType("Q5_K", 256, 176),
    14: TensorType("Q6_K", 256, 210),
    15: TensorType("Q8_K", 256, 292),
    16: TensorType("IQ2_XXS", 256, 66),
    17: TensorType("IQ2_XS", 256, 74),
    18: TensorType("IQ3_XXS", 256, 98),
    19: TensorType("IQ1_S", 256, 50),
    20: TensorType("IQ4_NL", 32, 18),
    21: TensorType("IQ3_S", 256, 110),
    22: TensorType("IQ2_S", 256, 82),
    23: TensorType("IQ4_XS", 256, 136),
    24: TensorType("I8", 1, 1),
    25: TensorType("I16", 1, 2),
    26: TensorType("I32", 1, 4),
    27: TensorType("I64", 1, 8),
    28: TensorType("F64", 1, 8),
    29: TensorType("IQ1_M", 256, 56),
    30: TensorType("BF16", 1, 2),
    34: TensorType("TQ1_0", 256, 54),
    35: TensorType("TQ2_0", 256, 66),
    39: TensorType("MXFP4", 32, 17),
    40: TensorType("NVFP4", 64, 36),
    41: TensorType("Q1_0", 128, 18),
}

# llama.cpp's llama_ftype values (`general.file_type`), by their usual short names.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
    16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
    22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
}


def describe_type(value_type: ValueType, element_type: ValueType | None = None) -> str:
    """`STRING`, or `ARRAY[UINT8]` for an array."""
    if value_type is ValueType.ARRAY and element_type is not None:
        return f"ARRAY[{element_type.name}]"
    return value_type.name
