"""Fault injection (--expire-after, --drop-after, --garbage, --latency) and --record."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from conformance import validate_server_event
from websockets.exceptions import ConnectionClosedError

from realtime_cli.audio.pcm import silence
from realtime_cli.server.faults import expiry_message

from .conftest import ServerFactory
from .rtclient import client


def test_expiry_message_matches_the_service() -> None:
    assert expiry_message(3600) == "Your session hit the maximum duration of 60 minutes."
    assert expiry_message(1.5) == "Your session hit the maximum duration of 1.5 seconds."


async def test_expire_after_sends_session_expired_then_closes_1001(serve: ServerFactory) -> None:
    async with serve(expire_after=0.5) as srv, client(srv.url) as rt:
        error = await rt.wait_for("error", within=5)
        await asyncio.wait_for(rt.ws.wait_closed(), 5)
    assert error["error"] == {
        "type": "invalid_request_error", "code": "session_expired",
        "message": "Your session hit the maximum duration of 0.5 seconds.",
        "param": None, "event_id": None,
    }
    assert rt.ws.close_code == 1001
    assert rt.ws.close_reason == error["error"]["message"]


async def test_drop_after_aborts_without_a_close_frame(serve: ServerFactory) -> None:
    async with serve(drop_after=0.3) as srv, client(srv.url) as rt:
        with pytest.raises(ConnectionClosedError):
            while True:
                await rt.recv(within=5)
        assert rt.ws.protocol.close_rcvd is None
        assert rt.ws.close_code == 1006


async def test_garbage_is_interleaved_but_real_events_still_conform(
    serve: ServerFactory,
) -> None:
    async with serve(garbage=True) as srv, client(srv.url, conformance=False) as rt:
        await rt.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}})
        await rt.send({"type": "response.create"})
        await rt.wait_for("response.done")
    kinds = {type(j).__name__ + (":unknown" if isinstance(j, str) and "rt_serve.garbage" in j
                                 else "") for j in rt.junk}
    assert kinds == {"bytes", "str", "str:unknown"}
    for event in rt.events:
        validate_server_event(event)
    assert rt.types()[0] == "session.created"


async def test_latency_delays_every_event_in_order(serve: ServerFactory) -> None:
    async with serve(latency_ms=300) as srv:
        started = time.monotonic()
        async with client(srv.url) as rt:
            created_after = time.monotonic() - started
            await rt.send({"type": "input_audio_buffer.clear"})
            sent = time.monotonic()
            await rt.wait_for("input_audio_buffer.cleared")
            cleared_after = time.monotonic() - sent
    assert created_after >= 0.3 and cleared_after >= 0.3


async def test_record_file_has_every_client_event_per_connection(
    serve: ServerFactory, tmp_path: Path
) -> None:
    path = tmp_path / "received.jsonl"
    async with serve(record=path) as srv:
        async with client(srv.url) as first:
            await first.append_audio(silence(200))
            await first.send({"type": "input_audio_buffer.clear"})
            await first.wait_for("input_audio_buffer.cleared")
        async with client(srv.url) as second:
            await second.send({"type": "conversation.item.truncate", "item_id": "item_x",
                               "content_index": 0, "audio_end_ms": 1234})
            await second.error()
        async with client(srv.url) as third:
            await third.send_raw("{broken")
            await third.error()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(line["conn"], line["event"]["type"]) for line in lines] == [
        (1, "input_audio_buffer.append"), (1, "input_audio_buffer.append"),
        (1, "input_audio_buffer.clear"), (2, "conversation.item.truncate")]
    assert lines[0]["event"]["audio"].startswith("<") and lines[0]["t"] >= 0
    assert lines[3]["event"]["audio_end_ms"] == 1234
    assert [(conn, e["type"]) for conn, e in srv.received][-1] == (
        2, "conversation.item.truncate")
