"""The effective session configuration of one connection, and how `session.update` changes it.

Defaults are the service's observed GA `session.created` defaults
(docs/protocol.md#session-configuration): server_vad with threshold 0.5, prefix 300 ms, silence
200 ms, no idle timeout, create and interrupt on;
voice `alloy`, speed 1.0, `truncation:"auto"`, `tool_choice:"auto"`, `max_output_tokens:"inf"`.

An update merges field by field (omitted fields stay); `audio.input`/`audio.output` merge one
level deeper; a new `turn_detection` object replaces the old one, with missing fields taken
from the defaults of its type.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from realtime_cli.audio.pcm import SAMPLE_RATE
from realtime_cli.server.wire import ClientError, JsonDict

DEFAULT_INSTRUCTIONS = (
    "You are rt serve, an offline stand-in for the Realtime API. There is no language model: "
    "replies describe what the server received."
)
SERVER_VAD_DEFAULTS: JsonDict = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 200,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
SEMANTIC_VAD_DEFAULTS: JsonDict = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}
# semantic_vad has no recognizer offline: rt serve maps eagerness to a silence length.
SEMANTIC_SILENCE_MS = {"low": 1500, "medium": 800, "auto": 800, "high": 400}
SEMANTIC_THRESHOLD = 0.5
SEMANTIC_PREFIX_MS = 300


def default_session(*, session_id: str, model: str, expires_at: int) -> JsonDict:
    pcm = {"type": "audio/pcm", "rate": SAMPLE_RATE}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": expires_at,
        "audio": {
            "input": {
                "format": dict(pcm),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(SERVER_VAD_DEFAULTS),
            },
            "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
        },
        "include": None,
    }


def _with_defaults(turn_detection: JsonDict | None) -> JsonDict | None:
    if turn_detection is None:
        return None
    base = SERVER_VAD_DEFAULTS if turn_detection["type"] == "server_vad" else SEMANTIC_VAD_DEFAULTS
    return {**base, **turn_detection}


def merge_update(
    current: JsonDict, update: JsonDict, *, voice_locked: bool
) -> JsonDict:
    """The config after `update` (already schema-checked); raises `ClientError` if refused.

    Refusals change nothing: the caller keeps `current` when this raises.
    """
    new = copy.deepcopy(current)
    for key, value in update.items():
        if key == "audio":
            _merge_audio(new["audio"], value)
        elif key == "model" and value != current["model"]:
            raise ClientError(
                "invalid_value",
                f"Cannot change the model of a session from '{current['model']}' to '{value}'.",
                "session.model",
            )
        else:
            new[key] = copy.deepcopy(value)
    old_voice = current["audio"]["output"]["voice"]
    if voice_locked and new["audio"]["output"]["voice"] != old_voice:
        raise ClientError(
            "cannot_update_voice",
            "Cannot update a conversation's voice if assistant audio is present.",
            "session.audio.output.voice",
        )
    return new


def _merge_audio(audio: JsonDict, update: JsonDict) -> None:
    for side in ("input", "output"):
        for key, value in update.get(side, {}).items():
            if key == "turn_detection":
                audio[side][key] = _with_defaults(value)
            elif key == "noise_reduction" and value is not None:
                audio[side][key] = {"strength": 1.0, **value}
            else:
                audio[side][key] = copy.deepcopy(value)


@dataclass(frozen=True, slots=True)
class TurnSettings:
    """What the turn detector needs, with semantic_vad already mapped to server_vad terms."""

    kind: str
    threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    create_response: bool
    interrupt_response: bool
    idle_timeout_ms: int | None


def turn_settings(session: JsonDict) -> TurnSettings | None:
    td: Any = session["audio"]["input"]["turn_detection"]
    if td is None:
        return None
    if td["type"] == "semantic_vad":
        return TurnSettings(
            kind="semantic_vad",
            threshold=SEMANTIC_THRESHOLD,
            prefix_padding_ms=SEMANTIC_PREFIX_MS,
            silence_duration_ms=SEMANTIC_SILENCE_MS[td["eagerness"]],
            create_response=bool(td["create_response"]),
            interrupt_response=bool(td["interrupt_response"]),
            idle_timeout_ms=None,
        )
    return TurnSettings(
        kind="server_vad",
        threshold=float(td["threshold"]),
        prefix_padding_ms=int(td["prefix_padding_ms"]),
        silence_duration_ms=int(td["silence_duration_ms"]),
        create_response=bool(td["create_response"]),
        interrupt_response=bool(td["interrupt_response"]),
        idle_timeout_ms=td["idle_timeout_ms"],
    )
