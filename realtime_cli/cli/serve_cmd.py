"""`rt serve`: run the offline GA Realtime server (realtime_cli.server) from the terminal.

The flags become a `ServerOptions`, which checks them. The server package is imported only
inside `serve` so `rt --help` stays fast; the flags' defaults are therefore written here as
literals, and tests/cli/test_help.py checks that they are `ServerOptions`' own.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeGuard, get_args

import typer

if TYPE_CHECKING:
    from realtime_cli.server.gemini import GeminiOptions
    from realtime_cli.server.options import ServerOptions

_ABOUT = (
    "It listens on ws://HOST:PORT/v1/realtime and accepts any API key. Turns are detected with a "
    "real VAD model (Silero); replies are espeak-ng speech that says something true about each "
    "turn. It can misbehave on purpose (expiry, dropped sockets, garbage frames, latency) for tests."
)
_FIRST_LINE = (
    "The first stdout line is [bold]rt serve listening on ws://HOST:PORT/v1/realtime[/], flushed "
    "at once (with --port 0 it names the port picked). Logs go to stderr."
)
SERVE_HELP = f"""Run a local, offline server that speaks the GA Realtime protocol.

{_ABOUT}

{_FIRST_LINE}

[bold]Examples[/]

  rt serve                               # ws://127.0.0.1:8765/v1/realtime

  rt serve --port 0                      # a free port, named on line 1

  rt serve --script replies.txt --pace 1 # scripted replies, real time

  rt serve --expire-after 30 --drop-after 20

  rt serve --garbage --latency 150 --record received.jsonl

  rt serve --tool-call get_weather       # user turns call a function

  rt serve --preamble "Let me check." --tool-call get_weather   # a message, then a call

  rt serve --fail rate_limit:1 --fail insufficient_quota:3      # failed responses

  rt serve --drop-on response.output_audio.done --fault-connections 1

  rt serve --replay bug.jsonl            # a trace written by rt talk --trace bug.jsonl

  rt serve --refuse-key bad              # the key "bad" gets HTTP 401 on the upgrade

  rt serve --protocol gemini --refuse-key bad   # Gemini Live; "bad" is closed with 1007

  rt serve --protocol gemini --unresumable --drop-after 20   # a drop with no handle to resume
