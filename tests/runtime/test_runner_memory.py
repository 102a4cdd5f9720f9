"""The whole runner (core, tasks, writer, close) driven through the in-memory transport: a
scripted server in the test's own hands, fake microphone and speaker, no socket and no device.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from helpers import ScriptedPeer, pcm

from realtime_cli import errors
from realtime_cli.audio.interfaces import SinkStatus, SourceLevels
from realtime_cli.clock import ManualClock
from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.records import ConnectionRecord, JournalRecord
from realtime_cli.core.session import SessionCore
from realtime_cli.errors import FatalServerError, RtError, TransportClosed, TransportError
from realtime_cli.runtime.runner import Runner, RunOptions
from realtime_cli.transport.endpoint import Endpoint
from realtime_cli.transport.memory import MemoryServer, MemoryTransport

ENDPOINT = Endpoint(url="ws://in-memory/v1/realtime", kind="custom")
MIC_BLOCK = pcm(20, value=1234)
TIMEOUT_S = 30.0


class FakeMic:
    """20 ms blocks of one recognisable value, as fast as the runner reads them (paced a little
    so the loop is not starved)."""

    exhausted = False

    async def start(self) -> None: ...

    async def read(self) -> bytes:
        await asyncio.sleep(0.02)
        return MIC_BLOCK

    def levels(self) -> SourceLevels:
        return SourceLevels(level_dbfs=-30.0, speech=False)

    async def close(self) -> None: ...


class FakeSpeaker:
    """Plays whatever it is given at once: an item is heard in full as soon as it is queued, and
    playback goes idle once the item's audio is complete."""

    def __init__(self) -> None:
        self.played: dict[str, bytearray] = {}
        self.ended: list[str] = []
        self._current: str | None = None

    async def start(self) -> None: ...

    def play(self, item_id: str, pcm: bytes) -> None:
        self.played.setdefault(item_id, bytearray()).extend(pcm)
        self._current = item_id

    def end_of_item(self, item_id: str) -> None:
        self.ended.append(item_id)

    def flush(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> SinkStatus:
        item = self._current
        played = len(self.played[item]) // 2 if item is not None else 0
        return SinkStatus(item_id=item, played_samples=played, buffered_ms=0.0, level_dbfs=-120.0,
                          underruns=0, idle=item is None or item in self.ended)

    async def close(self) -> None: ...


class Journal:
    def __init__(self) -> None:
        self.records: list[JournalRecord] = []

    def submit(self, record: JournalRecord) -> None:
        self.records.append(record)

    def take_warning(self) -> str | None:
        return None


def make_runner(transport: MemoryTransport, **options: Any) -> tuple[Runner, FakeSpeaker, Journal]:
    core = SessionCore(SessionConfig(transcription_model=None), session_id="m" * 32, now=0.0)
    speaker, journal = FakeSpeaker(), Journal()
    runner = Runner(core, ENDPOINT, FakeMic(), speaker, journal=journal, transport=transport,
                    options=RunOptions(**options))
    return runner, speaker, journal


def new_peer() -> ScriptedPeer:
    return ScriptedPeer(ManualClock())


async def send_scripted(server: MemoryServer, peer: ScriptedPeer) -> None:
    """Send what the peer scripted since the last call, as the JSON frames it built."""
    for frame in peer.take_wire():
        await server.send(frame)


async def make_ready(server: MemoryServer, peer: ScriptedPeer) -> None:
    peer.session_created(expires_in=None)
    await send_scripted(server, peer)
    await server.receive_until("session.update")
    peer.session_updated()
    await send_scripted(server, peer)


async def test_a_whole_turn_runs_through_the_memory_transport() -> None:
    transport = MemoryTransport()
    runner, speaker, journal = make_runner(transport, max_turns=1)
    peer = new_peer()

    async def server_side() -> tuple[dict[str, Any], list[dict[str, Any]], TransportClosed]:
        server = await transport.accept()
        await make_ready(server, peer)
        append = await server.receive_until("input_audio_buffer.append")
        peer.user_turn(0, 400)
        peer.response(audio_ms=300, transcript="Hello there.")
        await send_scripted(server, peer)
        after: list[dict[str, Any]] = []
        with pytest.raises(TransportClosed) as closed:
            while True:
                after.append(await server.receive_event())
        return append, after, closed.value

    async with asyncio.timeout(TIMEOUT_S):
        code, (append, after, closed) = await asyncio.gather(runner.run(), server_side())

    assert code == 0
    assert base64.b64decode(append["audio"]) == MIC_BLOCK
    assert closed.code == 1000  # the runner said goodbye once the turn was heard
    assert transport.connects == 1
    [item_id] = speaker.played
    assert item_id == peer.item_id
    assert bytes(speaker.played[item_id]) == pcm(300)  # every delta, in order, intact
    assert item_id in speaker.ended  # the core said the audio was complete
    assert runner.core.assistant_turns == 1
    assert not any(e["type"] == "response.cancel" for e in after)
    server_sessions = {r.server_session_id for r in journal.records if isinstance(r, ConnectionRecord)}
    assert "sess_Cabc123" in server_sessions


async def test_a_fatal_close_code_reaches_the_core_and_ends_the_run_with_it() -> None:
    transport = MemoryTransport()
    runner, _, journal = make_runner(transport)
    peer = new_peer()

    async def server_side() -> None:
        server = await transport.accept()
        await make_ready(server, peer)
        await server.close(4000, "beta_api_shape_disabled")

    async with asyncio.timeout(TIMEOUT_S):
        with pytest.raises(TransportError) as raised:
            await asyncio.gather(runner.run(), server_side())

    assert "4000" in raised.value.message and "beta_api_shape_disabled" in raised.value.message
    assert raised.value.exit_code == 3
    assert transport.connects == 1  # a fatal code is never retried
    closes = [r.close_code for r in journal.records if isinstance(r, ConnectionRecord)
              if r.close_code is not None]
    assert closes == [4000]


async def test_a_connection_dropped_without_a_close_frame_is_reopened() -> None:
    transport = MemoryTransport()
    runner, _, _ = make_runner(transport)
    peer = new_peer()
    closed_codes: list[int | None] = []
    original_feed = runner.feed

    def feed(event: inp.Input) -> None:
        if isinstance(event, inp.Closed):
            closed_codes.append(event.code)
        original_feed(event)

    runner.feed = feed  # type: ignore[method-assign]

    async def server_side() -> None:
        first = await transport.accept()
        await make_ready(first, peer)
        first.drop()
        second = await transport.accept()  # the core asked for a new connection
        await make_ready(second, new_peer())
        runner.stop(0, "test done")

    async with asyncio.timeout(TIMEOUT_S):
        code, _ = await asyncio.gather(runner.run(), server_side())

    assert code == 0
    assert closed_codes == [None]
    assert transport.connects == 2


async def test_a_refused_first_connection_ends_the_run_with_the_transport_s_message() -> None:
    transport = MemoryTransport()
    transport.refuse(FatalServerError("HTTP 401 from in-memory: the API key was rejected"))
    runner, _, _ = make_runner(transport)
    async with asyncio.timeout(TIMEOUT_S):
        with pytest.raises(TransportError, match="HTTP 401 from in-memory"):
            await runner.run()
    assert transport.connects == 1


class EndingCore:
    """A stand-in core that ends the session at once with one `Shutdown`."""

    def __init__(self, shutdown: cmd.Shutdown) -> None:
        self.shutdown = shutdown

    def handle(self, event: inp.Input) -> list[cmd.Command]:
        return [self.shutdown] if isinstance(event, inp.Begin) else []

    def next_deadline(self) -> float | None:
        return None


@pytest.mark.parametrize(("cause", "error"), [
    (cmd.EndCause.CONFIG, errors.ConfigError),
    (cmd.EndCause.TRANSPORT, errors.TransportError),
    (cmd.EndCause.AUDIO, errors.AudioDeviceError),
    (cmd.EndCause.STORAGE, errors.StorageError),
])
async def test_a_failed_session_ends_with_the_error_of_its_cause(
    cause: cmd.EndCause, error: type[RtError],
) -> None:
    shutdown = cmd.Shutdown(exit_code=9, reason="it broke", cause=cause)
    runner = Runner(EndingCore(shutdown), ENDPOINT, FakeMic(), FakeSpeaker(),  # type: ignore[arg-type]
                    transport=MemoryTransport())
    async with asyncio.timeout(TIMEOUT_S):
        with pytest.raises(RtError) as raised:
            await runner.run()
    assert type(raised.value) is error
    assert raised.value.message == "it broke" and raised.value.exit_code == 9


@pytest.mark.parametrize("exit_code", [0, 130, 143])
async def test_a_normal_end_raises_nothing_and_keeps_its_exit_code(exit_code: int) -> None:
    shutdown = cmd.Shutdown(exit_code=exit_code, reason="quit by user")
    runner = Runner(EndingCore(shutdown), ENDPOINT, FakeMic(), FakeSpeaker(),  # type: ignore[arg-type]
                    transport=MemoryTransport())
    async with asyncio.timeout(TIMEOUT_S):
        assert await runner.run() == exit_code
