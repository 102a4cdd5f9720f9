"""What a new server session must not receive: the same tool output twice, or a truncate or
delete of an item that lived in the previous one."""

from __future__ import annotations

from helpers import Harness, records, sends

from realtime_cli.core.config import SessionConfig, ToolSpec
from realtime_cli.core.records import ItemKind, ItemRecord

WEATHER = ToolSpec(name="get_weather")


def test_a_tool_output_that_arrives_while_reconnecting_is_sent_once() -> None:
    h = Harness(SessionConfig(tools=(WEATHER,)))
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "weather?") + h.peer.response_created())
    h.feed(h.peer.function_call("get_weather", "{}", call_id="call_w") + h.peer.response_done())
    h.close(1006)  # the tool is still running
    h.tool_output("call_w", "sunny")
    start = len(h.log)
    h.reconnect()
    sent = sends(h.log[start:])
    outputs = [e.item for e in sent if e.type == "conversation.item.create"
               and e.item["type"] == "function_call_output"]
    assert [(o["call_id"], o["output"]) for o in outputs] == [("call_w", "sunny")]
    assert [e.type for e in sent].count("response.create") == 1  # the answer is asked for
    assert [e.type for e in sent][-1] == "response.create"


def test_no_truncate_for_an_item_of_the_previous_server_session() -> None:
    """After a drop the received audio plays on; talking over it then must not name an item
    the new server session has never heard of (it has the replayed text instead)."""
    h = Harness()
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "story please"))
    h.feed(h.peer.response(audio_ms=2000, transcript="alpha beta gamma delta", done=False))
    old_item = h.peer.item_id
    h.play(old_item, 500 * 24)
    h.close(1006)
    h.reconnect()
    h.play(old_item, 900 * 24)  # still playing what arrived before the drop
    start = len(h.log)
    h.feed(h.peer.speech_started(3000))
    names = [getattr(e, "item_id", None) for e in sends(h.log[start:])]
    assert old_item not in names


def test_a_barge_in_before_any_audio_was_heard_deletes_the_unheard_answer() -> None:
    """The server refuses a truncate at 0 ms; the answer nobody heard must leave its context."""
    h = Harness()
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "hello"))
    h.feed(h.peer.response(audio_ms=400, transcript="Hi there.", done=False))
    item_id = h.peer.item_id
    out = h.feed(h.peer.speech_started(1200))  # nothing of it has played yet
    kinds = [(e.type, getattr(e, "item_id", None)) for e in sends(out)]
    assert ("conversation.item.delete", item_id) in kinds
    assert "conversation.item.truncate" not in [k for k, _ in kinds]
    [rec] = [r for r in records(out, ItemRecord) if r.kind is ItemKind.ASSISTANT]
    assert rec.truncated and rec.audio_end_ms == 0 and rec.heard_text == ""
