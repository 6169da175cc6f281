"""SHA-256 and single-pass file and directory hashing (llmward.hash_file,
hash_directory, Hasher("sha256")), against hashlib and the PyPI blake3."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import blake3 as pypi_blake3
import pytest

import llmward
from gil import assert_releases_gil
from llmward.cli import main
from llmward.integrity.hashing import Hasher, hash_directory, hash_file

READ_BUFFER = 8 << 20  # kReadBufferBytes in file_hash.hpp


def expected(data: bytes) -> dict[str, str]:
    return {"sha256": hashlib.sha256(data).hexdigest(),
            "blake3": pypi_blake3.blake3(data).hexdigest()}


@pytest.mark.parametrize("size", [0, 1, 4095, READ_BUFFER - 1, READ_BUFFER, READ_BUFFER + 1,
                                  3 * READ_BUFFER + 12345])
def test_file_digests_match_the_oracles(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    assert hash_file(path) == expected(data)
    assert hash_file(path, ("blake3",), threads=1) == {"blake3": expected(data)["blake3"]}
    assert hash_file(str(path), ("sha256",)) == {"sha256": expected(data)["sha256"]}
    assert hash_file(os.fsencode(path), ("blake3", "sha256"), threads=3) == expected(data)


def test_sha256_hasher_matches_hashlib() -> None:
    data = os.urandom(200_000)
    h = Hasher("sha256")
    h.update(data[:7])
    h.update(memoryview(data)[7:])
    h.update(bytearray(b"tail"))
    assert h.hexdigest() == hashlib.sha256(data + b"tail").hexdigest()
    assert h.name == "sha256"
    with pytest.raises(ValueError, match="no key"):
        Hasher("sha256", key=b"k" * 32)
    with pytest.raises(ValueError, match="fixed 32-byte"):
        h.digest(64)


def test_progress_reports_every_buffer_and_can_stop_the_hash(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(2 * READ_BUFFER + 10))
    size = path.stat().st_size
    # Both digests (a reader thread and one per digest), BLAKE3 alone on one thread
    # (a guarded mapping) and on several (the pipeline again).
    for algorithms, threads in ((("sha256", "blake3"), 0), (("blake3",), 1), (("blake3",), 2)):
        calls: list[tuple[int, int]] = []
        digests = hash_file(path, algorithms, threads=threads,
                            progress=lambda done, total, seen=calls: seen.append((done, total)))
        assert calls == [(READ_BUFFER, size), (2 * READ_BUFFER, size), (size, size)], algorithms
        assert digests["blake3"] == expected(path.read_bytes())["blake3"]

    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        raise Stop

    for algorithms, threads in ((("sha256", "blake3"), 0), (("blake3",), 1)):
        with pytest.raises(Stop):
            hash_file(path, algorithms, threads=threads, progress=stop)


def test_hash_file_errors_are_the_usual_python_ones(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        hash_file(tmp_path / "absent")
    assert missing.value.filename == os.fsencode(tmp_path / "absent")
    with pytest.raises(IsADirectoryError):
        hash_file(tmp_path)
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown algorithm"):
        hash_file(tmp_path / "f", ("md5",))
    with pytest.raises(ValueError, match="no algorithm"):
        hash_file(tmp_path / "f", ())
    with pytest.raises(TypeError):
        hash_file(tmp_path / "f", "sha256")
    with pytest.raises(ValueError, match="threads"):
        hash_file(tmp_path / "f", threads=-1)


def test_hash_file_releases_the_gil(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(64 << 20))
    assert_releases_gil(lambda: hash_file(path))


def test_directories_hash_every_file_in_parallel_and_stay_inside(tmp_path: Path) -> None:
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    contents = {"a.bin": os.urandom(3 * READ_BUFFER // 2), "sub/b.json": b"{}", "c": b""}
    for name, data in contents.items():
        (root / name).write_bytes(data)
    (root / "link").symlink_to(root / "a.bin")  # inside: followed
    seen: list[tuple[int, int]] = []
    digests = hash_directory(root, threads=4, progress=lambda d, t: seen.append((d, t)))
    assert list(digests) == sorted([*contents, "link"])
    for name, data in contents.items():
        assert digests[name] == expected(data)
    assert digests["link"] == digests["a.bin"]
    total = sum(len(d) for d in contents.values()) + len(contents["a.bin"])
    assert seen[-1] == (total, total)
    assert hash_directory(root, ("sha256",), threads=1) == {
        name: {"sha256": d["sha256"]} for name, d in digests.items()}

    (root / "escape").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="outside"):
        hash_directory(root)


def test_package_exports() -> None:
    assert llmward.hash_file is hash_file
    assert llmward.Hasher is Hasher


def test_cli_hash_prints_digests_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    path = tmp_path / "w.gguf"
    data = os.urandom(1000)
    path.write_bytes(data)
    assert main(["hash", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"sha256:{expected(data)['sha256']}  {path.as_posix()}",
                     f"blake3:{expected(data)['blake3']}  {path.as_posix()}"]
    assert main(["hash", str(tmp_path), "--json", "--algo", "blake3"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        path.as_posix(): {"blake3": expected(data)["blake3"]}}
    assert main(["hash", str(tmp_path / "absent")]) == 2
    assert "absent" in capsys.readouterr().err
    assert main(["hash", str(path), "--algo", "md5"]) == 2


def test_ctrl_c_stops_hashing_a_large_file(tmp_path: Path) -> None:
    """The native read loop notices SIGINT between buffers (no progress callback needed)."""
    big = tmp_path / "sparse.bin"
    with big.open("wb") as f:
        f.truncate(4 << 30)  # 4 GiB of holes: no disk used; uninterrupted, over 10 s here
    # Python ignores SIGINT where it started ignored (a job run with `&` by a shell
    # without job control): the child restores the default KeyboardInterrupt handler.
    code = ("import signal, sys, time; from llmward import hash_file\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "print('started', flush=True)\n"
            "start = time.monotonic()\n"
            "try:\n    hash_file(sys.argv[1], ('sha256',))\n"
            "except KeyboardInterrupt:\n    print('interrupted', time.monotonic() - start)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(big)], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "started"
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    try:
        out, _ = child.communicate(timeout=60)
    finally:
        child.kill()
    assert out.startswith("interrupted"), out
    assert float(out.split()[1]) < 5  # well before the 4 GiB were done


MAPPED_WINDOW = 256 << 20  # kWindowBytes in mapped_read.cpp
# BLAKE3 alone on one thread reads through a mapping only when asked to.
MAPPED_ENV = {**os.environ, "LLMWARD_HASH_READ": "mmap"}


@pytest.fixture
def mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMWARD_HASH_READ", "mmap")


@pytest.mark.parametrize("algorithms", [("sha256",), ("blake3",), ("sha256", "blake3")])
def test_a_file_truncated_while_read_is_an_error(tmp_path: Path,
                                                 algorithms: tuple[str, ...]) -> None:
    """The default read() path: what was hashed is neither the file as opened nor as it is
    now, so no digest is returned."""
    path = tmp_path / "model.bin"
    path.write_bytes(os.urandom(40 << 20))

    def truncate(done: int, total: int) -> None:
        if done == READ_BUFFER:
            os.truncate(path, 12 << 20)

    with pytest.raises(OSError, match="shrank while being hashed"):
        hash_file(path, algorithms, threads=1, progress=truncate)
    short = expected(path.read_bytes())
    assert hash_file(path, algorithms, threads=1) == {a: short[a] for a in algorithms}


@pytest.mark.usefixtures("mapped")
def test_mapped_blake3_crosses_windows_and_pieces(tmp_path: Path) -> None:
    """BLAKE3 alone on one thread reads through a mapping, a 256 MiB window at a time."""
    path = tmp_path / "model.bin"
    size = MAPPED_WINDOW + READ_BUFFER + 4097
    with path.open("wb") as f:  # random bytes around every boundary, holes between
        for at in (0, READ_BUFFER - 5000, MAPPED_WINDOW - 5000, size - 9000):
            f.seek(at)
            f.write(os.urandom(9000))
    data = path.read_bytes()
    assert len(data) == size
    calls: list[int] = []
    digest = hash_file(path, ("blake3",), threads=1, progress=lambda d, t: calls.append(d))
    assert digest == {"blake3": pypi_blake3.blake3(data).hexdigest()}
    assert calls == [READ_BUFFER * k for k in range(1, size // READ_BUFFER + 1)] + [size]


@pytest.mark.parametrize("keep", [0, 4096, 12 << 20, 12 << 20 | 1234])
@pytest.mark.usefixtures("mapped")
def test_a_file_truncated_while_mapped_is_an_error_not_a_crash(tmp_path: Path, keep: int) -> None:
    """Another process truncating the file would raise SIGBUS in a plain mapped read."""
    path = tmp_path / "model.bin"
    path.write_bytes(os.urandom(40 << 20))

    def truncate(done: int, total: int) -> None:
        if done == READ_BUFFER:
            os.truncate(path, keep)

    with pytest.raises(OSError, match="shrank while being hashed"):
        hash_file(path, ("blake3",), threads=1, progress=truncate)
    # The guard is gone with the read: the next hash of the short file is ordinary.
    short = expected(path.read_bytes())["blake3"]
    assert hash_file(path, ("blake3",), threads=1) == {"blake3": short}


@pytest.mark.usefixtures("mapped")
def test_ctrl_c_stops_a_mapped_hash(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(os.urandom(3 * READ_BUFFER))
    calls: list[int] = []

    def interrupt(done: int, total: int) -> None:
        calls.append(done)
        os.kill(os.getpid(), signal.SIGINT)

    # As Ctrl-C in a terminal, even where this process started with SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            hash_file(path, ("blake3",), threads=1, progress=interrupt)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert calls == [READ_BUFFER]  # noticed at the next piece


SIGBUS_ELSEWHERE = """
import mmap, os, sys
from llmward import hash_file
path = sys.argv[1]
with open(path, "wb") as f:
    f.write(os.urandom(2 << 20))
