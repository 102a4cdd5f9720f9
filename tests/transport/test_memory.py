"""The in-memory transport keeps the contract of `transport/base.py`, so a runner driven by it
meets closes the way it meets them on a socket."""

from __future__ import annotations

import pytest

from realtime_cli.errors import FatalServerError, TransportClosed, TransportError
from realtime_cli.transport.memory import MemoryTransport


async def test_frames_cross_in_order_both_ways() -> None:
    transport = MemoryTransport()
    client = await transport.connect(1.0)
    server = await transport.accept()
    await client.send("one")
    await client.send("two")
    await server.send_event({"type": "session.created"})
    assert [await server.receive(), await server.receive()] == ["one", "two"]
    assert await client.receive() == '{"type": "session.created"}'


async def test_a_server_close_reaches_the_client_with_its_code_and_reason() -> None:
    transport = MemoryTransport()
    client = await transport.connect(1.0)
    server = await transport.accept()
    await server.send("last words")
    await server.close(4000, "beta_api_shape_disabled")
    assert await client.receive() == "last words"  # what was sent before the close still arrives
    with pytest.raises(TransportClosed) as closed:
        await client.receive()
    assert (closed.value.code, closed.value.reason) == (4000, "beta_api_shape_disabled")
    with pytest.raises(TransportClosed):
        await client.send("too late")
    with pytest.raises(TransportClosed):
        await server.send("too late")


async def test_a_drop_has_no_close_code() -> None:
    transport = MemoryTransport()
    client = await transport.connect(1.0)
    server = await transport.accept()
    server.drop()
    with pytest.raises(TransportClosed) as closed:
        await client.receive()
    assert closed.value.code is None and "no close frame" in closed.value.message


async def test_a_client_close_reaches_the_server_and_closing_twice_is_harmless() -> None:
    transport = MemoryTransport()
    client = await transport.connect(1.0)
    server = await transport.accept()
    await client.close()
    await client.close(1011, "ignored: already closed")
    with pytest.raises(TransportClosed) as closed:
        await server.receive_event()
    assert closed.value.code == 1000
    assert server.closed and client.closed


async def test_refusals_are_raised_by_connect_in_order() -> None:
    transport = MemoryTransport()
    transport.refuse(TransportError("connection refused"))
    transport.refuse(FatalServerError("HTTP 401"))
    with pytest.raises(TransportError, match="refused") as first:
        await transport.connect(1.0)
    assert not isinstance(first.value, FatalServerError)
    with pytest.raises(FatalServerError, match="401"):
        await transport.connect(1.0)
    await transport.connect(1.0)
    assert transport.connects == 3
