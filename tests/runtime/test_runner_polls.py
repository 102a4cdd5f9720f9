"""When the runner asks the speaker how far playback got: before a user command (so an
interrupt or a pause cuts at what was heard), and on its timer, as often as the speaker could go
idle: every POLL_S while it plays its last queued audio, less often while more is queued."""

from __future__ import annotations

import asyncio

from realtime_cli.audio.interfaces import SinkStatus, SourceLevels
from realtime_cli.clock import ManualClock
from realtime_cli.core import inputs as inp
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.session import SessionCore
from realtime_cli.runtime.runner import IDLE_POLL_S, POLL_S, Runner
from realtime_cli.transport.endpoint import Endpoint
from realtime_cli.transport.memory import MemoryTransport

ENDPOINT = Endpoint(url="ws://in-memory/v1/realtime", kind="custom")


class Mic:
    exhausted = False

    async def start(self) -> None: ...

    async def read(self) -> bytes:
        await asyncio.sleep(3600)
        return b""

    def levels(self) -> SourceLevels:
        return SourceLevels(level_dbfs=-120.0, speech=False)

    async def close(self) -> None: ...


class Speaker:
    """Reports whatever the test sets: the item, its played samples, the queue and idleness."""

    def __init__(self) -> None:
        self.item: str | None = None
        self.played = 0
        self.buffered_ms = 0.0
        self.idle = True
        self.polls = 0

    async def start(self) -> None: ...

    def play(self, item_id: str, pcm: bytes) -> None: ...

    def end_of_item(self, item_id: str) -> None: ...

    def flush(self) -> None: ...

    def stop(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def status(self) -> SinkStatus:
        self.polls += 1
        return SinkStatus(item_id=self.item, played_samples=self.played,
                          buffered_ms=self.buffered_ms, level_dbfs=-120.0, underruns=0,
                          idle=self.idle)

    async def close(self) -> None: ...


class RecordingClock(ManualClock):
    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await super().sleep(seconds)


def _runner(clock: ManualClock | None = None) -> tuple[Runner, Speaker, list[inp.Input]]:
    core = SessionCore(SessionConfig(transcription_model=None), session_id="p" * 32, now=0.0)
    seen: list[inp.Input] = []
    handle = core.handle

    def spy(event: inp.Input):  # type: ignore[no-untyped-def]
        seen.append(event)
        return handle(event)

    core.handle = spy  # type: ignore[method-assign]
    speaker = Speaker()
    runner = Runner(core, ENDPOINT, Mic(), speaker, transport=MemoryTransport(),
                    clock=clock or ManualClock())
    return runner, speaker, seen


def test_a_user_command_comes_after_the_position_heard_at_that_moment() -> None:
    runner, speaker, seen = _runner()
    speaker.item, speaker.played, speaker.idle = "item_1", 7_200, False
    runner.feed(inp.UserCommand(now=1000.5, action=inp.Action.INTERRUPT))
    playback, command = seen
    assert isinstance(playback, inp.Playback) and isinstance(command, inp.UserCommand)
    assert (playback.item_id, playback.played_samples, playback.idle) == ("item_1", 7_200, False)
    assert playback.now == command.now  # the same moment: time never runs backwards for the core
    runner.feed(inp.UserCommand(now=1000.6, action=inp.Action.RESUME))
    assert not isinstance(seen[2], inp.Playback)  # nothing moved since: nothing new to tell


async def test_the_timer_polls_as_often_as_the_speaker_could_go_idle() -> None:
    clock = RecordingClock()
    runner, speaker, _ = _runner(clock)
    task = asyncio.create_task(runner._timer_loop())
    try:
        async def step(buffered_ms: float, idle: bool) -> float:
            speaker.buffered_ms, speaker.idle = buffered_ms, idle
            speaker.item = "item_1"
            speaker.played += 480
            await asyncio.sleep(0)
            clock.advance(clock.waits[-1])  # the wait chosen before this poll
            for _ in range(3):
                await asyncio.sleep(0)
            return clock.waits[-1]  # the wait chosen after it

        assert await step(0.0, True) == IDLE_POLL_S  # silent
        assert await step(500.0, False) == IDLE_POLL_S  # much queued: at most IDLE_POLL_S
        assert await step(60.0, False) == 0.06  # it cannot go idle before that has played
        assert await step(5.0, False) == POLL_S  # its last audio: the end is seen within POLL_S
        assert await step(0.0, False) == POLL_S
    finally:
        task.cancel()
