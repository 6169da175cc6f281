"""A real redis-server for the tests: a free loopback port, no persistence, a temporary
directory, stopped at the end. Skips with a visible reason when the binary is absent.

A test module gets one server for its tests with
    @pytest.fixture(scope="module")
    def redis_server() -> Iterator[RedisServer]:
        yield from serve_redis()
(or every module, with ``pytest_plugins = ["redis_server"]`` in tests/conftest.py, which
registers the fixture below). ``start_redis`` starts one anywhere else (benchmarks).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SKIP_REASON = "redis-server not installed (make test installs it)"
START_TIMEOUT = 10.0


@dataclass
class RedisServer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    password: str | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    host = "127.0.0.1"

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stops the server (idempotent) and removes its directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    """A loopback port nobody listens on now (the server may still lose a race for it: see
    start_redis, which retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(64)
    except OSError:
        return False
    # +PONG, or -NOAUTH when a password is required: either way the server is serving.
    return reply.startswith((b"+PONG", b"-NOAUTH"))


def start_redis(extra_args: Sequence[str] = (), *, password: str | None = None) -> RedisServer:
    """Starts redis-server on a free loopback port and waits until it answers PING."""
    binary = redis_binary()
    if binary is None:
        raise FileNotFoundError(SKIP_REASON)
    last_log = ""
    for _ in range(3):  # another process may take the port between free_port() and bind
        tmp = tempfile.TemporaryDirectory(prefix="llmward-redis-")
        directory = Path(tmp.name)
        port = free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(directory), "--logfile",
                str(directory / "redis.log"), "--daemonize", "no", *extra_args]
        if password is not None:
            args += ["--requirepass", password]
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        server = RedisServer(port, directory, process, password, tmp)
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if _answers_ping(port):
                return server
            time.sleep(0.02)
        last_log = server.log()
        server.stop()
    raise RuntimeError(f"redis-server did not start; its log:\n{last_log}")


def serve_redis(extra_args: Sequence[str] = (), *,
                password: str | None = None) -> Iterator[RedisServer]:
    """A fixture's body: skips (with the reason) without the binary, stops the server after."""
    if redis_binary() is None:
        pytest.skip(SKIP_REASON)
    server = start_redis(extra_args, password=password)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for a module's tests."""
    yield from serve_redis()
