"""Wiring for one talk run: endpoint, audio endpoints, journal, core, runner, display.

`rt talk` and `rt resume` differ only in the `TalkPlan` they describe; both end here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from realtime_cli.audio.interfaces import AudioSink, AudioSource
from realtime_cli.audio.options import AudioOptions
from realtime_cli.clock import Clock, SystemClock
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.history import HistoryEntry
from realtime_cli.core.records import SessionFigures
from realtime_cli.core.session import SessionCore
from realtime_cli.transport.endpoint import Endpoint

if TYPE_CHECKING:
    from realtime_cli.audio.echo.link import EchoLink
    from realtime_cli.protocol.wire import WireCodec


@dataclass(frozen=True, slots=True, kw_only=True)
class TalkPlan:
    """Everything one run of `rt talk` or `rt resume` was decided to be before anything opens:
    the session config, where to connect, the audio ends and their options, what to store,
    how to show it, and (resuming) the history it continues."""

    config: SessionConfig
    endpoint: Endpoint
    audio: AudioOptions = field(default_factory=AudioOptions)
    data_dir: str | None = None
    keep_audio: bool = True
    journal: bool = True
    input_wav: Path | None = None  # instead of the microphone
    output_wav: Path | None = None  # instead of the speaker
    json_lines: bool = False
    dashboard: bool | None = None  # None: when stdout is a terminal
    max_turns: int | None = None
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    history: Sequence[HistoryEntry] = ()
    next_seq: int = 0
    resumed: bool = False
    prior_figures: SessionFigures | None = None  # a resumed session's, counted on from
    tools: Callable[[str, str], Awaitable[str]] | None = None
    prices: dict[str, dict[str, float]] | None = None
    client_settings: dict[str, Any] = field(default_factory=dict)  # journaled for rt resume
    connections_before: int = 0  # a resumed session's earlier connections
    # The wire trace: every frame in both directions as JSON lines with monotonic timestamps,
    # audio payloads replaced by their length unless `trace_audio`; never a key or auth header.
    trace_path: Path | None = None
    trace_audio: bool = False
    control: str | None = None  # "stdin": JSON commands, one per line (runtime/control.py)


def open_audio(plan: TalkPlan, clock: Clock) -> tuple[AudioSource, AudioSink]:
    """The microphone and speaker (or WAV files, paced by `clock`). Echo handling links a real
    speaker to a real microphone: only then can the assistant's voice come back into the
    conversation."""
    options = plan.audio
    echo = _echo_link(options.echo) if plan.input_wav is None and plan.output_wav is None else None
    source: AudioSource
    sink: AudioSink
    if plan.input_wav is not None:
        from realtime_cli.audio.wavdev import WavSource

        source = WavSource(plan.input_wav, clock=clock)
    else:
        from realtime_cli.audio.capture import HOLD_MARGIN_S, MicSource

        _quiet_native_stderr()
        hold_s = plan.config.silence_duration_ms / 1000 + HOLD_MARGIN_S
        source = MicSource(options.input_device, echo=echo, hold_s=hold_s)
    if plan.output_wav is not None:
        from realtime_cli.audio.wavdev import WavSink

        sink = WavSink(plan.output_wav, prebuffer_ms=options.prebuffer_ms, clock=clock)
    else:
        from realtime_cli.audio.playback import SpeakerSink

        _quiet_native_stderr()
        sink = SpeakerSink(options.output_device, prebuffer_ms=options.prebuffer_ms,
                           block_ms=options.output_block_ms, echo=echo)
    return source, sink


def _echo_link(mode: str) -> EchoLink:
    """The echo processor for `mode`, recorded to $RT_ECHO_RECORD when set (see echo.record)."""
    from realtime_cli.audio.echo import EchoProcessor, make_echo
    from realtime_cli.audio.echo.link import EchoLink
    from realtime_cli.errors import AudioDeviceError

    try:
        processor: EchoProcessor = make_echo(mode)
    except AudioDeviceError as exc:  # no libspeexdsp: the gate still keeps the echo out
        print(f"rt: warning: {exc.message}; using --echo half-duplex", file=sys.stderr)
        processor = make_echo("half-duplex")
    if record := os.environ.get("RT_ECHO_RECORD"):
        from realtime_cli.audio.echo.record import EchoRecorder

        path = Path(record)
        if path.is_dir():  # one file per conversation: a test suite's runs all kept
            path = path / f"echo-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.npz"
        processor = EchoRecorder(processor, path)
    return EchoLink(processor)


def _quiet_native_stderr() -> None:
    """Real devices: PortAudio/alsa-lib print their own diagnostics on fd 2 when a device fails;
    rt's one-line error says it already, so those lines are filtered out."""
    from realtime_cli.audio.native_stderr import install

    install()


