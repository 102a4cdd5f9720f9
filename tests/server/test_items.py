"""Conversation items: retrieve, delete, truncate (and its errors), function calling."""

from __future__ import annotations

import base64
import json

from realtime_cli.audio.pcm import bytes_to_ms
from realtime_cli.server import RunningServer

from .conftest import ServerFactory
from .rtclient import Event, RtClient, client

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "days": {"type": "integer"}},
                   "required": ["city"]},
}


def _user_text(text: str) -> Event:
    return {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


async def _spoken_reply(rt: RtClient, text: str = "hello") -> Event:
    """One completed audio reply to a text turn; returns its `response.done` response."""
    await rt.send(_user_text(text))
    await rt.send({"type": "response.create"})
    return (await rt.wait_for("response.done"))["response"]  # type: ignore[no-any-return]


async def test_truncate_cuts_audio_and_transcript(srv: RunningServer) -> None:
    async with client(srv.url) as rt:
        await rt.send({"type": "session.update", "session": {
            "type": "realtime", "audio": {"input": {"turn_detection": None}}}})
        response = await _spoken_reply(rt, "please say something long enough")
        item = response["output"][0]
        words = item["content"][0]["transcript"].split()
        audio_ms = bytes_to_ms(sum(len(base64.b64decode(e["delta"])) for e in rt.events
                                   if e["type"] == "response.output_audio.delta"))
        half = int(audio_ms // 2)
        too_long = int(audio_ms) + 500
        await rt.send({"type": "conversation.item.truncate", "item_id": item["id"],
                       "content_index": 0, "audio_end_ms": too_long})
        longer = await rt.error()
        user_id = rt.events[[e["type"] for e in rt.events].index("conversation.item.added")][
            "item"]["id"]
        await rt.send({"type": "conversation.item.truncate", "item_id": user_id,
                       "content_index": 0, "audio_end_ms": 10})
        not_audio = await rt.error()
        await rt.send({"type": "conversation.item.truncate", "item_id": "item_missing",
                       "content_index": 0, "audio_end_ms": 10})
        missing = await rt.error()
        await rt.send({"type": "conversation.item.truncate", "item_id": item["id"],
                       "content_index": 0, "audio_end_ms": half})
        truncated = await rt.wait_for("conversation.item.truncated")
        await rt.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
        retrieved = (await rt.wait_for("conversation.item.retrieved"))["item"]
        await rt.send({"type": "conversation.item.truncate", "item_id": item["id"],
                       "content_index": 0, "audio_end_ms": half + 100})
        shorter_now = await rt.error()
    assert longer["message"] == (
        f"Audio content of {int(audio_ms)}ms is already shorter than {too_long}ms")
    assert longer["event_id"] is None and longer["param"] is None
    assert not_audio["code"] == "unsupported_content_type"
    assert not_audio["message"] == "Only model output audio messages can be truncated"
    assert missing["param"] == "item_id"
    assert truncated == {**truncated, "item_id": item["id"], "content_index": 0,
                         "audio_end_ms": half}
    assert words  # the item had a transcript; the truncate deleted it, as the service does
    assert retrieved["content"][0]["transcript"] is None
    assert bytes_to_ms(len(base64.b64decode(retrieved["content"][0]["audio"]))) == half
    assert shorter_now["message"] == f"Audio content of {half}ms is already shorter than {half + 100}ms"
    truncates = srv.events("conversation.item.truncate")
    assert [t["audio_end_ms"] for t in truncates] == [too_long, 10, 10, half, half + 100]


async def test_retrieve_delete_and_unknown_items(srv: RunningServer) -> None:
    async with client(srv.url) as rt:
        await rt.send(_user_text("keep me"))
        item = (await rt.wait_for("conversation.item.done"))["item"]
        await rt.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
        retrieved = await rt.wait_for("conversation.item.retrieved")
        await rt.send({"type": "conversation.item.delete", "item_id": item["id"]})
        deleted = await rt.wait_for("conversation.item.deleted")
        await rt.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
        gone = await rt.error()
        await rt.send({"type": "conversation.item.delete", "item_id": item["id"]})
        gone_again = await rt.error()
    assert retrieved["item"] == item
    assert deleted["item_id"] == item["id"]
    assert gone["param"] == gone_again["param"] == "item_id"


async def test_function_call_round_trip(srv: RunningServer) -> None:
    async with client(srv.url) as rt:
        await rt.send({"type": "session.update",
                       "session": {"type": "realtime", "tools": [WEATHER_TOOL]}})
        await rt.send(_user_text("What does get weather say for Paris?"))
        await rt.wait_for("conversation.item.done")
        await rt.send({"type": "response.create"})
        call_events = await rt.collect_until("response.done")
        limits = await rt.wait_for("rate_limits.updated")
        done = next(e for e in call_events
                    if e["type"] == "response.function_call_arguments.done")
        await rt.send({"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": done["call_id"],
            "output": json.dumps({"city": "Paris", "temp_c": 21})}})
        await rt.wait_for("conversation.item.done")
        await rt.send({"type": "response.create"})
        reply = await rt.collect_until("response.done")
    kinds = [e["type"] for e in call_events]
    assert kinds == [
        "response.created", "response.output_item.added",
        "conversation.item.added", *["response.function_call_arguments.delta"] * kinds.count(
            "response.function_call_arguments.delta"),
        "response.function_call_arguments.done", "conversation.item.done",
        "response.output_item.done", "response.done"]
    assert rt.events[rt.events.index(call_events[-1]) + 1] is limits
    assert done["name"] == "get_weather"
    args = json.loads(done["arguments"])
    assert args == {"city": "What does get weather say for Paris?"}
    deltas = "".join(e["delta"] for e in call_events
                     if e["type"] == "response.function_call_arguments.delta")
    assert deltas == done["arguments"]
    call_item = call_events[-1]["response"]["output"][0]
    assert call_item["type"] == "function_call" and call_item["call_id"] == done["call_id"]
    transcript = next(e for e in reply if e["type"] == "response.output_audio_transcript.done")
    assert transcript["transcript"].startswith("Turn 2. The get_weather tool returned:")
    assert "21" in transcript["transcript"]


async def test_tool_call_flag_forces_a_call(serve: ServerFactory) -> None:
    async with serve(tool_call="lookup") as srv, client(srv.url) as rt:
        await rt.send(_user_text("anything at all"))
        await rt.send({"type": "response.create"})
        done = await rt.wait_for("response.function_call_arguments.done")
    assert done["name"] == "lookup" and done["arguments"] == "{}"


async def test_voice_is_fixed_once_audio_exists(srv: RunningServer) -> None:
    async with client(srv.url) as rt:
        await rt.send({"type": "session.update", "session": {
            "type": "realtime", "audio": {"output": {"voice": "cedar"}}}})
        await rt.wait_for("session.updated")
        await _spoken_reply(rt)
        await rt.send({"type": "session.update", "session": {
            "type": "realtime", "audio": {"output": {"voice": "marin"}}}})
        error = await rt.error()
    assert error["code"] == "cannot_update_voice"
