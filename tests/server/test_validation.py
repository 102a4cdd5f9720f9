"""Client event validation: the real service's error codes, messages, params and event ids."""

from __future__ import annotations

from typing import Any

import pytest

from realtime_cli.server import RunningServer
from realtime_cli.server.validation import validate_event
from realtime_cli.server.wire import ClientError

from .rtclient import client


async def test_unknown_field_is_refused_and_changes_nothing(srv: RunningServer) -> None:
    async with client(srv.url) as rt:
        sent = await rt.send({"type": "session.update", "session": {
            "type": "realtime", "modalities": ["text", "audio"],
            "audio": {"output": {"voice": "cedar"}}}})
        error = await rt.wait_for("error")
        await rt.send({"type": "session.update", "session": {"type": "realtime"}})
        updated = await rt.wait_for("session.updated")
    assert error["error"] == {
        "type": "invalid_request_error", "code": "unknown_parameter",
        "message": "Unknown parameter: 'session.modalities'.", "param": "session.modalities",
        "event_id": sent,
    }
    assert error["event_id"].startswith("event_")
    assert updated["session"]["audio"]["output"]["voice"] == "alloy"
    assert "session.updated" not in rt.types()[:-1]


async def test_missing_session_type_and_bad_event_type(srv: RunningServer) -> None:
    async with client(srv.url) as rt:
        await rt.send({"type": "session.update", "session": {"instructions": "x"}})
        missing = await rt.error()
        await rt.send({"type": "response.audio.delta"})
        bad_type = await rt.error()
        await rt.send_raw("{not json")
        not_json = await rt.error()
        await rt.send_raw(b"\x00\x01")
        binary = await rt.error()
    assert missing["code"] == "missing_required_parameter"
    assert missing["param"] == "session.type"
    assert missing["message"] == "Missing required parameter: 'session.type'."
    assert bad_type["code"] == "invalid_value" and bad_type["param"] == "type"
    assert bad_type["message"].startswith("Invalid value: 'response.audio.delta'. Supported")
    assert not_json["code"] == "invalid_json" and not_json["event_id"] is None
    assert binary["code"] == "invalid_json"


SESSION_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 1.5}}}},
     "decimal_above_max_value", "session.audio.input.turn_detection.threshold"),
    ({"audio": {"output": {"speed": 0.1}}},
     "decimal_below_min_value", "session.audio.output.speed"),
    ({"audio": {"output": {"voice": "nova"}}}, "invalid_value", "session.audio.output.voice"),
    ({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
     "invalid_value", "session.audio.input.format.rate"),
    ({"audio": {"output": {"format": {"type": "audio/pcmu"}}}},
     "invalid_value", "session.audio.output.format.type"),
    ({"output_modalities": ["text", "audio"]}, "invalid_value", "session.output_modalities"),
    ({"max_output_tokens": 5000}, "integer_above_max_value", "session.max_output_tokens"),
    ({"tool_choice": "sometimes"}, "invalid_value", "session.tool_choice"),
    ({"audio": {"input": {"turn_detection": {"type": "semantic_vad", "threshold": 0.5}}}},
     "unknown_parameter", "session.audio.input.turn_detection.threshold"),
    ({"instructions": 42}, "invalid_type", "session.instructions"),
    ({"tools": [{"type": "function", "name": "f", "strict": True}]},
     "unknown_parameter", "session.tools[0].strict"),
]


@pytest.mark.parametrize(("session", "code", "param"), SESSION_CASES)
def test_session_field_ranges(session: dict[str, Any], code: str, param: str) -> None:
    with pytest.raises(ClientError) as caught:
        validate_event({"type": "session.update", "session": {"type": "realtime", **session}})
    assert (caught.value.code, caught.value.param) == (code, param)


def test_range_messages_follow_the_api_style() -> None:
    with pytest.raises(ClientError) as caught:
        validate_event({"type": "session.update", "session": {
            "type": "realtime", "audio": {"output": {"speed": 3}}}})
    assert caught.value.message == (
        "Invalid 'session.audio.output.speed': decimal above maximum value. "
        "Expected a value <= 1.5, but got 3 instead.")


async def test_item_create_rules(srv: RunningServer) -> None:
    long_id = "x" * 40
    async with client(srv.url) as rt:
        await rt.send({"type": "conversation.item.create", "item": {
            "id": long_id, "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "hi"}]}})
        too_long = await rt.error()
        await rt.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "assistant",
            "content": [{"type": "output_audio", "audio": "AAAA", "transcript": "hi"}]}})
        audio_only = await rt.error()
        await rt.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "system", "content": [{"type": "input_audio"}]}})
        system_audio = await rt.error()
        await rt.send({"type": "conversation.item.create", "previous_item_id": "nope", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]}})
        unknown_previous = await rt.error()
        for text in ("first", "second"):
            await rt.send({"type": "conversation.item.create", "item": {
                "id": f"item_{text}", "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": text}]}})
            await rt.wait_for("conversation.item.done")
        await rt.send({"type": "conversation.item.create", "item": {
            "id": "item_first", "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "again"}]}})
        duplicate = await rt.error()
        await rt.send({"type": "conversation.item.create", "previous_item_id": "root", "item": {
            "id": "item_zero", "type": "message", "role": "system",
            "content": [{"type": "input_text", "text": "be kind"}]}})
        added = await rt.wait_for("conversation.item.added")
        await rt.wait_for("conversation.item.done")
    assert too_long["code"] == "string_above_max_length"
    assert too_long["param"] == "item.id"
    assert too_long["message"] == (
        "Invalid 'item.id': string too long. Expected a string with maximum length 32, but got "
        "a string with length 40 instead.")
    assert (audio_only["code"], audio_only["param"]) == (
        "missing_required_parameter", "item.content[0].text")
    assert (system_audio["code"], system_audio["param"]) == (
        "invalid_value", "item.content[0].type")
    assert unknown_previous["param"] == "previous_item_id"
    assert duplicate["param"] == "item.id"
    assert added["previous_item_id"] is None and added["item"]["id"] == "item_zero"
    assert rt.types().count("conversation.item.added") == 3
