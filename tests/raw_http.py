"""HTTP/1.1 over a plain socket, for requests an HTTP client library refuses to send
(10,000 headers, a 1 MB header line, a body dripped one byte a second, a lying
Content-Length) and for answers that may be a closed connection instead of a response."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RawResponse:
    status: int | None  # None: the server closed the connection without a status line
    headers: dict[str, str]
    body: bytes
    seconds: float  # from the first byte sent to the end of the answer (or the close)

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self) -> dict[str, Any]:
        """The OpenAI-style error object, checking its shape."""
        error = self.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str) and error["message"], error
        return dict(error)


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def connect(url: str, timeout: float) -> socket.socket:
    sock = socket.create_connection(address(url), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def request_bytes(method: str, path: str, *, body: bytes = b"", key: str | None = None,
                  headers: dict[str, str] | None = None, content_length: bool = True) -> bytes:
    """A request with `Connection: close`, so the answer ends at the server's close."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    if body and content_length:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(url: str, data: bytes, *, timeout: float = 15.0) -> RawResponse:
    """Send `data` (as much as the server takes before closing) and read the answer."""
    started = time.monotonic()
    with connect(url, timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-send: what was answered, if anything, is still readable
        return read_response(sock, started, timeout)


def read_response(sock: socket.socket, started: float, timeout: float) -> RawResponse:
    """Read until the server closes (or `timeout` passes: an AssertionError, the server
    must answer or close in time) and parse the first response, if there is one."""
    sock.settimeout(timeout)
    received = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        except TimeoutError:
            raise AssertionError(f"no answer and no close within {timeout} s: "
                                 f"{bytes(received[:200])!r}") from None
        if not chunk:
            break
        received += chunk
        if _complete(received):
            break
    return parse_response(bytes(received), time.monotonic() - started)


def _complete(data: bytearray) -> bool:
    head, sep, body = bytes(data).partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def parse_response(data: bytes, seconds: float) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        return RawResponse(None, {}, data, seconds)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return RawResponse(int(lines[0].split()[1]), headers, body, seconds)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return bytes(out)


def post_json(url: str, path: str, body: Any, *, key: str | None,
              timeout: float = 15.0) -> RawResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return exchange(url, request_bytes("POST", path, body=raw, key=key), timeout=timeout)


def process_status(pid: int) -> dict[str, str]:
    """/proc/PID/status as a mapping (VmRSS, Threads...)."""
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def rss_bytes(pid: int) -> int:
    return int(process_status(pid)["VmRSS"].split()[0]) * 1024
