"""The wire trace (`transport/trace.py`): every frame both ways with its time on rt's clock, the
ends of each connection with their codes, audio as its length unless kept, nothing secret."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from realtime_cli.clock import ManualClock
from realtime_cli.errors import ConfigError, TransportClosed
from realtime_cli.transport.memory import MemoryTransport
from realtime_cli.transport.trace import (
    TraceWriter,
    TracingTransport,
    audio_paths,
    base64_bytes,
    safe_url,
    without_audio,
)

PCM = bytes(range(256)) * 15  # 3840 bytes, 80 ms at 24 kHz
B64 = base64.b64encode(PCM).decode()


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in path.read_text(encoding="utf-8").splitlines()]


def traced(tmp_path: Path, clock: ManualClock, *, audio: bool = False,
           url: str | None = None) -> tuple[TracingTransport, MemoryTransport, Path]:
    inner = MemoryTransport()
    path = tmp_path / "wire.jsonl"
    return TracingTransport(inner, TraceWriter(path, clock=clock, audio=audio), url=url), inner, path


async def test_every_frame_both_ways_with_its_time_and_the_ends_of_each_connection(
        tmp_path: Path, clock: ManualClock) -> None:
    transport, inner, path = traced(tmp_path, clock, url="wss://api.openai.com/v1/realtime?model=m")
    client = await transport.connect(1.0)
    server = await inner.accept()
    clock.advance(0.25)
    await server.send_event({"type": "session.created", "event_id": "event_1", "odd": [1, None]})
    assert json.loads(await client.receive())["event_id"] == "event_1"
    clock.advance(0.5)
    await client.send('{"type":"session.update","session":{"type":"realtime"}}')
    await server.send("not json {")
    assert await client.receive() == "not json {"
    await server.close(4000, "beta_api_shape_disabled")
    with pytest.raises(TransportClosed):
        await client.receive()
    second = await transport.connect(1.0)  # a reconnect: connection 2 of the same trace
    clock.advance(1.0)
    await second.close(1000, "bye")
    await second.close(1000, "bye")  # a second close writes nothing more
    transport.close()
    assert lines(path) == [
        {"t": 0.0, "dir": "open", "conn": 1, "url": "wss://api.openai.com/v1/realtime"},
        {"t": 0.25, "dir": "in", "conn": 1,
         "frame": {"type": "session.created", "event_id": "event_1", "odd": [1, None]}},
        {"t": 0.75, "dir": "out", "conn": 1,
         "frame": {"type": "session.update", "session": {"type": "realtime"}}},
        {"t": 0.75, "dir": "in", "conn": 1, "frame": "not json {"},
        {"t": 0.75, "dir": "close", "conn": 1, "by": "server", "code": 4000,
         "reason": "beta_api_shape_disabled"},
        {"t": 0.75, "dir": "open", "conn": 2, "url": "wss://api.openai.com/v1/realtime"},
        {"t": 1.75, "dir": "close", "conn": 2, "by": "client", "code": 1000, "reason": "bye"},
    ]


async def test_a_drop_is_a_server_close_without_a_code_and_is_on_disk_at_once(
        tmp_path: Path, clock: ManualClock) -> None:
    transport, inner, path = traced(tmp_path, clock)
    client = await transport.connect(1.0)
    server = await inner.accept()
    server.drop()
    with pytest.raises(TransportClosed):
        await client.receive()
    # flushed when the connection ended, before the trace itself is closed
    assert lines(path)[-1] == {"t": 0.0, "dir": "close", "conn": 1, "by": "server", "code": None,
                               "reason": ""}
    transport.close()


async def test_audio_is_its_length_in_bytes_unless_kept(tmp_path: Path, clock: ManualClock) -> None:
    transport, inner, path = traced(tmp_path, clock)
    client = await transport.connect(1.0)
    server = await inner.accept()
    append = {"type": "input_audio_buffer.append", "audio": B64}
    await client.send(json.dumps(append))
    await server.send_event({"type": "response.output_audio.delta", "delta": B64, "item_id": "i"})
    frame = await client.receive()
    assert json.loads(frame)["delta"] == B64  # the client still gets the audio itself
    transport.close()
    out, into = lines(path)[1:]
    assert out["frame"] == {"type": "input_audio_buffer.append", "audio": len(PCM)}
    assert out["audio"] == [["audio"]]
    assert into["frame"] == {"type": "response.output_audio.delta", "delta": len(PCM), "item_id": "i"}
    assert into["audio"] == [["delta"]]

    (tmp_path / "kept").mkdir()
    kept, _, kept_path = traced(tmp_path / "kept", clock, audio=True)
    client = await kept.connect(1.0)
    await client.send(json.dumps(append))
    kept.close()
    (line,) = lines(kept_path)[1:]
    assert line["frame"] == append and "audio" not in line


def test_gemini_audio_paths_both_ways() -> None:
    client = {"realtimeInput": {"audio": {"data": B64, "mimeType": "audio/pcm;rate=16000"}}}
    server = {"serverContent": {"modelTurn": {"parts": [
        {"text": "Hi"}, {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": B64}}]}}}
    assert audio_paths(client) == [["realtimeInput", "audio", "data"]]
    assert audio_paths(server) == [["serverContent", "modelTurn", "parts", 1, "inlineData", "data"]]
    shown, paths = without_audio(server)
    assert shown["serverContent"]["modelTurn"]["parts"] == [
        {"text": "Hi"}, {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": len(PCM)}}]
    assert paths == audio_paths(server)
    assert server["serverContent"]["modelTurn"]["parts"][1]["inlineData"]["data"] == B64  # untouched
    assert audio_paths({"type": "response.output_audio_transcript.delta", "delta": "words"}) == []
    assert audio_paths({"setupComplete": {}}) == []


async def test_binary_frames_json_or_not(tmp_path: Path, clock: ManualClock) -> None:
    transport, inner, path = traced(tmp_path, clock)
    client = await transport.connect(1.0)
    server = await inner.accept()
    await server.send(json.dumps({"setupComplete": {}}).encode())  # Gemini sends JSON as binary
    await server.send(b"\xff\x00\x01")
    await client.receive()
    await client.receive()
    transport.close()
    assert [{k: v for k, v in line.items() if k not in ("t", "conn")} for line in lines(path)[1:]] == [
        {"dir": "in", "binary": True, "frame": {"setupComplete": {}}},
        {"dir": "in", "bytes": 3},
    ]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 3840])
def test_base64_bytes_counts_without_decoding(size: int) -> None:
    encoded = base64.b64encode(bytes(size)).decode()
    assert base64_bytes(encoded) == size
    assert base64_bytes(encoded.rstrip("=")) == size  # unpadded, as some encoders send it


def test_no_query_or_user_part_reaches_the_trace() -> None:
    assert safe_url("wss://user:sk-secret@host.example/v1/realtime?api-key=sk-x&model=m#f") == \
        "wss://host.example/v1/realtime"


def test_a_trace_that_cannot_be_written_is_a_config_error(tmp_path: Path, clock: ManualClock) -> None:
    with pytest.raises(ConfigError, match="cannot write the trace"):
        TraceWriter(tmp_path / "missing" / "wire.jsonl", clock=clock)


async def test_the_file_is_flushed_at_most_a_second_apart(tmp_path: Path, clock: ManualClock) -> None:
    transport, inner, path = traced(tmp_path, clock)
    client = await transport.connect(1.0)
    await client.send('{"type":"response.create"}')
    assert path.read_text(encoding="utf-8") == ""  # buffered: nothing written yet
    clock.advance(1.0)
    await client.send('{"type":"response.cancel"}')
    assert [line["frame"]["type"] for line in lines(path)[1:]] == ["response.create", "response.cancel"]
    transport.close()
