"""Wiring for one conversation: endpoint, audio endpoints, journal, core, runner, display.

`rt talk` and `rt resume` differ only in the `Conversation` they describe; both end here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from realtime_cli.audio.interfaces import AudioSink, AudioSource
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.history import HistoryEntry
from realtime_cli.core.session import SessionCore
from realtime_cli.transport.endpoint import Endpoint

if TYPE_CHECKING:
    from realtime_cli.audio.echo.link import EchoLink


@dataclass(slots=True, kw_only=True)
class Conversation:
    config: SessionConfig
    endpoint: Endpoint
    data_dir: str | None = None
    keep_audio: bool = True
    journal: bool = True
    input_wav: Path | None = None
    output_wav: Path | None = None
    input_device: str | None = None
    output_device: str | None = None
    prebuffer_ms: float = 80.0
    output_block_ms: float = 5.0
    echo: str = "aec"  # loudspeaker echo handling when both ends are real devices
    json_lines: bool = False
    dashboard: bool | None = None  # None: when stdout is a terminal
    max_turns: int | None = None
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    history: Sequence[HistoryEntry] = ()
    next_seq: int = 0
    resumed: bool = False
    tools: Callable[[str, str], Awaitable[str]] | None = None
    prices: dict[str, dict[str, float]] | None = None


def open_audio(conv: Conversation) -> tuple[AudioSource, AudioSink]:
    """The microphone and speaker (or WAV files). Echo handling links a real speaker to a real
    microphone: only then can the assistant's voice come back into the conversation."""
    echo = _echo_link(conv.echo) if conv.input_wav is None and conv.output_wav is None else None
    source: AudioSource
    sink: AudioSink
    if conv.input_wav is not None:
        from realtime_cli.audio.wavdev import WavSource

        source = WavSource(conv.input_wav)
    else:
        from realtime_cli.audio.capture import MicSource

        _quiet_native_stderr()
        source = MicSource(conv.input_device, echo=echo)
    if conv.output_wav is not None:
        from realtime_cli.audio.wavdev import WavSink

        sink = WavSink(conv.output_wav, prebuffer_ms=conv.prebuffer_ms)
    else:
        from realtime_cli.audio.playback import SpeakerSink

        _quiet_native_stderr()
        sink = SpeakerSink(conv.output_device, prebuffer_ms=conv.prebuffer_ms,
                           block_ms=conv.output_block_ms, echo=echo)
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

        processor = EchoRecorder(processor, Path(record))
    return EchoLink(processor)


def _quiet_native_stderr() -> None:
    """Real devices: PortAudio/alsa-lib print their own diagnostics on fd 2 when a device fails;
    rt's one-line error says it already, so those lines are filtered out."""
    from realtime_cli.audio.native_stderr import install

    install()


def run_conversation(conv: Conversation) -> int:
    """Run until the conversation ends; returns the exit code (RtError propagates)."""
    from realtime_cli.runtime.output import LineOutput
    from realtime_cli.runtime.runner import Observer, Runner, RunOptions

    core = SessionCore(conv.config, session_id=conv.session_id, now=0.0, history=conv.history,
                       next_seq=conv.next_seq, resumed=conv.resumed, keep_audio=conv.keep_audio)
    journal = None
    if conv.journal:
        from realtime_cli.storage.journal import JournalWriter
        from realtime_cli.storage.paths import db_path

        journal = JournalWriter(db_path(conv.data_dir), keep_audio=conv.keep_audio)
    use_dashboard = sys.stdout.isatty() and not conv.json_lines if conv.dashboard is None \
        else conv.dashboard
    observers: list[Observer] = [] if use_dashboard else [
        LineOutput(json_lines=conv.json_lines, transcripts=bool(conv.config.transcription_model))]
    runner = Runner(
        core, conv.endpoint, *open_audio(conv), journal=journal,
        observers=observers, tools=conv.tools,
        options=RunOptions(max_turns=conv.max_turns,
                           stop_when_input_ends=conv.input_wav is not None),
    )
    try:
        if use_dashboard:
            from realtime_cli.runtime.interactive import run_with_dashboard

            code = run_with_dashboard(runner, conv)
        else:
            code = asyncio.run(runner.run())
    except BaseException:
        if journal is not None:  # still saved what it can; the error in flight says more
            with contextlib.suppress(Exception):
                journal.close(timeout=10.0)
        raise
    if journal is not None:
        journal.close(timeout=10.0)  # records that could not be saved: StorageError, one line
    return code