"""

Host = Annotated[str, typer.Option("--host", help="Interface to bind (default loopback only).")]
Port = Annotated[int, typer.Option("--port", "-p", help="TCP port; 0 picks a free one.")]
ExpireAfter = Annotated[float, typer.Option(
    "--expire-after", help="Session length in seconds: then error session_expired, close 1001.")]
DropAfter = Annotated[float | None, typer.Option(
    "--drop-after", help="Drop each socket after S seconds without a close frame.")]
FaultConnections = Annotated[int | None, typer.Option(
    "--fault-connections", help="Apply --expire-after/--drop-after to the first N connections only.")]
Garbage = Annotated[bool, typer.Option(
    "--garbage", help="Interleave malformed JSON, unknown events and binary frames.")]
Latency = Annotated[float, typer.Option("--latency", help="Delay every server event by MS ms.")]
Pace = Annotated[float, typer.Option(
    "--pace", help="Reply audio speed vs real time (4 = 4x faster; 0 = as fast as possible).")]
ChunkMs = Annotated[int, typer.Option("--chunk-ms", help="Audio per output_audio.delta, in ms.")]
Script = Annotated[Path | None, typer.Option(
    "--script", help="Reply with the lines of this file, in order, cycling.")]
ToolCall = Annotated[str | None, typer.Option(
    "--tool-call", help="Answer every user turn with a call to this function.")]
Record = Annotated[Path | None, typer.Option(
    "--record", help="Append every client event received to this JSON-lines file.")]
VoiceEngineFlag = Annotated[str, typer.Option(
    "--voice-engine", help="auto (espeak-ng if installed), espeak, or synthetic.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No per-connection log lines.")]
Seed = Annotated[int | None, typer.Option(
    "--seed", help="Make ids and padding repeat from run to run.")]
TranscriptionDelay = Annotated[float, typer.Option(
    "--transcription-delay",
    help="Input transcription deltas and completed come MS ms after the commit.")]
BurstMs = Annotated[int, typer.Option(
    "--burst-ms", help="Send the first MS ms of each answer's audio at once, then pace it.")]
Preamble = Annotated[str | None, typer.Option(
    "--preamble", help="Start every answer to a user turn with this spoken message.")]
Fail = Annotated[list[str] | None, typer.Option(
    "--fail", help="End response N (every one without :N) as KIND: rate_limit, "
    "insufficient_quota, server_error (failed), max_output_tokens, content_filter "
    "(incomplete). Repeatable.", metavar="KIND[:N]")]
FirstAudioDelay = Annotated[float, typer.Option(
    "--first-audio-delay", help="Hold the first audio of each answer back by MS ms.")]
Replay = Annotated[Path | None, typer.Option(
    "--replay", help="Play this wire trace's server events (rt talk --trace) to each client, "
    "paced as recorded, after its session.update.", metavar="FILE")]
Protocol = Annotated[str, typer.Option(
    "--protocol", help="openai (the GA Realtime API) or gemini (Gemini Live, on "
    "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent; "
    "--expire-after is then each connection's length, announced by goAway).")]
RefuseKey = Annotated[list[str] | None, typer.Option(
    "--refuse-key", help="Answer this API key as invalid, as the service does (HTTP 401 on "
    "the upgrade; with --protocol gemini, close 1007 at the setup). Repeatable.",
    metavar="KEY")]
HandleTtl = Annotated[float | None, typer.Option(
    "--handle-ttl", help="With --protocol gemini: a session's resumption handles expire S "
    "seconds after its last connection ended (a later resume is refused with 1008); "
    "by default they last while the server runs.", metavar="S")]
Unresumable = Annotated[bool, typer.Option(
    "--unresumable", help="With --protocol gemini: hand out no resumption handle (each "
    "sessionResumptionUpdate says the session is not resumable), so a client whose "
    "connection ends must start a new session.")]
DropOn = Annotated[str | None, typer.Option(
    "--drop-on", help="Drop the socket right after the first server event of this type.",
    metavar="EVENT_TYPE")]


def _read_script(path: Path) -> tuple[str, ...]:
    from realtime_cli.errors import ConfigError

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read --script {path}: {exc.strerror}") from None
    kept = tuple(line.strip() for line in lines if line.strip())
    if not kept:
        raise ConfigError(f"--script {path} has no non-empty lines")
    return kept


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _announce(line: str) -> None:
    print(line, flush=True)


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8765,
    expire_after: ExpireAfter = 3600.0,
    drop_after: DropAfter = None,
    fault_connections: FaultConnections = None,
    garbage: Garbage = False,
    latency: Latency = 0.0,
    pace: Pace = 4.0,
    chunk_ms: ChunkMs = 100,
    script: Script = None,
    tool_call: ToolCall = None,
    record: Record = None,
    voice_engine: VoiceEngineFlag = "auto",
    quiet: Quiet = False,
    seed: Seed = None,
    transcription_delay: TranscriptionDelay = 600.0,
    burst_ms: BurstMs = 2000,
    preamble: Preamble = None,
    fail: Fail = None,
    first_audio_delay: FirstAudioDelay = 0.0,
    drop_on: DropOn = None,
    replay: Replay = None,
    protocol: Protocol = "openai",
    refuse_key: RefuseKey = None,
    handle_ttl: HandleTtl = None,
    unresumable: Unresumable = False,
) -> None:
    """Run a local, offline server that speaks the GA Realtime protocol (see --help)."""
    from realtime_cli.errors import ConfigError
    from realtime_cli.server.options import ServerOptions, VoiceEngine
    from realtime_cli.server.response_faults import ResponseFault

    engines: tuple[str, ...] = get_args(VoiceEngine)

    def known(name: str) -> TypeGuard[VoiceEngine]:
        return name in engines

    if protocol not in ("openai", "gemini"):
        raise ConfigError(f"--protocol must be openai or gemini, not {protocol!r}")
    if protocol != "gemini" and unresumable:
        raise ConfigError("--unresumable needs --protocol gemini")
    if protocol != "gemini" and handle_ttl is not None:
        raise ConfigError("--handle-ttl needs --protocol gemini")
    if protocol == "gemini" and replay is not None:
        raise ConfigError("--replay plays OpenAI Realtime traces; it cannot run with --protocol gemini")
    if not known(voice_engine):
        *first, last = engines
        raise ConfigError(f"--voice-engine must be {', '.join(first)} or {last}, "
                          f"not {voice_engine!r}")
    options = ServerOptions(
        host=host,
        port=port,
        expire_after=expire_after,
        drop_after=drop_after,
        fault_connections=fault_connections,
        garbage=garbage,
        latency_ms=latency,
        pace=pace,
        chunk_ms=chunk_ms,
        script=_read_script(script) if script is not None else (),
        tool_call=tool_call,
        record=record,
        voice_engine=voice_engine,
        seed=seed,
        transcription_delay_ms=transcription_delay,
        burst_ms=burst_ms,
        preamble=preamble,
        fail=tuple(ResponseFault.parse(spec) for spec in fail or ()),
        first_audio_delay_ms=first_audio_delay,
        drop_on=drop_on,
        refused_keys=frozenset(refuse_key or ()) if protocol == "openai" else frozenset(),
        log=None if quiet else _stderr,
    )
    import asyncio

    gemini = None
    if protocol == "gemini":
        from realtime_cli.server.gemini import GeminiOptions

        gemini = GeminiOptions(refused_keys=frozenset(refuse_key or ()), handle_ttl=handle_ttl,
                               resumable=not unresumable)
    asyncio.run(_main(options, replay, gemini))
    if not quiet:
        _stderr("rt serve: stopped")


async def _main(options: ServerOptions, replay: Path | None = None,
                gemini: GeminiOptions | None = None) -> None:
    import asyncio
    import signal

    from realtime_cli.server import serve_until_stopped

    state = None
    if replay is not None:
        from realtime_cli.server.replay import ReplayServer, read_trace

        state = ReplayServer(options, read_trace(replay), replay)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if gemini is not None:
        from realtime_cli.server.gemini import serve_gemini_until_stopped

        await serve_gemini_until_stopped(options, gemini, _announce, stop)
        return
    await serve_until_stopped(options, _announce, stop, state=state)


serve.__doc__ = SERVE_HELP
