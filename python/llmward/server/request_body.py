"""Reading a request body with both bounds every route needs: size and time.

A body larger than the route's limit is refused (413) from its Content-Length before a
byte is read, or as soon as a chunked or compressed one grows past the limit; a body that
has not all arrived within BODY_READ_SECONDS is refused (408), so a client trickling it in
byte by byte (slowloris) cannot hold a connection and a handler indefinitely. A client
that disconnects mid-body gets CLIENT_CLOSED, not a server error.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

BODY_READ_SECONDS = 30.0
# nginx's "client closed request": the status recorded (audit log, metrics) for a request
# whose client left before it was answered; the answer itself reaches nobody.
CLIENT_CLOSED = 499


class BodyRefused(Exception):
    """A body too large (413), too slow (408) or cut off by the client (499); `code` as in
    OpenAI-style errors."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


async def read_body(request: web.BaseRequest, max_bytes: int,
                    timeout: float = BODY_READ_SECONDS) -> bytes:
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)

    async def read() -> bytes:
        data = bytearray()
        while chunk := await request.content.read(max_bytes + 1 - len(data)):
            data += chunk
            if len(data) > max_bytes:
                raise _too_large(max_bytes)
        return bytes(data)

    try:
        return await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError:
        raise BodyRefused("the request body arrived too slowly", 408,
                          "request_timeout") from None
    except ConnectionResetError:  # aiohttp's "Connection lost": nobody left to answer
        raise BodyRefused("the client closed the connection before its body arrived",
                          CLIENT_CLOSED, "client_closed_request") from None


def _too_large(max_bytes: int) -> BodyRefused:
    return BodyRefused(f"request body larger than {max_bytes} bytes", 413, "payload_too_large")
