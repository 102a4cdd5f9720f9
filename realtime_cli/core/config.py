"""`SessionConfig`: validated session settings and the GA `session.update` they render
(docs/protocol.md#session-configuration).

Validation happens once, at construction, so every later step can trust the values. Errors name
the field in one line, the way a user typed it (`turn_detection.threshold`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from realtime_cli.errors import ConfigError

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
# Gemini Live's prebuilt voices (speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName).
GEMINI_VOICES = (
    "Zephyr", "Puck", "Charon", "Kore", "Fenrir", "Leda", "Orus", "Aoede", "Callirrhoe", "Autonoe",
    "Enceladus", "Iapetus", "Umbriel", "Algieba", "Despina", "Erinome", "Algenib", "Rasalgethi",
    "Laomedeia", "Achernar", "Alnilam", "Schedar", "Gacrux", "Pulcherrima", "Achird",
    "Zubenelgenubi", "Vindemiatrix", "Sadachbia", "Sadaltager", "Sulafat",
)
PROVIDERS = ("openai", "gemini")
VOICES_BY_PROVIDER = {"openai": VOICES, "gemini": GEMINI_VOICES}
DEFAULT_VOICE = {"openai": "marin", "gemini": "Puck"}
# Providers whose server keeps all it generated of an answer the user cut short: it has no
# truncate, so the model may remember more than was heard (docs/protocol.md#gemini-live).
KEEPS_UNHEARD = {"gemini": "Gemini"}
# Google's default Live model for voice agents (its model page, September 2026).
DEFAULT_MODEL = {"openai": "gpt-realtime", "gemini": "gemini-3.8-live"}
EAGERNESS = ("low", "medium", "high", "auto")
NOISE_REDUCTION = ("near_field", "far_field")
TURN_DETECTION = ("server_vad", "semantic_vad", "none")
DEFAULT_STOP_PHRASES = ("stop", "wait", "hold on", "cancel", "be quiet", "shut up", "enough")


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    """A function tool the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def render(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }


END_CONVERSATION = ToolSpec(
    name="end_conversation",
    description=(
        "End the conversation when the user says goodbye or asks to stop talking. "
        "Say a short goodbye first."
    ),
    parameters={"type": "object", "properties": {}, "additionalProperties": False},
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    provider: str = "openai"  # whose wire protocol the session speaks
    model: str = "gpt-realtime"
    voice: str = "marin"
    instructions: str = "You are a helpful, concise voice assistant. Answer in speech."
    tools: tuple[ToolSpec, ...] = ()
    builtin_end_tool: bool = True
    output_modalities: tuple[str, ...] = ("audio",)
    # turn detection
    turn_detection: str = "server_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True
    barge_in: bool = True  # talking over the assistant stops it (server and client side)
    idle_timeout_ms: int | None = None
    eagerness: str = "auto"
    # input
    transcription_model: str | None = "gpt-4o-mini-transcribe"
    transcription_language: str | None = None
    noise_reduction: str | None = None
    # output
    max_output_tokens: int | None = None
    speed: float = 1.0
    # client-side behaviour (not sent)
    stop_phrases: tuple[str, ...] = DEFAULT_STOP_PHRASES
    idle_timeout_s: float | None = 300.0
    total_timeout_s: float | None = None
    response_timeout_s: float = 20.0
    connection_timeout_s: float = 10.0
    rollover_margin_s: float = 120.0
    max_reconnect_attempts: int = 6
    replay_max_turns: int = 40

    def __post_init__(self) -> None:
        _check(bool(self.model.strip()), "model", "must not be empty")
        _check(self.provider in PROVIDERS, "provider", f"must be one of {', '.join(PROVIDERS)}")
        voices = VOICES_BY_PROVIDER.get(self.provider, VOICES)
        _check(self.voice in voices, "voice", f"must be one of {', '.join(voices)}")
        _check(self.turn_detection in TURN_DETECTION, "turn_detection",
               f"must be one of {', '.join(TURN_DETECTION)}")
        _check(0.0 <= self.threshold <= 1.0, "turn_detection.threshold", "must be between 0 and 1")
        _check(0 <= self.prefix_padding_ms <= 10_000, "turn_detection.prefix_padding_ms",
               "must be between 0 and 10000")
        _check(0 <= self.silence_duration_ms <= 10_000, "turn_detection.silence_duration_ms",
               "must be between 0 and 10000")
        _check(self.idle_timeout_ms is None or 5_000 <= self.idle_timeout_ms <= 30_000,
               "turn_detection.idle_timeout_ms", "must be between 5000 and 30000")
        _check(self.eagerness in EAGERNESS, "turn_detection.eagerness",
               f"must be one of {', '.join(EAGERNESS)}")
        _check(self.noise_reduction is None or self.noise_reduction in NOISE_REDUCTION,
               "noise_reduction", "must be near_field or far_field")
        _check(self.max_output_tokens is None or 1 <= self.max_output_tokens <= 4096,
               "max_output_tokens", "must be between 1 and 4096")
        _check(0.25 <= self.speed <= 1.5, "speed", "must be between 0.25 and 1.5")
        _check(self.output_modalities in (("audio",), ("text",)), "output_modalities",
               "must be audio or text, not both")
        _check(self.response_timeout_s > 0, "response_timeout", "must be positive")
        _check(self.connection_timeout_s > 0, "connection_timeout", "must be positive")
        _check(self.rollover_margin_s >= 0, "rollover_margin", "must not be negative")
        _check(self.max_reconnect_attempts >= 0, "max_reconnect_attempts", "must not be negative")
        _check(self.replay_max_turns >= 1, "replay_max_turns", "must be at least 1")
        names = [t.name for t in self.all_tools()]
        _check(len(names) == len(set(names)), "tools", "names must be unique")

    def all_tools(self) -> tuple[ToolSpec, ...]:
        return (*self.tools, END_CONVERSATION) if self.builtin_end_tool else self.tools

    @property
    def keeps_unheard(self) -> str | None:
        """The provider's name when it cannot be told how much of an answer was heard (it has
        no truncate), else None."""
        return KEEPS_UNHEARD.get(self.provider)

    @property
    def vad_enabled(self) -> bool:
        return self.turn_detection != "none"

    def turn_detection_payload(self) -> dict[str, Any] | None:
        if self.turn_detection == "none":
            return None
        if self.turn_detection == "semantic_vad":
            return {
                "type": "semantic_vad",
                "eagerness": self.eagerness,
                "create_response": self.create_response,
                "interrupt_response": self.interrupt_response and self.barge_in,
            }
        payload: dict[str, Any] = {
            "type": "server_vad",
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response and self.barge_in,
        }
        if self.idle_timeout_ms is not None:
            payload["idle_timeout_ms"] = self.idle_timeout_ms
        return payload

    def session_payload(self, instructions: str | None = None) -> dict[str, Any]:
        """The `session` object of a GA `session.update`: `type` always, no beta names."""
        transcription: dict[str, Any] | None = None
        if self.transcription_model:
            transcription = {"model": self.transcription_model}
            if self.transcription_language:
                transcription["language"] = self.transcription_language
        audio_input: dict[str, Any] = {
            "format": {"type": "audio/pcm", "rate": 24000},
            "turn_detection": self.turn_detection_payload(),
            "transcription": transcription,
            "noise_reduction": {"type": self.noise_reduction} if self.noise_reduction else None,
        }
        session: dict[str, Any] = {
            "type": "realtime",
            "output_modalities": list(self.output_modalities),
            "instructions": self.instructions if instructions is None else instructions,
            "audio": {
                "input": audio_input,
                "output": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "voice": self.voice,
                    "speed": self.speed,
                },
            },
            "tools": [t.render() for t in self.all_tools()],
            "tool_choice": "auto",
            "max_output_tokens": self.max_output_tokens if self.max_output_tokens else "inf",
        }
        return session

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for the journal (holds no secrets: keys never live in this object)."""
        out = dataclasses.asdict(self)
        out["tools"] = [dataclasses.asdict(t) for t in self.tools]
        out["output_modalities"] = list(self.output_modalities)
        out["stop_phrases"] = list(self.stop_phrases)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        try:
            if "tools" in kwargs:
                kwargs["tools"] = tuple(ToolSpec(**t) for t in kwargs["tools"])
            for key in ("output_modalities", "stop_phrases"):
                if key in kwargs:
                    kwargs[key] = tuple(kwargs[key])
            return cls(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"invalid stored configuration: {exc}") from None

    def replace(self, **changes: Any) -> SessionConfig:
        return dataclasses.replace(self, **changes)


def _check(ok: bool, name: str, why: str) -> None:
    if not ok:
        raise ConfigError(f"invalid {name}: {why}")