hash_file(path, ("blake3",), threads=1)  # the mapped path: its handler is installed
f = open(path, "rb")
m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
os.truncate(path, 0)
print("touching", flush=True)
m[1 << 20]  # an unguarded mapped read of a lost page
print("survived", flush=True)
"""


@pytest.mark.parametrize("faulthandler", [False, True])
def test_a_sigbus_outside_a_guarded_read_still_kills(tmp_path: Path, faulthandler: bool) -> None:
    """The handler passes faults it does not own to the one before it (or the default)."""
    args = [sys.executable, *(["-X", "faulthandler"] if faulthandler else []), "-c",
            SIGBUS_ELSEWHERE, str(tmp_path / "f.bin")]
    child = subprocess.run(args, capture_output=True, text=True, timeout=60, env=MAPPED_ENV)
    assert child.stdout == "touching\n"
    assert child.returncode == -signal.SIGBUS
    if faulthandler:
        assert "Bus error" in child.stderr


HANDLER_REPLACED = """
import os, signal, sys
from llmward import hash_file
path = sys.argv[1]
with open(path, "wb") as f:
    f.write(os.urandom(24 << 20))
hash_file(path, ("blake3",), threads=1)
signal.signal(signal.SIGBUS, lambda *a: None)  # someone else's handler now
def truncate(done, total):
    if done == 8 << 20:
        os.truncate(path, 1 << 20)
try:
    hash_file(path, ("blake3",), threads=1, progress=truncate)
except OSError as error:
    print(error.strerror)
"""


def test_mapped_reads_step_aside_when_the_sigbus_handler_is_replaced(tmp_path: Path) -> None:
    """Without its handler in place, hash_file reads with read(): a truncation then ends the
    reads early (reported as such), and nothing faults."""
    child = subprocess.run([sys.executable, "-c", HANDLER_REPLACED, str(tmp_path / "f.bin")],
                           capture_output=True, text=True, timeout=60, env=MAPPED_ENV)
    assert child.returncode == 0, child.stderr
    assert child.stdout == "file shrank while being hashed\n"
