"""Every message the Gemini codec sends, and every server message its tests feed it, validates
against google-genai's Live types with unknown (and snake_case) keys rejected."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conformance import ConformanceError

from protocol import gemini_fixtures as fx
from protocol.gemini_sdk import validate_client_json, validate_client_message, validate_server_message
from realtime_cli.core.config import SessionConfig, ToolSpec
from realtime_cli.protocol import events as ev
from realtime_cli.protocol.gemini_live import GeminiLiveCodec

TOOL = ToolSpec(name="lookup", description="Look a word up.",
                parameters={"type": "object", "properties": {"word": {"type": "string"}},
                            "required": ["word"]})
CONFIGS = {
    "default": {},
    "tools": {"tools": (TOOL,), "instructions": "Be brief."},
    "push_to_talk": {"turn_detection": "none"},
    "semantic": {"turn_detection": "semantic_vad", "eagerness": "high"},
    "sensitive": {"threshold": 0.2, "barge_in": False},
    "text": {"output_modalities": ("text",), "transcription_model": None,
             "max_output_tokens": 100, "builtin_end_tool": False},
}


def config(**changes: Any) -> SessionConfig:
    return SessionConfig(**({"provider": "gemini", "model": "gemini-3.8-live", "voice": "Puck"}
                            | changes))


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("handle", [None, "handle-1"])
def test_every_setup_conforms(name: str, handle: str | None) -> None:
    cfg = config(**CONFIGS[name])
    [frame] = GeminiLiveCodec(cfg).encode(ev.SessionUpdate(session=cfg.session_payload(),
                                                           resume_handle=handle))
    validate_client_json(frame)


def test_every_other_client_message_conforms() -> None:
    ptt = GeminiLiveCodec(config(turn_detection="none"))
    ptt.encode(ev.SessionUpdate(session=config(turn_detection="none").session_payload()))
    c = GeminiLiveCodec(config())
    c.encode(ev.SessionUpdate(session=config().session_payload()))
    c.decode(fx.frame(fx.tool_call(("call-1", "lookup", {"word": "x"}))))
    frames = [
        *c.encode(ev.InputAudioBufferAppend(audio=b"\x01\x00" * 480)),
        *ptt.encode(ev.InputAudioBufferClear()),
        *ptt.encode(ev.InputAudioBufferCommit()),
        *c.encode(ev.ConversationItemCreate(item={
            "id": "u", "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "hi"}]})),
        *c.encode(ev.ConversationItemCreate(item={
            "id": "a", "type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": "hello"}]})),
        *c.encode(ev.ConversationItemCreate(item={
            "id": "f", "type": "function_call", "call_id": "old", "name": "lookup",
            "arguments": "{}"})),
        *c.encode(ev.ConversationItemCreate(item={
            "id": "o", "type": "function_call_output", "call_id": "old", "output": "x"})),
        *c.encode(ev.ResponseCreate()),
        *c.encode(ev.ConversationItemCreate(item={
            "id": "o2", "type": "function_call_output", "call_id": "call-1",
            "output": '{"meaning": "y"}'})),
        *c.encode(ev.ConversationItemCreate(item={
            "id": "o3", "type": "function_call_output", "call_id": "call-1", "output": "plain"})),
    ]
    kinds = [next(iter(json.loads(f))) for f in frames]
    assert kinds == ["realtimeInput"] * 3 + ["clientContent"] * 5 + ["toolResponse"] * 2
    for frame in frames:
        validate_client_json(frame)


@pytest.mark.parametrize("name", sorted(fx.ALL))
def test_every_server_fixture_conforms(name: str) -> None:
    validate_server_message(fx.ALL[name])


def test_a_turns_end_with_its_usage_conforms_as_one_message() -> None:
    validate_server_message(fx.turn_complete(fx.usage_metadata(1, 2, 3, 4, 5)))


@pytest.mark.parametrize("message", [
    {"setup": {"model": "models/m", "generation_config": {}}},  # snake_case
    {"setup": {"model": "models/m", "realtimeInputConfig": {"vad": {}}}},  # unknown key
    {"realtimeInput": {"audio": {"data": "***", "mimeType": "audio/pcm"}}},  # not base64
    {"clientContent": {"turnComplete": True}, "toolResponse": {}},  # two fields
    {"setup": {"model": "models/m", "generationConfig": {"responseModalities": ["SMELL"]}}},
])
def test_the_client_check_rejects_what_the_service_would(message: dict[str, Any]) -> None:
    with pytest.raises(ConformanceError):
        validate_client_message(message)


@pytest.mark.parametrize("message", [
    {"serverContent": {"turn_complete": True}},
    {"goAway": {"timeLeft": "1s", "reason": "x"}},
    {"somethingNew": {}},
])
def test_the_server_check_rejects_unknown_keys(message: dict[str, Any]) -> None:
    with pytest.raises(ConformanceError):
        validate_server_message(message)

