"""`rt talk` and `rt resume`: hold a spoken conversation."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from realtime_cli.audio.options import ECHO, PREBUFFER
from realtime_cli.core.config import SessionConfig

if TYPE_CHECKING:
    from realtime_cli.runtime.launch import TalkPlan
    from realtime_cli.runtime.resume import StoredConversation
    from realtime_cli.settings import Settings

TALK_HELP = """Talk with a realtime model. Speak; barge in any time.

[bold]Examples[/]

  rt talk                                   # microphone and speaker, OpenAI (OPENAI_API_KEY)
  rt talk --url ws://127.0.0.1:8765/v1/realtime              # a local `rt serve`, no key
  rt talk --provider gemini                 # Gemini Live (GEMINI_API_KEY)
  rt talk --input question.wav --output answer.wav --max-turns 1 --url ws://127.0.0.1:8765/v1/realtime
  rt talk --azure-endpoint https://res.openai.azure.com --azure-deployment my-rt --azure-model gpt-realtime
  rt talk --trace wire.jsonl                # every frame both ways, audio as its length
  rt talk --turn-detection none             # push-to-talk: space starts and ends a turn
"""

Provider = Annotated[str | None, typer.Option(
    "--provider", help="openai (default; also Azure and rt serve) or gemini (Gemini Live, key from "
                       "GEMINI_API_KEY or GOOGLE_API_KEY).")]
Model = Annotated[str | None, typer.Option(
    "--model", "-m", help="Model name (default gpt-realtime; with --provider gemini, Google's "
                          "current native-audio Live model).")]
Voice = Annotated[str | None, typer.Option("--voice", help="Voice, e.g. marin, cedar, alloy.")]
Instructions = Annotated[str | None, typer.Option("--instructions", help="System instructions.")]
Url = Annotated[str | None, typer.Option("--url", help="Any ws:// or wss:// realtime endpoint.")]
AzureEndpoint = Annotated[str | None, typer.Option(
    "--azure-endpoint", help="Azure OpenAI resource URL (key from AZURE_OPENAI_API_KEY).")]
AzureDeployment = Annotated[str | None, typer.Option(
    "--azure-deployment", help="Azure deployment (or in the --azure-endpoint URL).")]
AzureModel = Annotated[str | None, typer.Option(
    "--azure-model", help="The model behind the Azure deployment, e.g. gpt-realtime: prices the "
                          "session (without it the cost is n/a).")]
AzureTranscription = Annotated[str | None, typer.Option(
    "--azure-transcription-deployment",
    help="Azure deployment that transcribes your speech (without it: no transcript on Azure).")]
AllowInsecure = Annotated[bool, typer.Option(
    "--allow-insecure", help="Send the API key over plain ws:// to a host that is not this "
                             "machine (only on a network you trust).")]
Trace = Annotated[Path | None, typer.Option(
    "--trace", help="Record every frame in both directions to this file as JSON lines with "
                    "monotonic timestamps (audio as its length; never a key or auth header).")]
TraceAudio = Annotated[bool, typer.Option(
    "--trace-audio", help="Keep audio payloads in the --trace file.")]
InputWav = Annotated[Path | None, typer.Option(
    "--input", help="A WAV file instead of the microphone (any rate/channels).")]
OutputWav = Annotated[Path | None, typer.Option(
    "--output", help="Write what would be played to this WAV instead of the speaker.")]
InputDevice = Annotated[str | None, typer.Option(
    "--input-device", help="Microphone: index or name substring (see `rt devices`).")]
OutputDevice = Annotated[str | None, typer.Option(
    "--output-device", help="Speaker: index or name substring (see `rt devices`).")]
MaxTurns = Annotated[int | None, typer.Option(
    "--max-turns", min=1, help="Stop after N assistant turns.")]
Duration = Annotated[float | None, typer.Option(
    "--duration", min=0.1, help="Stop after S seconds.")]
TurnDetection = Annotated[str | None, typer.Option(
    "--turn-detection", help="server_vad (default), semantic_vad or none (push-to-talk).")]
Threshold = Annotated[float | None, typer.Option("--threshold", help="VAD threshold, 0-1.")]
SilenceMs = Annotated[int | None, typer.Option("--silence-ms", help="VAD silence to end a turn.")]
_DEFAULT = {f.name: f.default for f in dataclasses.fields(SessionConfig)}
BargeIn = Annotated[str | None, typer.Option(
    "--barge-in", help="on (default): talking over the assistant stops it; off: it plays on (the "
                       "server is told not to interrupt), and a manual interrupt still works.")]
IdleTimeout = Annotated[float | None, typer.Option(
    "--idle-timeout", min=0.1,
    help=f"End after S seconds without activity (default {_DEFAULT['idle_timeout_s']:g}; "
         "not counted while paused).")]
ResponseTimeout = Annotated[float | None, typer.Option(
    "--response-timeout", min=0.1,
    help=f"Give up on a reply that has not come, or stalled, after S seconds "
         f"(default {_DEFAULT['response_timeout_s']:g}).")]
ConnectTimeout = Annotated[float | None, typer.Option(
    "--connect-timeout", min=0.1,
    help=f"Give up on a connection attempt after S seconds "
         f"(default {_DEFAULT['connection_timeout_s']:g}).")]
NoInterrupt = Annotated[bool, typer.Option(
    "--no-server-interrupt", help="The server does not cancel on speech; rt cancels itself.")]
NoTranscription = Annotated[bool, typer.Option(
    "--no-transcription", help="Do not ask the server to transcribe your speech.")]
JsonLines = Annotated[bool, typer.Option("--json", help="One JSON object per line on stdout.")]
Plain = Annotated[bool, typer.Option("--plain", help="Plain lines even on a terminal.")]
NoAudio = Annotated[bool, typer.Option("--no-audio", help="Do not store audio in the journal.")]
Echo = Annotated[str | None, typer.Option(
    "--echo", help=f"Loudspeaker echo: {', '.join(ECHO.choices)} (off for headphones; "
                   f"default {ECHO.default}).")]
NoSave = Annotated[bool, typer.Option("--no-save", help="Do not journal this conversation.")]
DataDir = Annotated[str | None, typer.Option(
    "--data-dir", envvar="RT_DATA_DIR", help="Where sessions are stored.")]
Prebuffer = Annotated[float | None, typer.Option(
    "--prebuffer-ms",
    help=f"Audio queued before playback starts, {PREBUFFER.span} (default {PREBUFFER.default:g}).")]
Control = Annotated[str | None, typer.Option(
    "--control", help='stdin: read commands as JSON lines ({"cmd": "interrupt"}, {"cmd": "say", '
                      '"text": "..."}, pause, resume, mute, unmute, quit); plain lines, no dashboard.')]


@dataclass(frozen=True, slots=True, kw_only=True)
class TalkFlags:
    """The flags of `rt talk` and `rt resume` as given: None (or False) is "not given", so the
    environment, the config file and the defaults decide."""

    provider: str | None = None
    model: str | None = None
    voice: str | None = None
    instructions: str | None = None
    url: str | None = None
    azure_endpoint: str | None = None
    azure_deployment: str | None = None
    azure_model: str | None = None
    azure_transcription_deployment: str | None = None
    allow_insecure: bool = False
    trace: Path | None = None
    trace_audio: bool = False
    input_wav: Path | None = None
    output_wav: Path | None = None
    input_device: str | None = None
    output_device: str | None = None
    max_turns: int | None = None
    duration: float | None = None
    turn_detection: str | None = None
    threshold: float | None = None
    silence_ms: int | None = None
    no_server_interrupt: bool = False
    no_transcription: bool = False
    json_lines: bool = False
    plain: bool = False
    no_audio: bool = False
    no_save: bool = False
    data_dir: str | None = None
    prebuffer_ms: float | None = None
    echo: str | None = None
    replay_turns: int | None = None
    control: str | None = None
    barge_in: str | None = None
    idle_timeout: float | None = None
    response_timeout: float | None = None
    connect_timeout: float | None = None

    def setting_overrides(self) -> dict[str, Any]:
        """The settings these flags set, by setting name, for `load_settings`."""
        given = {
            "provider": self.provider, "model": self.model, "voice": self.voice,
            "instructions": self.instructions,
            "turn_detection": self.turn_detection, "threshold": self.threshold,
            "silence_duration_ms": self.silence_ms, "input_device": self.input_device,
            "output_device": self.output_device, "prebuffer_ms": self.prebuffer_ms,
            "echo": self.echo, "total_timeout_s": self.duration, "barge_in": self.barge_in,
            "idle_timeout_s": self.idle_timeout, "response_timeout_s": self.response_timeout,
            "connection_timeout_s": self.connect_timeout,
            "replay_max_turns": self.replay_turns,
            "interrupt_response": False if self.no_server_interrupt else None,
            "transcription_model": "" if self.no_transcription else None,
            "keep_audio": False if self.no_audio else None,
            "azure_model": self.azure_model,
            "azure_transcription_deployment": self.azure_transcription_deployment,
        }
        return {k: v for k, v in given.items() if v is not None}


def talk(
    provider: Provider = None, model: Model = None, voice: Voice = None,
    instructions: Instructions = None, url: Url = None,
    azure_endpoint: AzureEndpoint = None, azure_deployment: AzureDeployment = None,
    azure_model: AzureModel = None, azure_transcription_deployment: AzureTranscription = None,
    allow_insecure: AllowInsecure = False, trace: Trace = None, trace_audio: TraceAudio = False,
    input: InputWav = None, output: OutputWav = None, input_device: InputDevice = None,  # noqa: A002
    output_device: OutputDevice = None, max_turns: MaxTurns = None, duration: Duration = None,
    turn_detection: TurnDetection = None, threshold: Threshold = None, silence_ms: SilenceMs = None,
    no_server_interrupt: NoInterrupt = False, no_transcription: NoTranscription = False,
    json_lines: JsonLines = False, plain: Plain = False, no_audio: NoAudio = False,
    no_save: NoSave = False, data_dir: DataDir = None, prebuffer_ms: Prebuffer = None,
    echo: Echo = None, control: Control = None, barge_in: BargeIn = None,
    idle_timeout: IdleTimeout = None, response_timeout: ResponseTimeout = None,
    connect_timeout: ConnectTimeout = None,
) -> None:
    from realtime_cli.runtime.launch import run_talk

    flags = TalkFlags(
        provider=provider, model=model, voice=voice, instructions=instructions, url=url,
        azure_endpoint=azure_endpoint, azure_deployment=azure_deployment,
        azure_model=azure_model, azure_transcription_deployment=azure_transcription_deployment,
        allow_insecure=allow_insecure, trace=trace, trace_audio=trace_audio, input_wav=input,
        output_wav=output, input_device=input_device, output_device=output_device,
        max_turns=max_turns, duration=duration, turn_detection=turn_detection,
        threshold=threshold, silence_ms=silence_ms, no_server_interrupt=no_server_interrupt,
        no_transcription=no_transcription, json_lines=json_lines, plain=plain,
        no_audio=no_audio, no_save=no_save, data_dir=data_dir, prebuffer_ms=prebuffer_ms,
        echo=echo, control=control, barge_in=barge_in, idle_timeout=idle_timeout,
        response_timeout=response_timeout, connect_timeout=connect_timeout,
    )
    raise typer.Exit(run_talk(talk_plan(flags)))


talk.__doc__ = TALK_HELP


def resume(
    session: Annotated[str, typer.Argument(help="Session id or unique prefix (rt sessions list).")],
    provider: Provider = None, url: Url = None, azure_endpoint: AzureEndpoint = None,
    azure_deployment: AzureDeployment = None, azure_model: AzureModel = None,
    azure_transcription_deployment: AzureTranscription = None,
    allow_insecure: AllowInsecure = False, trace: Trace = None, trace_audio: TraceAudio = False,
    input: InputWav = None,  # noqa: A002
    output: OutputWav = None, input_device: InputDevice = None,
    output_device: OutputDevice = None, max_turns: MaxTurns = None, duration: Duration = None,
    json_lines: JsonLines = False, plain: Plain = False, no_audio: NoAudio = False,
    data_dir: DataDir = None, prebuffer_ms: Prebuffer = None, echo: Echo = None,
    control: Control = None, barge_in: BargeIn = None, idle_timeout: IdleTimeout = None,
    response_timeout: ResponseTimeout = None, connect_timeout: ConnectTimeout = None,
    replay_turns: Annotated[int | None, typer.Option(
        "--replay-turns", min=1, help="Replay the last N user turns; older ones are summarised.")
    ] = None,
) -> None:
    """Continue a stored conversation (even one that crashed) in a new server session.

    [bold]Examples[/]

      rt resume 3f2a                 # by unique id prefix, like git
      rt resume 3f2a --url ws://127.0.0.1:8765/v1/realtime
      rt resume 3f2a --provider gemini     # go on with the other provider (history as text)
    """
    from realtime_cli.runtime.launch import run_talk
    from realtime_cli.runtime.resume import load_stored_conversation

    flags = TalkFlags(
        provider=provider, url=url, azure_endpoint=azure_endpoint, azure_deployment=azure_deployment,
        azure_model=azure_model, azure_transcription_deployment=azure_transcription_deployment,
        allow_insecure=allow_insecure, trace=trace, trace_audio=trace_audio, input_wav=input,
        output_wav=output, input_device=input_device, output_device=output_device,
        max_turns=max_turns, duration=duration,
        json_lines=json_lines, plain=plain, no_audio=no_audio, data_dir=data_dir,
        prebuffer_ms=prebuffer_ms, echo=echo, replay_turns=replay_turns, control=control,
        barge_in=barge_in, idle_timeout=idle_timeout, response_timeout=response_timeout,
        connect_timeout=connect_timeout,
    )
    stored = load_stored_conversation(data_dir, session)
    raise typer.Exit(run_talk(talk_plan(flags, stored)))


def talk_plan(flags: TalkFlags, stored: StoredConversation | None = None) -> TalkPlan:
    """Flags + environment + config file (+ the settings a resumed conversation keeps, below the
    flags) -> a TalkPlan: config validated, input WAV found, endpoint and key resolved."""
    from realtime_cli.errors import ConfigError
    from realtime_cli.runtime.launch import TalkPlan
    from realtime_cli.settings import load_settings
    from realtime_cli.tools import ToolRunner
    from realtime_cli.transport.endpoint import resolve_endpoint

    overrides = dict(stored.settings) if stored is not None else {}
    if flags.provider and overrides.get("provider", "openai") != flags.provider:
        for name in ("model", "voice"):  # the other provider's names mean nothing here
            overrides.pop(name, None)
    overrides.update(flags.setting_overrides())
    settings = load_settings(overrides)
    config = settings.session_config()
    if flags.input_wav is not None and not flags.input_wav.is_file():  # before connecting
        raise ConfigError(f"input WAV not found: {flags.input_wav}")
    _check_trace(flags)
    _check_control(flags)
    if config.provider == "gemini":
        from realtime_cli.transport.gemini_endpoint import resolve_gemini_endpoint

        if flags.azure_endpoint or flags.azure_deployment:
            raise ConfigError("--azure-endpoint and --azure-deployment are for --provider openai")
        endpoint = resolve_gemini_endpoint(url=flags.url, env=os.environ,
                                           allow_insecure=flags.allow_insecure)
    else:
        endpoint = resolve_endpoint(model=config.model, url=flags.url,
                                    azure_endpoint=flags.azure_endpoint,
                                    azure_deployment=flags.azure_deployment, env=os.environ,
                                    allow_insecure=flags.allow_insecure)
    if endpoint.kind == "azure":
        config = _on_azure(config, settings, endpoint.deployment or "", flags, stored)
    decls = settings.tool_decls
    if stored is not None and stored.tools:  # the tools the conversation was held with
        from realtime_cli.tools import ToolDecl

        decls = tuple(ToolDecl.from_table(t, f"stored session: tools[{i}]")
                      for i, t in enumerate(stored.tools))
        config = config.replace(tools=tuple(d.spec() for d in decls))
    runner = ToolRunner(decls) if decls else None
    plan = TalkPlan(
        config=config, endpoint=endpoint, audio=settings.audio, data_dir=flags.data_dir,
        keep_audio=settings.keep_audio, journal=not flags.no_save,
        input_wav=flags.input_wav, output_wav=flags.output_wav,
        json_lines=flags.json_lines,
        dashboard=False if (flags.plain or flags.json_lines or flags.control) else None,
        max_turns=flags.max_turns, tools=runner.run if runner else None,
        client_settings={"echo": settings.audio.echo,
                         "tools": [d.to_table() for d in decls]},
        prices=settings.prices, trace_path=flags.trace, trace_audio=flags.trace_audio,
        control=flags.control,
    )
    if stored is None:
        return plan
    return replace(plan, session_id=stored.session_id, history=stored.history,
                   next_seq=stored.next_seq, resumed=True, prior_figures=stored.figures,
                   connections_before=stored.connections)


def _check_trace(flags: TalkFlags) -> None:
    """Trace mistakes are found before connecting, not after the first frame."""
    from realtime_cli.errors import ConfigError

    if flags.trace_audio and flags.trace is None:
        raise ConfigError("--trace-audio needs --trace FILE")
    if flags.trace is not None and not flags.trace.parent.is_dir():
        raise ConfigError(f"trace directory not found: {flags.trace.parent}")


def _check_control(flags: TalkFlags) -> None:
    """The command channel reads stdin, which the dashboard's keys would read too: with it the
    output is plain (or JSON) lines."""
    from realtime_cli.errors import ConfigError
    from realtime_cli.runtime.control import CONTROL_SOURCES

    if flags.control is not None and flags.control not in CONTROL_SOURCES:
        raise ConfigError(f"--control must be {' or '.join(CONTROL_SOURCES)}, not {flags.control!r}")


def _on_azure(config: SessionConfig, settings: Settings, deployment: str, flags: TalkFlags,
              stored: StoredConversation | None) -> SessionConfig:
    """On Azure the URL names a deployment, whose model rt cannot see: the session is priced
    and journaled by the model the user names (azure.model), else by what a resumed session
    kept, else as `azure:DEPLOYMENT`, which no built-in price matches. Input transcription
    must name an Azure deployment too, so it is on only when one is given (and not turned off):
    an OpenAI model name there would make the service refuse the session."""
    from realtime_cli.errors import ConfigError

    if flags.model:
        raise ConfigError("--model names an OpenAI model; on Azure name the deployment "
                          "(--azure-deployment) and the model behind it (--azure-model)")
    kept = stored.settings.get("model") if stored is not None else None
    model = settings.azure_model or kept or f"azure:{deployment}"
    transcription = settings.azure_transcription_deployment if config.transcription_model else None
    return config.replace(model=model, transcription_model=transcription)