def wire_codec(config: SessionConfig) -> Callable[[], WireCodec]:
    """What makes the codec of each connection: the provider's wire protocol."""
    if config.provider == "gemini":
        from realtime_cli.protocol.gemini_live import GeminiLiveCodec

        return lambda: GeminiLiveCodec(config)
    from realtime_cli.protocol.openai_ga import OpenAIGACodec

    return OpenAIGACodec


def run_talk(plan: TalkPlan, clock: Clock | None = None) -> int:
    """Run until the conversation ends; returns the exit code (RtError propagates). `clock`
    (the system's by default) paces the WAV ends and stamps the journal's heartbeat."""
    from realtime_cli.runtime.output import LineOutput
    from realtime_cli.runtime.runner import Observer, Runner, RunOptions

    clock = clock or SystemClock()
    trace = None
    if plan.trace_path is not None:  # before the journal and devices: its error undoes nothing
        from realtime_cli.transport.trace import TraceWriter, TracingTransport
        from realtime_cli.transport.websocket import WebSocketTransport

        trace = TracingTransport(
            WebSocketTransport(plan.endpoint),
            TraceWriter(plan.trace_path, clock=clock, audio=plan.trace_audio), url=plan.endpoint.url)
    core = SessionCore(plan.config, session_id=plan.session_id, now=0.0, history=plan.history,
                       next_seq=plan.next_seq, resumed=plan.resumed, keep_audio=plan.keep_audio,
                       prior=plan.prior_figures, client=plan.client_settings,
                       connections_before=plan.connections_before)
    journal = None
    if plan.journal:
        from realtime_cli.storage.journal import JournalWriter
        from realtime_cli.storage.paths import db_path

        journal = JournalWriter(db_path(plan.data_dir), keep_audio=plan.keep_audio, clock=clock)
    use_dashboard = sys.stdout.isatty() and not plan.json_lines if plan.dashboard is None \
        else plan.dashboard
    observers: list[Observer] = [] if use_dashboard else [
        LineOutput(json_lines=plan.json_lines, transcripts=bool(plan.config.transcription_model))]
    runner = Runner(
        core, plan.endpoint, *open_audio(plan, clock), journal=journal,
        observers=observers, tools=plan.tools, clock=clock, transport=trace,
        codec=wire_codec(plan.config),
        options=RunOptions(max_turns=plan.max_turns,
                           stop_when_input_ends=plan.input_wav is not None),
    )
    if plan.control == "stdin":
        from realtime_cli.runtime.control import ControlErrors, control_loop

        errors = ControlErrors(json_lines=plan.json_lines)
        runner.background.append(lambda: control_loop(runner, sys.stdin, errors))
    try:
        if use_dashboard:
            from realtime_cli.runtime.interactive import run_with_dashboard

            code = run_with_dashboard(runner, plan)
        else:
            code = asyncio.run(runner.run())
    except BaseException:
        if journal is not None:  # still saved what it can; the error in flight says more
            with contextlib.suppress(Exception):
                journal.close(timeout=10.0)
        raise
    finally:
        if trace is not None:
            trace.close()
    if journal is not None:
        journal.close(timeout=10.0)  # records that could not be saved: StorageError, one line
    return code
