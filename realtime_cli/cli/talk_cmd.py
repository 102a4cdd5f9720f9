"""`rt talk` and `rt resume`: hold a spoken conversation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

TALK_HELP = """Talk with a realtime model. Speak; barge in any time.

[bold]Examples[/]

  rt talk                                   # microphone and speaker, OpenAI (OPENAI_API_KEY)
  rt talk --url ws://127.0.0.1:8765/v1/realtime              # a local `rt serve`, no key
  rt talk --input question.wav --output answer.wav --max-turns 1 --url ws://127.0.0.1:8765/v1/realtime
  rt talk --azure-endpoint https://res.openai.azure.com --azure-deployment gpt-realtime
  rt talk --turn-detection none             # push-to-talk: space starts and ends a turn
"""

Model = Annotated[str | None, typer.Option("--model", "-m", help="Model name (default gpt-realtime).")]
Voice = Annotated[str | None, typer.Option("--voice", help="Voice, e.g. marin, cedar, alloy.")]
Instructions = Annotated[str | None, typer.Option("--instructions", help="System instructions.")]
Url = Annotated[str | None, typer.Option("--url", help="Any ws:// or wss:// realtime endpoint.")]
AzureEndpoint = Annotated[str | None, typer.Option(
    "--azure-endpoint", help="Azure OpenAI resource URL (key from AZURE_OPENAI_API_KEY).")]
AzureDeployment = Annotated[str | None, typer.Option("--azure-deployment", help="Azure deployment.")]
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
NoInterrupt = Annotated[bool, typer.Option(
    "--no-server-interrupt", help="The server does not cancel on speech; rt cancels itself.")]
NoTranscription = Annotated[bool, typer.Option(
    "--no-transcription", help="Do not ask the server to transcribe your speech.")]
JsonLines = Annotated[bool, typer.Option("--json", help="One JSON object per line on stdout.")]
Plain = Annotated[bool, typer.Option("--plain", help="Plain lines even on a terminal.")]
NoAudio = Annotated[bool, typer.Option("--no-audio", help="Do not store audio in the journal.")]
Echo = Annotated[str | None, typer.Option(
    "--echo", help="Loudspeaker echo: aec (default), half-duplex, or off for headphones.")]
NoSave = Annotated[bool, typer.Option("--no-save", help="Do not journal this conversation.")]
DataDir = Annotated[str | None, typer.Option(
    "--data-dir", envvar="RT_DATA_DIR", help="Where sessions are stored.")]
Prebuffer = Annotated[float | None, typer.Option(
    "--prebuffer-ms", help="Audio queued before playback starts, 60-120 ms (default 80).")]


def _overrides(**flags: Any) -> dict[str, Any]:
    return {k: v for k, v in flags.items() if v is not None and v is not False}


def talk(
    model: Model = None, voice: Voice = None, instructions: Instructions = None, url: Url = None,
    azure_endpoint: AzureEndpoint = None, azure_deployment: AzureDeployment = None,
    input: InputWav = None, output: OutputWav = None, input_device: InputDevice = None,  # noqa: A002
    output_device: OutputDevice = None, max_turns: MaxTurns = None, duration: Duration = None,
    turn_detection: TurnDetection = None, threshold: Threshold = None, silence_ms: SilenceMs = None,
    no_server_interrupt: NoInterrupt = False, no_transcription: NoTranscription = False,
    json_lines: JsonLines = False, plain: Plain = False, no_audio: NoAudio = False,
    no_save: NoSave = False, data_dir: DataDir = None, prebuffer_ms: Prebuffer = None,
    echo: Echo = None,
) -> None:
    from realtime_cli.runtime.launch import run_conversation

    conv = _conversation(locals())
    raise typer.Exit(run_conversation(conv))


talk.__doc__ = TALK_HELP


def resume(
    session: Annotated[str, typer.Argument(help="Session id or unique prefix (rt sessions list).")],
    url: Url = None, azure_endpoint: AzureEndpoint = None,
    azure_deployment: AzureDeployment = None, input: InputWav = None,  # noqa: A002
    output: OutputWav = None, input_device: InputDevice = None,
    output_device: OutputDevice = None, max_turns: MaxTurns = None, duration: Duration = None,
    json_lines: JsonLines = False, plain: Plain = False, no_audio: NoAudio = False,
    data_dir: DataDir = None, prebuffer_ms: Prebuffer = None, echo: Echo = None,
    replay_turns: Annotated[int | None, typer.Option(
        "--replay-turns", min=1, help="Replay the last N user turns; older ones are summarised.")
    ] = None,
) -> None:
    """Continue a stored conversation (even one that crashed) in a new server session.

    [bold]Examples[/]

      rt resume 3f2a                 # by unique id prefix, like git
      rt resume 3f2a --url ws://127.0.0.1:8765/v1/realtime
    """
    from realtime_cli.runtime.launch import run_conversation
    from realtime_cli.runtime.resume import stored_conversation

    conv = stored_conversation(session, dict(locals()), _conversation)
    raise typer.Exit(run_conversation(conv))


def _conversation(args: dict[str, Any], base: dict[str, Any] | None = None) -> Any:
    """Flags + environment + config file -> a Conversation (config validated, key resolved)."""
    from realtime_cli.runtime.launch import Conversation
    from realtime_cli.settings import load_settings
    from realtime_cli.transport.endpoint import resolve_endpoint

    overrides = dict(base or {})
    overrides.update(_overrides(
        model=args.get("model"), voice=args.get("voice"), instructions=args.get("instructions"),
        turn_detection=args.get("turn_detection"), threshold=args.get("threshold"),
        silence_duration_ms=args.get("silence_ms"), input_device=args.get("input_device"),
        output_device=args.get("output_device"), prebuffer_ms=args.get("prebuffer_ms"),
        echo=args.get("echo"), total_timeout_s=args.get("duration"),
        replay_max_turns=args.get("replay_turns"),
    ))
    if args.get("no_server_interrupt"):
        overrides["interrupt_response"] = False
    if args.get("no_transcription"):
        overrides["transcription_model"] = ""
    if args.get("no_audio"):
        overrides["keep_audio"] = False
    settings = load_settings(overrides)
    config = settings.session_config()
    wav = args.get("input")
    if wav is not None and not Path(wav).is_file():  # before connecting, not after
        from realtime_cli.errors import ConfigError

        raise ConfigError(f"input WAV not found: {wav}")
    endpoint = resolve_endpoint(model=config.model, url=args.get("url"),
                                azure_endpoint=args.get("azure_endpoint"),
                                azure_deployment=args.get("azure_deployment"), env=os.environ)
    from realtime_cli.tools import ToolRunner

    runner = ToolRunner(settings.tool_decls) if settings.tool_decls else None
    return Conversation(
        config=config, endpoint=endpoint, data_dir=args.get("data_dir"),
        keep_audio=settings.keep_audio, journal=not args.get("no_save"),
        input_wav=args.get("input"), output_wav=args.get("output"),
        input_device=settings.input_device, output_device=settings.output_device,
        prebuffer_ms=settings.prebuffer_ms, output_block_ms=settings.output_block_ms,
        echo=settings.echo,
        json_lines=bool(args.get("json_lines")),
        dashboard=False if (args.get("plain") or args.get("json_lines")) else None,
        max_turns=args.get("max_turns"), tools=runner.run if runner else None,
        prices=settings.prices,
    )
