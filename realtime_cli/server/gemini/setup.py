"""The `setup` message: checked field by field as the service does, then read into `LiveSetup`.

The service refuses the whole setup, closing with 1007, when a field is unknown to it (also
fields that exist only on Vertex or in v1alpha, such as `transparent` or `proactivity`), when
`responseModalities` holds more than one modality, or when a value has the wrong JSON type
(docs/protocol.md#rt-serve---protocol-gemini). The configuration cannot change later; a resumed
connection sends a new setup, which may change everything but the model.

Activity detection maps onto the Silero turn detector of the OpenAI twin (`server/vad.py`):
start sensitivity HIGH (the Gemini Live default) is threshold 0.5 and LOW is 0.7; end
sensitivity HIGH (default) is 500 ms of silence and LOW is 1000 ms; `silenceDurationMs`
overrides that. `prefixPaddingMs` is how long speech must last before its start counts, as the
SDK documents it (not audio kept before the start, as in OpenAI's server VAD).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from realtime_cli.server.gemini.messages import INVALID_ARGUMENT, Refusal, unknown_field
from realtime_cli.server.session_config import TurnSettings
from realtime_cli.server.wire import JsonDict

# Fields of the v1beta Developer API, camelCase; each nested object's own fields by its path.
KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "setup": frozenset({
        "model", "generationConfig", "systemInstruction", "tools", "realtimeInputConfig",
        "sessionResumption", "contextWindowCompression", "inputAudioTranscription",
        "outputAudioTranscription"}),
    "setup.generationConfig": frozenset({
        "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "presencePenalty",
        "frequencyPenalty", "responseModalities", "speechConfig", "mediaResolution", "seed",
        "thinkingConfig", "enableAffectiveDialog"}),
    "setup.generationConfig.speechConfig": frozenset({"voiceConfig", "languageCode"}),
    "setup.realtimeInputConfig": frozenset({
        "automaticActivityDetection", "activityHandling", "turnCoverage"}),
    "setup.realtimeInputConfig.automaticActivityDetection": frozenset({
        "disabled", "startOfSpeechSensitivity", "endOfSpeechSensitivity", "prefixPaddingMs",
        "silenceDurationMs"}),
    "setup.sessionResumption": frozenset({"handle"}),
    "setup.contextWindowCompression": frozenset({"triggerTokens", "slidingWindow"}),
    "setup.inputAudioTranscription": frozenset(),
    "setup.outputAudioTranscription": frozenset(),
}
MODALITIES = ("AUDIO", "TEXT")
DEFAULT_VOICE = "Puck"
START_THRESHOLD = {"START_SENSITIVITY_HIGH": 0.5, "START_SENSITIVITY_LOW": 0.7}
END_SILENCE_MS = {"END_SENSITIVITY_HIGH": 500, "END_SENSITIVITY_LOW": 1000}
DEFAULT_START = "START_SENSITIVITY_HIGH"
DEFAULT_END = "END_SENSITIVITY_HIGH"


@dataclass(frozen=True, slots=True)
class ActivityDetection:
    """Automatic activity detection as the twin runs it; `turn` is None when it is disabled
    (the client marks turns with `activityStart`/`activityEnd`)."""

    turn: TurnSettings | None
    prefix_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveSetup:
    model: str
    modality: str = "AUDIO"
    voice: str = DEFAULT_VOICE
    instructions: str = ""
    tools: list[JsonDict] = field(default_factory=list)  # OpenAI-shaped, for replies.py
    detection: ActivityDetection
    interrupts: bool = True
    input_transcription: bool = False
    output_transcription: bool = False
    resumption: bool = False
    handle: str | None = None


def snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _path(path: str) -> str:
    return ".".join(snake(part) for part in path.split("."))


def _object(value: Any, path: str) -> JsonDict:
    """`value` as a JSON object whose fields are all known at `path`."""
    if not isinstance(value, dict):
        raise Refusal(INVALID_ARGUMENT,
                      f"Invalid value at '{_path(path)}': expected an object, got {value!r:.60}")
    known = KNOWN_FIELDS.get(path)
    if known is not None:
        for name in value:
            if name not in known:
                raise unknown_field(name, _path(path))
    return value


def _text_of(content: Any, path: str) -> str:
    """The text of a `Content` (a string is not a Content on the wire)."""
    if not isinstance(content, dict) or not isinstance(content.get("parts", []), list):
        raise Refusal(INVALID_ARGUMENT, f"Invalid value at '{_path(path)}' "
                      f"(type.googleapis.com/google.ai.generativelanguage.v1beta.Content), "
                      f"{content!r:.60}")
    return " ".join(str(p.get("text", "")) for p in content.get("parts", []) if isinstance(p, dict))


def _function_tools(tools: Any) -> list[JsonDict]:
    """`functionDeclarations` as the OpenAI-shaped tools `replies.py` reads (types lowercased)."""
    if not isinstance(tools, list):
        raise Refusal(INVALID_ARGUMENT, "Invalid value at 'setup.tools': expected a list")
    out: list[JsonDict] = []
    for tool in tools:
        for declaration in tool.get("functionDeclarations", []) if isinstance(tool, dict) else []:
            schema = declaration.get("parameters") or declaration.get("parametersJsonSchema")
            out.append({"type": "function", "name": str(declaration.get("name", "")),
                        "description": str(declaration.get("description", "")),
                        "parameters": _lower_types(schema) if schema is not None else None})
    return out


def _lower_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


def _detection(config: JsonDict) -> tuple[ActivityDetection, bool]:
    aad = _object(config.get("automaticActivityDetection", {}),
                  "setup.realtimeInputConfig.automaticActivityDetection")
    interrupts = config.get("activityHandling", "START_OF_ACTIVITY_INTERRUPTS") != "NO_INTERRUPTION"
    if aad.get("disabled") is True:
        return ActivityDetection(None), interrupts
    start = aad.get("startOfSpeechSensitivity", DEFAULT_START)
    end = aad.get("endOfSpeechSensitivity", DEFAULT_END)
    silence = aad.get("silenceDurationMs", END_SILENCE_MS.get(end, END_SILENCE_MS[DEFAULT_END]))
    turn = TurnSettings(
        kind="automatic_activity_detection",
        threshold=START_THRESHOLD.get(start, START_THRESHOLD[DEFAULT_START]),
        prefix_padding_ms=0,
        silence_duration_ms=int(silence),
        create_response=True,
        interrupt_response=interrupts,
        idle_timeout_ms=None,
    )
    return ActivityDetection(turn, int(aad.get("prefixPaddingMs", 0))), interrupts


def read_setup(raw: Any) -> LiveSetup:
    """The checked setup; raises `Refusal` as the service would close the connection."""
    setup = _object(raw, "setup")
    model = setup.get("model")
    if not isinstance(model, str) or not model:
        raise Refusal(INVALID_ARGUMENT, "setup.model is required.")
    generation = _object(setup.get("generationConfig", {}), "setup.generationConfig")
    modalities = generation.get("responseModalities", ["AUDIO"])
    if (not isinstance(modalities, list) or len(modalities) != 1
            or modalities[0] not in MODALITIES):
        raise Refusal(INVALID_ARGUMENT, "Invalid value at 'setup.generation_config."
                      f"response_modalities': exactly one of AUDIO or TEXT, got {modalities!r}")
    speech = _object(generation.get("speechConfig", {}), "setup.generationConfig.speechConfig")
    voice = speech.get("voiceConfig", {}).get("prebuiltVoiceConfig", {}).get("voiceName")
    realtime = _object(setup.get("realtimeInputConfig", {}), "setup.realtimeInputConfig")
    detection, interrupts = _detection(realtime)
    for name in ("contextWindowCompression", "inputAudioTranscription",
                 "outputAudioTranscription"):
        if name in setup:
            _object(setup[name], f"setup.{name}")
    resumption = setup.get("sessionResumption")
    handle = None
    if resumption is not None:
        handle = _object(resumption, "setup.sessionResumption").get("handle") or None
    instructions = setup.get("systemInstruction")
    return LiveSetup(
        model=model,
        modality=str(modalities[0]),
        voice=str(voice or DEFAULT_VOICE),
        instructions=_text_of(instructions, "setup.systemInstruction") if instructions else "",
        tools=_function_tools(setup.get("tools", [])),
        detection=detection,
        interrupts=interrupts,
        input_transcription="inputAudioTranscription" in setup,
        output_transcription="outputAudioTranscription" in setup,
        resumption=resumption is not None,
        handle=str(handle) if handle is not None else None,
    )
