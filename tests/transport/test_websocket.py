"""The WebSocket transport against a real `websockets` server on loopback: every way a
connection ends or fails comes out as one of rt's errors, with the close code the core needs."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from realtime_cli.errors import FatalServerError, KeyRejected, TransportClosed, TransportError
from realtime_cli.transport.endpoint import Endpoint
from realtime_cli.transport.gemini_endpoint import resolve_gemini_endpoint
from realtime_cli.transport.websocket import WebSocketTransport

Handler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler, status: int | None = None) -> AsyncIterator[WebSocketTransport]:
    """A loopback server running `handler`, or refusing every upgrade with `status`."""

    def refuse(conn: ServerConnection, request: Request) -> Response | None:
        return conn.respond(HTTPStatus(status), "refused\n") if status is not None else None

    async with serve(handler, "127.0.0.1", 0, process_request=refuse) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        yield WebSocketTransport(Endpoint(url=f"ws://127.0.0.1:{port}/v1/realtime", kind="custom"))


async def test_a_close_from_the_server_carries_its_code_and_reason() -> None:
    async def handler(ws: ServerConnection) -> None:
        assert await ws.recv() == "hello"
        await ws.send("bye soon")
        await ws.close(4000, "beta_api_shape_disabled")

    async with server(handler) as transport:
        conn = await transport.connect(5.0)
        await conn.send("hello")
        assert await conn.receive() == "bye soon"
        with pytest.raises(TransportClosed) as closed:
            await conn.receive()
        assert (closed.value.code, closed.value.reason) == (4000, "beta_api_shape_disabled")
        with pytest.raises(TransportClosed):
            await conn.send("too late")
        await conn.close()  # after the close: quiet


async def test_a_dropped_connection_has_no_close_code() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        ws.transport.abort()  # no close frame, as a lost network

    async with server(handler) as transport:
        conn = await transport.connect(5.0)
        await conn.send("hello")
        with pytest.raises(TransportClosed) as closed:
            await conn.receive()
        assert closed.value.code is None
        await conn.close()


async def test_a_client_close_reaches_the_server_as_a_normal_close() -> None:
    seen: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        seen.set_result(ws.close_code)

    async with server(handler) as transport:
        conn = await transport.connect(5.0)
        await conn.close()
        assert await asyncio.wait_for(seen, 10) == 1000


@pytest.mark.parametrize(("status", "error", "words"), [
    (401, KeyRejected, "API key (OPENAI_API_KEY) was rejected"),
    (404, FatalServerError, "not found or not allowed"),
    (429, TransportError, "rate limited"),
    (503, TransportError, "server error"),
])
async def test_a_refused_upgrade_is_classified_by_its_status(
    status: int, error: type[TransportError], words: str,
) -> None:
    async def handler(ws: ServerConnection) -> None: ...

    async with server(handler, status=status) as transport:
        with pytest.raises(TransportError, match=re.escape(words)) as raised:
            await transport.connect(5.0)
    assert type(raised.value) is error


async def test_a_refused_gemini_key_names_the_gemini_variables() -> None:
    async def handler(ws: ServerConnection) -> None: ...

    async with server(handler, status=401) as transport:
        port = urlsplit(transport.endpoint.url).port
        gemini = resolve_gemini_endpoint(url=f"ws://127.0.0.1:{port}",
                                         env={"GEMINI_API_KEY": "refused-key"})
        with pytest.raises(KeyRejected) as raised:
            await WebSocketTransport(gemini).connect(5.0)
    assert "API key (GOOGLE_API_KEY or GEMINI_API_KEY) was rejected" in raised.value.message
    assert "OPENAI" not in raised.value.message and "refused-key" not in raised.value.message


async def test_a_closed_port_is_a_retryable_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        transport = WebSocketTransport(Endpoint(url=f"ws://127.0.0.1:{port}/v1/realtime",
                                                kind="custom"))
        with pytest.raises(TransportError, match="connection refused") as raised:
            await transport.connect(5.0)
    assert not isinstance(raised.value, FatalServerError)


async def test_the_connect_url_carries_what_the_shown_url_does_not() -> None:
    """A Gemini endpoint: the key reaches the server both as the `key` query parameter and as the
    `x-goog-api-key` header, and no error about the connection holds it."""
    from realtime_cli.transport.gemini_endpoint import resolve_gemini_endpoint

    seen: list[Request] = []

    def look(conn: ServerConnection, request: Request) -> Response | None:
        seen.append(request)
        return conn.respond(HTTPStatus.FORBIDDEN, "no\n")

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=look) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        endpoint = resolve_gemini_endpoint(url=f"ws://127.0.0.1:{port}",
                                           env={"GEMINI_API_KEY": SECRET})
        with pytest.raises(FatalServerError) as refused:
            await WebSocketTransport(endpoint).connect(5.0)
    [request] = seen
    assert request.path.endswith(f"?key={SECRET}")
    assert request.headers["x-goog-api-key"] == SECRET
    assert SECRET not in str(refused.value) and refused.value.__cause__ is None

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    endpoint = resolve_gemini_endpoint(url=f"ws://127.0.0.1:{port}", env={"GEMINI_API_KEY": SECRET})
    with pytest.raises(TransportError) as failed:
        await WebSocketTransport(endpoint).connect(5.0)
    assert SECRET not in str(failed.value) and failed.value.__cause__ is None
    assert SECRET not in repr(failed.value) and failed.value.__suppress_context__


SECRET = "AIzaSy-never-shown-0123456789abcdef"
