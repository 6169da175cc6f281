"""BLAKE3 in the native core: the official test vectors on every SIMD variant
this CPU runs, and the PyPI `blake3` package as an oracle for every way of
splitting an input into updates, keyed mode, key derivation, extended output
and multi-threaded hashing."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import blake3 as pypi_blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmward import _core
from llmward.integrity.hashing import Hasher

VECTORS = json.loads((Path(__file__).parent / "data" / "blake3_test_vectors.json").read_text())
KEY = VECTORS["key"].encode()
CONTEXT = VECTORS["context_string"]
SIMD = _core.blake3_supported_simd()


def pattern(length: int) -> bytes:
    """The vectors' input: 0, 1, ..., 250, 0, 1, ..."""
    return bytes(i % 251 for i in range(length))


@pytest.fixture(params=SIMD)
def simd(request: pytest.FixtureRequest) -> Iterator[str]:
    before = _core.blake3_simd()
    _core.blake3_select_simd(request.param)
    yield request.param
    _core.blake3_select_simd(before)


def hasher(mode: str, threads: int = 1) -> Hasher:
    if mode == "keyed_hash":
        return Hasher("blake3", key=KEY, threads=threads)
    if mode == "derive_key":
        return Hasher.derive_key(CONTEXT)
    return Hasher("blake3", threads=threads)


def test_the_cpu_runs_at_least_the_portable_and_one_simd_variant() -> None:
    assert SIMD[0] == "portable"
    assert _core.blake3_simd() == SIMD[-1]  # the widest is chosen by default
    # Each variant the CPU has must also pass the start-up check against the
    # portable code (blake3_dispatch.cpp), or it would be missing here.
    if sys.platform == "linux":
        flags = Path("/proc/cpuinfo").read_text().split()
        for flag, name in (("sse4_1", "sse41"), ("avx2", "avx2"), ("avx512f", "avx512")):
            assert (name in SIMD) == (flag in flags), name


@pytest.mark.parametrize("mode", ["hash", "keyed_hash", "derive_key"])
def test_official_vectors(simd: str, mode: str) -> None:
    assert len(VECTORS["cases"]) == 22
    for case in VECTORS["cases"]:
        h = hasher(mode)
        h.update(pattern(case["input_len"]))
        expected = case[mode]
        assert h.hexdigest(131) == expected, (simd, mode, case["input_len"])
        assert h.hexdigest() == expected[:64]
        assert h.digest(20, seek=100) == bytes.fromhex(expected)[100:120]


@pytest.mark.parametrize("length", [0, 1, 64, 1023, 1024, 1025, 2048, 2049, 4097])
def test_every_split_point_gives_the_same_digest(simd: str, length: int) -> None:
    data = os.urandom(length)
    expected = pypi_blake3.blake3(data).digest()
    for split in range(length + 1):
        h = Hasher("blake3")
        h.update(data[:split])
        h.update(data[split:])
        assert h.digest() == expected, (simd, length, split)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=20_000), cuts=st.lists(st.integers(0, 20_000), max_size=8),
       keyed=st.booleans(), length=st.integers(1, 200))
def test_random_updates_match_pypi_blake3(data: bytes, cuts: list[int], keyed: bool,
                                          length: int) -> None:
    h = Hasher("blake3", key=KEY) if keyed else Hasher("blake3")
    start = 0
    for cut in sorted(c for c in cuts if c <= len(data)):
        h.update(data[start:cut])
        start = cut
    h.update(data[start:])
    oracle = pypi_blake3.blake3(data, key=KEY) if keyed else pypi_blake3.blake3(data)
    assert h.digest(length) == oracle.digest(length)


@pytest.mark.parametrize("size", [(1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 517, 1 << 23])
def test_large_inputs_on_several_threads(simd: str, size: int) -> None:
    data = os.urandom(size)
    expected = pypi_blake3.blake3(data).hexdigest()
    for threads in (1, 2, 5):
        h = Hasher("blake3", threads=threads)
        h.update(data)
        assert h.hexdigest() == expected, (simd, size, threads)
    # The same bytes in ragged pieces (updates not aligned to chunks or subtrees).
    h = Hasher("blake3", threads=2)
    for start in range(0, size, 300_001):
        h.update(memoryview(data)[start:start + 300_001])
    assert h.hexdigest() == expected


def _hash_in_child(data: bytes) -> str:
    h = Hasher("blake3", threads=2)
    h.update(data)
    return h.hexdigest()


def test_a_forked_child_hashes_on_several_threads() -> None:
    """The worker pool's threads do not survive fork(): the child must not wait on them."""
    data = os.urandom(4 << 20)
    warm = Hasher("blake3", threads=2)  # the pool exists in the parent now
    warm.update(data)
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        child = pool.apply_async(_hash_in_child, (data,))
        assert child.get(timeout=60) == pypi_blake3.blake3(data).hexdigest()


def test_digest_does_not_end_the_hash_and_copy_is_independent() -> None:
    h = Hasher("blake3")
    h.update(b"abc")
    first = h.digest()
    clone = h.copy()
    h.update(b"def")
    assert first == pypi_blake3.blake3(b"abc").digest()
    assert h.digest() == pypi_blake3.blake3(b"abcdef").digest()
    assert clone.digest() == first


def test_bad_arguments_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Hasher("blake3", key=b"short")
    with pytest.raises(ValueError, match="unknown algorithm"):
        Hasher("md5")
    with pytest.raises(ValueError, match="unknown or unsupported"):
        _core.blake3_select_simd("avx1024")
    with pytest.raises(ValueError, match="1 GiB"):
        Hasher("blake3").digest(2 << 30)


def test_the_environment_can_force_a_simd_variant() -> None:
    code = "from llmward import _core; print(_core.blake3_simd())"
    env = {**os.environ, "LLMWARD_BLAKE3_SIMD": "portable"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "portable"
