"""Handshake, session.created, several clients, the CLI's listening line and bind errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from realtime_cli.errors import TransportError
from realtime_cli.server import RunningServer, ServerOptions, run_server

from .conftest import ServerFactory
from .rtclient import client

REPO = Path(__file__).resolve().parents[2]


async def test_session_created_has_the_full_default_config(srv: RunningServer) -> None:
    before = time.time()
    async with client(srv.url + "?model=gpt-realtime-2", ready=False) as rt:
        event = await rt.wait_for("session.created")
    session = event["session"]
    assert session["object"] == "realtime.session"
    assert session["id"].startswith("sess_")
    assert session["model"] == "gpt-realtime-2"
    assert before + 3600 - 2 <= session["expires_at"] <= time.time() + 3600 + 2
    assert session["output_modalities"] == ["audio"]
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["input"]["turn_detection"] == {
        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
        "silence_duration_ms": 200, "idle_timeout_ms": None, "create_response": True,
        "interrupt_response": True,
    }
    assert session["audio"]["input"]["transcription"] is None
    assert session["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0}
    assert (session["truncation"], session["tool_choice"], session["max_output_tokens"]) == (
        "auto", "auto", "inf")


async def test_expire_after_shortens_expires_at(serve: ServerFactory) -> None:
    async with serve(expire_after=120) as srv, client(srv.url, ready=False) as rt:
        session = (await rt.wait_for("session.created"))["session"]
    assert abs(session["expires_at"] - (time.time() + 120)) <= 2


async def test_other_paths_get_http_404(srv: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(f"ws://{srv.host}:{srv.port}/v1/other"):
            pass
    assert caught.value.response.status_code == 404


async def test_beta_header_is_refused_with_close_4000(srv: RunningServer) -> None:
    async with client(srv.url, headers={"OpenAI-Beta": "realtime=v1"}, ready=False) as rt:
        error = await rt.error()
        assert error["code"] == "beta_api_shape_disabled"
        await asyncio.wait_for(rt.ws.wait_closed(), 5)
        assert rt.ws.close_code == 4000
        assert rt.types() == ["error"]


async def test_session_update_replies_with_the_full_config(srv: RunningServer) -> None:
    async with client(srv.url) as rt:
        await rt.send({"type": "session.update", "session": {
            "type": "realtime", "instructions": "Be brief.",
            "audio": {"output": {"voice": "marin", "speed": 1.2},
                      "input": {"turn_detection": {"type": "server_vad", "threshold": 0.7}}}}})
        updated = await rt.wait_for("session.updated")
    session = updated["session"]
    assert session["instructions"] == "Be brief."
    assert session["audio"]["output"]["voice"] == "marin"
    assert session["audio"]["output"]["speed"] == 1.2
    td = session["audio"]["input"]["turn_detection"]
    assert td["threshold"] == 0.7 and td["prefix_padding_ms"] == 300
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert updated["event_id"] != "evt_test_1"


async def test_several_clients_at_once_have_separate_sessions(srv: RunningServer) -> None:
    async with client(srv.url) as a, client(srv.url) as b:
        await a.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "from a"}]}})
        await b.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "from b"}]}})
        done_a = await a.wait_for("conversation.item.done")
        done_b = await b.wait_for("conversation.item.done")
    assert done_a["item"]["content"][0]["text"] == "from a"
    assert done_b["item"]["content"][0]["text"] == "from b"
    assert done_a["previous_item_id"] is None and done_b["previous_item_id"] is None
    assert {conn for conn, _ in srv.received} == {1, 2}


async def test_bind_error_is_a_transport_error(srv: RunningServer) -> None:
    with pytest.raises(TransportError, match="address already in use"):
        async with run_server(ServerOptions(host=srv.host, port=srv.port)):
            pass


def test_cli_prints_the_listening_line_and_serves(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "realtime_cli", "serve", "--port", "0", "--pace", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("rt serve listening on ws://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert url.endswith("/v1/realtime")

        async def talk() -> str:
            async with client(url) as rt:
                return str(rt.events[0]["type"])

        assert asyncio.run(talk()) == "session.created"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "conn 1: open" in err
    assert "sk-test-secret" not in err and "Authorization" not in err


def test_cli_port_in_use_is_one_clear_line() -> None:
    async def main() -> subprocess.CompletedProcess[str]:
        async with run_server(ServerOptions(port=0)) as srv:
            return await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "realtime_cli", "serve", "--port", str(srv.port)],
                cwd=REPO, capture_output=True, text=True, timeout=30,
            )

    result = asyncio.run(main())
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip().splitlines()[0]]
    assert result.stderr.startswith("rt: cannot listen on 127.0.0.1:")
