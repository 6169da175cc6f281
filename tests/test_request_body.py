"""Reading bodies within size and time (request_body), and aiohttp's parser errors logged
without the bytes sent (http_log); in process, so they run where the model is missing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from llmward.server.http_log import ParserErrorFilter
from llmward.server.request_body import CLIENT_CLOSED, BodyRefused, read_body

TIMEOUT_S = 0.5
REFUSED = web.AppKey("refused", list[int])


@pytest_asyncio.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async def echo(request: web.Request) -> web.Response:
        try:
            data = await read_body(request, 1024, timeout=TIMEOUT_S)
        except BodyRefused as refused:
            request.app[REFUSED].append(refused.status)
            return web.json_response({"code": refused.code}, status=refused.status)
        return web.json_response({"bytes": len(data)})

    app = web.Application()
    app[REFUSED] = []
    app.router.add_post("/", echo)
    test_client = TestClient(TestServer(app, host="127.0.0.1"))
    await test_client.start_server()
    try:
        yield test_client
    finally:
        await test_client.close()


@pytest.mark.asyncio
async def test_a_body_within_both_bounds_is_read(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.post("/", data=b"x" * 1024)
    assert response.status == 200 and (await response.json())["bytes"] == 1024


@pytest.mark.asyncio
async def test_too_large_announced_or_streamed_is_413(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.post("/", data=b"x" * 1025)
    assert response.status == 413 and (await response.json())["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"x" * 200

    response = await client.post("/", data=chunks())  # chunked: no Content-Length
    assert response.status == 413


@pytest.mark.asyncio
async def test_a_body_trickling_in_is_cut_off_at_the_timeout(client: TestClient) -> None:  # type: ignore[type-arg]
    async def drip() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x"
            await asyncio.sleep(0.1)

    started = asyncio.get_running_loop().time()
    response = await client.post("/", data=drip())
    elapsed = asyncio.get_running_loop().time() - started
    assert response.status == 408 and (await response.json())["code"] == "request_timeout"
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + 1.5  # not the 2 s the whole drip takes


@pytest.mark.asyncio
async def test_a_client_gone_mid_body_is_a_disconnect_not_an_error(
        client: TestClient) -> None:  # type: ignore[type-arg]
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    refused = client.app[REFUSED]  # type: ignore[index]
    for _ in range(50):
        if refused:
            break
        await asyncio.sleep(0.02)
    assert refused == [CLIENT_CLOSED]


def _record(error: BaseException | None) -> logging.LogRecord:
    return logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1,
                             "Error handling request from %s", ("127.0.0.1",),
                             (type(error), error, None) if error else None)


def test_parser_errors_are_logged_as_one_line_without_the_sent_bytes() -> None:
    from aiohttp.http_exceptions import BadHttpMessage

    secret = "Authorization: Bearer lw_" + "s" * 40
    record = _record(BadHttpMessage(f"Invalid header value char:\n\n    b'{secret}'"))
    assert ParserErrorFilter().filter(record)
    text = logging.Formatter().format(record)
    assert text == "refused a malformed HTTP request from 127.0.0.1: BadHttpMessage (400)"
    assert record.levelno == logging.WARNING and "lw_" not in text


def test_other_server_errors_pass_unchanged() -> None:
    record = _record(RuntimeError("a bug"))
    assert ParserErrorFilter().filter(record)
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert "RuntimeError: a bug" in logging.Formatter().format(record)
