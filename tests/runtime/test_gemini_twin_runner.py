"""The whole runner with the Gemini codec over a real loopback WebSocket to `rt serve --protocol
gemini` running in this process: what only shows when the core, the runner, the codec and the
twin meet (a tool the service withdraws, a resumption the service refuses, the key on the
wire). Fake microphone and speaker, no device; turn detection off, so no VAD runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from realtime_cli.audio.interfaces import SinkStatus, SourceLevels
from realtime_cli.core import inputs as inp
from realtime_cli.core.config import SessionConfig, ToolSpec
from realtime_cli.core.records import ItemKind, ItemRecord, JournalRecord
from realtime_cli.core.session import SessionCore
from realtime_cli.core.states import SessionState
from realtime_cli.protocol.gemini_live import GeminiLiveCodec
from realtime_cli.runtime.runner import Runner
from realtime_cli.server import ServerOptions
from realtime_cli.server.gemini import GeminiOptions, RunningGeminiServer, run_gemini_server
from realtime_cli.transport.gemini_endpoint import resolve_gemini_endpoint

TIMEOUT_S = 20.0
KEY = "AIzaSy-twin-test-key-000000000000"
WEATHER = ToolSpec(name="get_weather", description="Weather in a city.",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}})


class QuietMic:
    exhausted = False

    async def start(self) -> None: ...

    async def read(self) -> bytes:
        await asyncio.sleep(0.02)
        return bytes(960)

    def levels(self) -> SourceLevels:
        return SourceLevels(level_dbfs=-120.0, speech=False)

    async def close(self) -> None: ...


class InstantSpeaker:
    """Everything queued is heard at once; idle when the item's audio is complete."""

    def __init__(self) -> None:
        self.played: dict[str, int] = {}
        self.ended: set[str] = set()
        self.current: str | None = None

    async def start(self) -> None: ...

    def play(self, item_id: str, pcm: bytes) -> None:
        self.played[item_id] = self.played.get(item_id, 0) + len(pcm) // 2
        self.current = item_id

    def end_of_item(self, item_id: str) -> None:
        self.ended.add(item_id)

    def flush(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> SinkStatus:
        item = self.current
        return SinkStatus(item_id=item, played_samples=self.played.get(item or "", 0),
                          buffered_ms=0.0, level_dbfs=-120.0, underruns=0,
                          idle=item is None or item in self.ended)

    async def close(self) -> None: ...


@dataclass
class Journal:
    records: list[JournalRecord] = field(default_factory=list)

    def submit(self, record: JournalRecord) -> None:
        self.records.append(record)

    def take_warning(self) -> str | None:
        return None

    def items(self, kind: ItemKind) -> dict[str, ItemRecord]:
        """The latest record of each item of `kind`, by local id."""
        return {r.local_id: r for r in self.records if isinstance(r, ItemRecord) and r.kind is kind}


@dataclass
class Run:
    runner: Runner
    core: SessionCore
    journal: Journal
    srv: RunningGeminiServer

    def say(self, text: str) -> None:
        self.runner.feed(inp.UserCommand(now=self.runner.clock.monotonic(),
                                         action=inp.Action.SEND_TEXT, text=text))

    async def until(self, what: Callable[[], bool], why: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT_S
        while not what():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {why}; state {self.core.state}")
            await asyncio.sleep(0.01)


@asynccontextmanager
async def talking(gemini: GeminiOptions | None = None, *,
                  tools: Callable[[str, str], Awaitable[str]] | None = None,
                  **options: Any) -> AsyncIterator[Run]:
    """A ready conversation with the twin, ended (and its run awaited) on leaving."""
    defaults: dict[str, Any] = {"port": 0, "pace": 0.0}
    async with run_gemini_server(ServerOptions(**(defaults | options)), gemini) as srv:
        config = SessionConfig(provider="gemini", model="gemini-3.8-live", voice="Puck",
                               tools=(WEATHER,), turn_detection="none", transcription_model=None,
                               idle_timeout_s=None)
        core = SessionCore(config, session_id="g" * 32, now=0.0)
        journal = Journal()
        endpoint = resolve_gemini_endpoint(url=srv.url, env={"GEMINI_API_KEY": KEY})
        runner = Runner(core, endpoint, QuietMic(), InstantSpeaker(), journal=journal,
                        tools=tools, codec=lambda: GeminiLiveCodec(config))
        task = asyncio.create_task(runner.run())
        run = Run(runner, core, journal, srv)
        try:
            await run.until(lambda: core.state is SessionState.READY or task.done(), "ready")
            yield run
        finally:
            if not task.done():
                runner.stop(0, "test over")
            await asyncio.wait_for(task, TIMEOUT_S)


async def test_a_tool_the_service_withdraws_is_stopped_and_never_answered() -> None:
    started, stopped = asyncio.Event(), asyncio.Event()

    async def slow_weather(name: str, arguments: str) -> str:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            stopped.set()
            raise
        return "sunny"

    async with talking(tools=slow_weather) as run:
        run.say("Use get_weather for Oslo, please.")
        await asyncio.wait_for(started.wait(), TIMEOUT_S)
        run.say("Never mind.")  # a new turn over the pending call: the service cancels it
        await asyncio.wait_for(stopped.wait(), TIMEOUT_S)
        await run.until(lambda: run.core.assistant_turns >= 1 and run.core.is_quiet(),
                        "the answer to the new turn")
        assert run.srv.messages("toolResponse") == []
        [call] = run.journal.items(ItemKind.TOOL_CALL).values()
        assert call.name == "get_weather" and call.status == "cancelled"
        assert run.journal.items(ItemKind.TOOL_RESULT) == {}
        assert not run.runner._tool_tasks  # noqa: SLF001 - nothing is left running
        assert run.srv.credentials == [{"query": KEY, "header": KEY}]  # the key in both places


async def test_a_refused_resumption_handle_is_dropped_and_the_history_replayed() -> None:
    """The first connection drops; its handle has expired by the time rt offers it (the twin's
    `--handle-ttl 0`), so the twin closes with 1008. rt does not offer it again: the next
    connection starts a new session, told the conversation as text, and talking goes on."""
    async with talking(GeminiOptions(handle_ttl=0.0), drop_after=1.0,
                       fault_connections=1) as run:
        run.say("hello there")
        await run.until(lambda: run.core.assistant_turns >= 1, "the first answer")
        await run.until(lambda: run.srv.connections >= 3
                        and run.core.state is SessionState.READY, "the third connection")
        run.say("and now?")
        await run.until(lambda: run.core.assistant_turns >= 2, "the answer after the replay")
        setups = [m["setup"] for m in run.srv.messages("setup")]
        assert setups[0]["sessionResumption"] == {}
        handle = setups[1]["sessionResumption"]["handle"]
        assert handle and setups[2]["sessionResumption"] == {}  # the refused one, not again
        replayed = run.srv.messages("clientContent", conn=3)
        assert "hello there" in str(replayed[0]), replayed
        assert run.core.metrics.reconnects == 2
