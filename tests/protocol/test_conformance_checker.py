"""The conformance checker itself: it must catch what the SDK models let through."""

from __future__ import annotations

import pytest
from conformance import (
    CLIENT_EVENT_MODELS,
    SERVER_EVENT_MODELS,
    ConformanceError,
    unknown_keys,
    validate_client_event,
    validate_server_event,
)
from openai.types.realtime import ConversationItemCreateEvent, SessionUpdateEvent


def test_type_maps_cover_the_ga_unions() -> None:
    assert set(CLIENT_EVENT_MODELS) == {
        "session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
        "input_audio_buffer.clear", "conversation.item.create", "conversation.item.retrieve",
        "conversation.item.truncate", "conversation.item.delete", "response.create",
        "response.cancel", "output_audio_buffer.clear"}
    assert len(SERVER_EVENT_MODELS) == 46
    for name in ("conversation.item.added", "conversation.item.done",
                 "conversation.item.created", "response.output_audio.delta", "error"):
        assert name in SERVER_EVENT_MODELS
    assert "response.audio.delta" not in SERVER_EVENT_MODELS  # beta name


def test_the_sdk_alone_accepts_beta_keys_but_we_do_not() -> None:
    beta = {"type": "session.update",
            "session": {"type": "realtime", "modalities": ["text", "audio"], "voice": "alloy"}}
    SessionUpdateEvent.model_validate(beta)  # extra="allow": passes silently
    with pytest.raises(ConformanceError, match=r"session\.modalities, session\.voice"):
        validate_client_event(beta)


@pytest.mark.parametrize(("event", "path"), [
    ({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": {"type": "server_vad", "silence_ms": 5}}}}},
     "session.audio.input.turn_detection.silence_ms"),
    ({"type": "session.update", "session": {"type": "realtime", "tools": [
        {"type": "function", "name": "f", "parameters": {"type": "object"}},
        {"type": "function", "name": "g", "function": {"name": "g"}}]}},
     "session.tools[1].function"),
    ({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                                                   "content": [{"type": "input_text",
                                                                "text": "hi", "lang": "en"}]}},
     "item.content[0].lang"),
    ({"type": "conversation.item.create", "item": {"type": "function_call_output",
                                                   "call_id": "c", "output": "x", "result": 1}},
     "item.result"),
    ({"type": "response.create", "response": {"modalities": ["audio"]}}, "response.modalities"),
    ({"type": "input_audio_buffer.commit", "item_id": "x"}, "item_id"),
])
def test_unknown_keys_are_found_at_any_depth(event: dict, path: str) -> None:
    with pytest.raises(ConformanceError) as info:
        validate_client_event(event)
    assert path in str(info.value)


def test_free_form_json_schema_and_metadata_are_not_entered() -> None:
    event = {"type": "session.update", "session": {"type": "realtime", "tools": [
        {"type": "function", "name": "f", "description": "d",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                        "additionalProperties": False}}]}}
    validate_client_event(event)
    validate_client_event({"type": "response.create", "response": {"metadata": {"any": "x"}}})


def test_union_members_are_told_apart() -> None:
    # A user message is checked as a user message (its content may have `transcript`) and an
    # assistant message as an assistant message (output_text only).
    validate_client_event({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user",
        "content": [{"type": "input_audio", "audio": "AAAA", "transcript": "hi"}]}})
    with pytest.raises(ConformanceError, match="rejected"):
        validate_client_event({"type": "conversation.item.create", "item": {
            "type": "message", "role": "assistant", "content": [{"type": "input_text",
                                                                 "text": "x"}]}})
    assert unknown_keys(ConversationItemCreateEvent, {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "system",
                 "content": [{"type": "input_text", "text": "x", "bogus": 1}]}}) == [
        "item.content[0].bogus"]


def test_type_errors_and_unknown_types_fail() -> None:
    with pytest.raises(ConformanceError, match="no SDK model"):
        validate_client_event({"type": "response.audio.delta"})
    with pytest.raises(ConformanceError, match="no SDK model"):
        validate_client_event({"no": "type"})
    with pytest.raises(ConformanceError, match="JSON object"):
        validate_client_event(["session.update"])  # type: ignore[arg-type]
    with pytest.raises(ConformanceError, match="rejected"):
        validate_client_event({"type": "conversation.item.truncate", "item_id": "i",
                               "content_index": 0})  # audio_end_ms missing
    with pytest.raises(ConformanceError, match="no SDK model"):
        validate_server_event({"type": "transcription_session.updated", "event_id": "e"})


def test_content_part_quirk_audio_passes_output_audio_fails() -> None:
    frame = {"type": "response.content_part.added", "event_id": "e", "response_id": "r",
             "item_id": "i", "output_index": 0, "content_index": 0,
             "part": {"type": "audio", "transcript": ""}}
    validate_server_event(frame)
    frame["part"] = {"type": "output_audio", "transcript": ""}
    with pytest.raises(ConformanceError, match="rejected"):
        validate_server_event(frame)


def test_server_extras_are_tolerated_only_where_documented() -> None:
    delta = {"type": "response.output_audio_transcript.delta", "event_id": "e",
             "response_id": "r", "item_id": "i", "output_index": 0, "content_index": 0,
             "delta": "Hi", "obfuscation": "abc"}
    validate_server_event(delta)
    with pytest.raises(ConformanceError, match="obfuscation"):
        validate_server_event(delta, allow=())
    delta["surprise"] = 1
    with pytest.raises(ConformanceError, match="surprise"):
        validate_server_event(delta)
