"""The asyncio driver: feeds the session core and executes its commands. Nothing else.

One runner per conversation. Every task belongs to one TaskGroup; the core is only touched
from the event loop. Threads cross into the loop in the audio adapters and the journal writer,
never here.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, assert_never

from realtime_cli.audio.interfaces import AudioSink, AudioSource, SinkStatus, SourceLevels
from realtime_cli.clock import Clock, SystemClock
from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.cleanup import CleanupFailure, CleanupStack
from realtime_cli.core.records import JournalRecord
from realtime_cli.core.session import SessionCore
from realtime_cli.core.snapshot import CoreSnapshot
from realtime_cli.errors import (
    AudioDeviceError,
    ConfigError,
    FatalServerError,
    RtError,
    StorageError,
    TransportClosed,
    TransportError,
)
from realtime_cli.protocol.openai_ga import OpenAIGACodec
from realtime_cli.protocol.wire import WireCodec
from realtime_cli.runtime.refusals import close_refusal, event_refusal
from realtime_cli.runtime.teardown import run_cleanup
from realtime_cli.transport.base import Connection, Transport
from realtime_cli.transport.endpoint import Endpoint

POLL_S = 0.02  # playback-progress poll while the speaker plays its last queued audio
IDLE_POLL_S = 0.1  # ... and while it is silent: a wake-up costs CPU, and deadlines still cut it short
# While more audio is queued than one poll's worth, the speaker cannot go idle before it has
# played: the poll waits that long (at most IDLE_POLL_S), so an answer streamed in real time is
# polled about 10 times a second instead of 50, and its end is still seen within POLL_S. What
# needs the played position exactly polls first: a server event, a user command.
TASKS_STOP_S = 2.0  # the session's tasks end at once when cancelled; a stuck one is left
VIEW_EVERY_S = 0.25  # dashboard refresh: 4 per second (the Dashboard refresh rate)
# The error a failed session ends with, by what failed (a normal end raises nothing).
END_ERRORS: dict[cmd.EndCause, type[RtError]] = {
    cmd.EndCause.CONFIG: ConfigError,
    cmd.EndCause.TRANSPORT: TransportError,
    cmd.EndCause.AUDIO: AudioDeviceError,
    cmd.EndCause.STORAGE: StorageError,
}


class JournalSink(Protocol):
    def submit(self, record: JournalRecord) -> None: ...

    def take_warning(self) -> str | None:
        """The first write failure, once: the disk never stops the conversation, it is told."""
        ...


class Observer(Protocol):
    """Something that shows the session: plain lines, JSON lines or the dashboard."""

    def handle(self, command: cmd.Command, elapsed: float) -> None: ...


class ViewSink(Protocol):
    def update(self, core: CoreSnapshot, mic: SourceLevels | None, sink: SinkStatus | None) -> None:
        ...


ToolCall = Callable[[str, str], Awaitable[str]]


@dataclass(slots=True)
class RunOptions:
    max_turns: int | None = None
    stop_when_input_ends: bool = False
    input_end_grace_s: float = 2.0


@dataclass(slots=True)
class _Connection:
    link: Connection
    codec: WireCodec
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    expected_close: bool = False


class Runner:
    def __init__(
        self,
        core: SessionCore,
        endpoint: Endpoint,
        source: AudioSource,
        sink: AudioSink,
        *,
        journal: JournalSink | None = None,
        observers: list[Observer] | None = None,
        view: ViewSink | None = None,
        tools: ToolCall | None = None,
        options: RunOptions | None = None,
        clock: Clock | None = None,
        transport: Transport | None = None,
        codec: Callable[[], WireCodec] = OpenAIGACodec,
    ) -> None:
        """`transport` defaults to WebSockets to `endpoint`; tests and benches pass another
        (`transport/memory.py`) to run the same runner without a socket. `codec` makes the wire
        codec of each new connection (the provider's protocol)."""
        self.core = core
        self.endpoint = endpoint
        self.transport = transport if transport is not None else _websocket_transport(endpoint)
        self.codec = codec
        self.source = source
        self.sink = sink
        self.journal = journal
        self.observers = observers or []
        self.view = view
        self.tools = tools
        self.options = options or RunOptions()
        self.clock = clock or SystemClock()
        self.exit_code = 0
        self.error: RtError | None = None
        self._refusal: RtError | None = None  # what a session ending on the input fed means
        self._conn: _Connection | None = None
        self._done = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tool_tasks: dict[str, asyncio.Task[Any]] = {}  # by call id, while they run
        self._tg: asyncio.TaskGroup | None = None
        self._last_playback: tuple[str | None, int, bool] | None = None
        self._buffered_s = 0.0  # audio the sink held at the last poll
        self._input_ended_at: float | None = None
        self._started = 0.0
        self._signals = 0
        self.background: list[Callable[[], Coroutine[Any, Any, Any]]] = []
        self.cleanup_failures: list[CleanupFailure] = []

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, code)
        cleanup = CleanupStack()
        try:
            await self.sink.start()
            cleanup.register("speaker", self.sink.close)
            await self.source.start()
            cleanup.register("microphone", self.source.close)
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                self._started = self.clock.monotonic()
                self.feed(inp.Begin(now=self._started, wall=self.clock.wall()))
                self._spawn(self._mic_loop())
                self._spawn(self._timer_loop())
                for factory in self.background:
                    self._spawn(factory())
                await self._done.wait()
                cleanup.register("tasks", self._stop_tasks, TASKS_STOP_S)
                cleanup.register("connection", self._close_connection)
                cleanup.register("playback", self.sink.stop, 1.0)
                await run_cleanup(cleanup, self.report_cleanup)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            await run_cleanup(cleanup, self.report_cleanup)  # what an error left undone
        if self.error is not None:
            raise self.error
        return self.exit_code

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        assert self._tg is not None
        task = self._tg.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_signal(self, code: int) -> None:
        self._signals += 1
        if self._signals > 1 or not self.core.lifecycle.is_active():
            self.force_stop(code)
            return
        self.feed(inp.UserCommand(now=self.clock.monotonic(), action=inp.Action.QUIT,
                                  exit_code=code))

    def force_stop(self, exit_code: int) -> None:
        """Second Ctrl-C: skip the graceful close; cleanups (devices, journal) still run."""
        self.exit_code = exit_code
        self._done.set()

    def stop(self, exit_code: int, reason: str) -> None:
        """End the conversation cleanly from outside the core (device lost, input ended)."""
        self._execute(self.core.close(self.clock.monotonic(), reason, exit_code))
        self._done.set()

    async def _stop_tasks(self) -> None:
        """Cancel the session's tasks and wait for them (the TaskGroup would wait unbounded)."""
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def report_cleanup(self, failure: CleanupFailure) -> None:
        """One line per step that failed or hung; the rest of the teardown went on."""
        print(f"rt: warning: while closing, {failure.name}: {failure.message}", file=sys.stderr)
        self.cleanup_failures.append(failure)

    # ------------------------------------------------------------------ feeding the core

    def elapsed(self) -> float:
        """Seconds since the session began, as every output line stamps them."""
        return self.clock.monotonic() - self._started

    def feed(self, event: inp.Input) -> None:
        if isinstance(event, inp.UserCommand):  # an interrupt or a pause cuts at what was heard
            self.poll_playback(event.now)
        self._execute(self.core.handle(event))

    def _feed_refusal(self, event: inp.Input, refusal: RtError | None) -> None:
        """Feed `event`; a failed session that ends on it ends with `refusal` (its class, its
        line, its exit code) rather than as a transport failure (a refused key: exit 2)."""
        self._refusal = refusal
        try:
            self.feed(event)
        finally:
            self._refusal = None

    def _execute(self, commands: list[cmd.Command]) -> None:
        elapsed = self.elapsed()
        for c in commands:
            for observer in self.observers:
                observer.handle(c, elapsed)
            match c:
                case cmd.Send():
                    if self._conn is not None:
                        for frame in self._conn.codec.encode(c.event):
                            self._conn.queue.put_nowait(frame)
                case cmd.Play():
                    self._to_sink(self.sink.play, c.item_id, c.pcm)
                case cmd.EndOfAudio():
                    self._to_sink(self.sink.end_of_item, c.item_id)
                case cmd.FlushPlayback():
                    self._to_sink(self.sink.flush)
                case cmd.Journal():
                    if self.journal is not None:
                        self.journal.submit(c.record)
                case cmd.Connect():
                    self._spawn(self._connect(c))
                case cmd.RunTool():
                    self._tool_tasks[c.call_id] = self._spawn(self._run_tool(c))
                case cmd.CancelTool():
                    running = self._tool_tasks.pop(c.call_id, None)
                    if running is not None:
                        running.cancel()  # a command tool's process group is killed with it
                case cmd.Shutdown():
                    self.exit_code = self.exit_code or c.exit_code
                    error = END_ERRORS.get(c.cause)
                    if error is not None and self.error is None:
                        refused = self._refusal if c.cause is cmd.EndCause.TRANSPORT else None
                        self.error = refused or error(c.reason, exit_code=c.exit_code)
                    self._done.set()
                case cmd.PausePlayback():
                    self._to_sink(self.sink.pause)
                case cmd.ResumePlayback():
                    self._to_sink(self.sink.resume)
                case cmd.StatusChanged() | cmd.Notice():
                    pass
                case _:
                    assert_never(c)

    def _to_sink(self, method: Callable[..., None], *args: Any) -> None:
        """A speaker lost mid-conversation ends it with its one-line error, journal intact."""
        if self.error is not None:
            return
        try:
            method(*args)
        except AudioDeviceError as exc:
            self.error = exc
            self.stop(exc.exit_code, exc.message)

    def poll_playback(self, now: float | None = None) -> None:
        """Tell the core how far playback got, before anything that depends on it."""
        status = self.sink.status()
        self._buffered_s = status.buffered_ms / 1000
        key = (status.item_id, status.played_samples, status.idle)
        if key != self._last_playback:
            self._last_playback = key
            self.feed(inp.Playback(now=self.clock.monotonic() if now is None else now,
                                   item_id=status.item_id, played_samples=status.played_samples,
                                   idle=status.idle))

    # ------------------------------------------------------------------ tasks

    async def _mic_loop(self) -> None:
        while not self._done.is_set():
            try:
                pcm = await self.source.read()
            except RtError as exc:
                self.error = exc
                self.stop(exc.exit_code, exc.message)
                return
            self.feed(inp.MicAudio(now=self.clock.monotonic(), pcm=pcm))
            if self.source.exhausted and self._input_ended_at is None:
                self._input_ended_at = self.clock.monotonic()

    async def _timer_loop(self) -> None:
        next_view = 0.0
        while not self._done.is_set():
            now = self.clock.monotonic()
            deadline = self.core.next_deadline()
            playing = self._last_playback is not None and not self._last_playback[2]
            poll = min(IDLE_POLL_S, max(POLL_S, self._buffered_s)) if playing else IDLE_POLL_S
            wait = poll if deadline is None else max(0.0, min(poll, deadline - now))
            await self.clock.sleep(wait)
            now = self.clock.monotonic()
            self.poll_playback()
            self.feed(inp.Tick(now=now))
            self._check_journal()
            self._check_exit_conditions(now)
            if self.view is not None and now >= next_view:
                next_view = now + VIEW_EVERY_S
                self.view.update(self.core.snapshot(now), self.source.levels(), self.sink.status())

    def _check_journal(self) -> None:
        """A full disk or a locked database: one warning, like any notice; talking goes on."""
        problem = self.journal.take_warning() if self.journal is not None else None
        if problem is not None:
            self.feed(inp.StorageTrouble(now=self.clock.monotonic(), problem=problem))

    def _check_exit_conditions(self, now: float) -> None:
        if self._done.is_set() or not self.core.lifecycle.is_active():
            return
        opts = self.options
        if opts.max_turns is not None and self.core.assistant_turns >= opts.max_turns \
                and self.core.is_quiet():
            self.stop(0, f"{self.core.assistant_turns} assistant turn(s) done")
        elif (opts.stop_when_input_ends and self._input_ended_at is not None
              and now - self._input_ended_at >= opts.input_end_grace_s and self.core.is_quiet()):
            self.stop(0, "input file finished")

    async def _connect(self, c: cmd.Connect) -> None:
        await self._close_connection(expected=True)
        if c.delay_s > 0:
            await self.clock.sleep(c.delay_s)
        try:
            link = await self.transport.connect(self.core.config.connection_timeout_s)
        except FatalServerError as exc:
            self._feed_refusal(inp.ConnectFailed(now=self.clock.monotonic(), message=exc.message,
                                                 fatal=True), exc)
            return
        except TransportError as exc:
            self.feed(inp.ConnectFailed(now=self.clock.monotonic(), message=exc.message))
            return
        conn = _Connection(link=link, codec=self.codec())
        self._conn = conn
        writer = self._spawn(self._writer(conn))
        self.feed(inp.Opened(now=self.clock.monotonic()))
        for event in conn.codec.opened():
            self.feed(inp.ServerMessage(now=self.clock.monotonic(), event=event))
        try:
            while True:
                frame = await link.receive()
                self.poll_playback()
                for event in conn.codec.decode(frame):
                    self._feed_refusal(inp.ServerMessage(now=self.clock.monotonic(), event=event),
                                       event_refusal(self.endpoint, event))
        except TransportClosed as exc:
            writer.cancel()
            if conn.expected_close or self._conn is not conn:
                return
            self._conn = None
            self._feed_refusal(
                inp.Closed(now=self.clock.monotonic(), code=exc.code, reason=exc.reason),
                close_refusal(conn.codec.name, self.endpoint, exc.code, exc.reason))

    async def _writer(self, conn: _Connection) -> None:
        """Sends in order; a send to a closed connection ends it, and the reader reports it."""
        with contextlib.suppress(TransportClosed):
            while True:
                text = await conn.queue.get()
                try:
                    await conn.link.send(text)
                finally:
                    conn.queue.task_done()

    async def _close_connection(self, expected: bool = True) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.expected_close = expected
        # let queued events (the final truncate, a cancel) reach the server first
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(conn.queue.join(), timeout=1.0)
        await conn.link.close()

    async def _run_tool(self, c: cmd.RunTool) -> None:
        """Cancelled (`CancelTool`) while it awaits the tool, it feeds nothing."""
        try:
            if self.tools is None:
                output = '{"error": "no tools are configured"}'
            else:
                output = await self.tools(c.name, c.arguments)
        finally:
            if self._tool_tasks.get(c.call_id) is asyncio.current_task():
                del self._tool_tasks[c.call_id]
        self.feed(inp.ToolOutput(now=self.clock.monotonic(), call_id=c.call_id, output=output))


def _websocket_transport(endpoint: Endpoint) -> Transport:
    """Imported on use, so the runner module itself pulls in no WebSocket library."""
    from realtime_cli.transport.websocket import WebSocketTransport

    return WebSocketTransport(endpoint)
