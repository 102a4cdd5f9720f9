"""Function calling (docs/protocol.md#tool-calls) and the built-in end_conversation tool."""

from __future__ import annotations

from helpers import Harness, Sent, assert_effects, of_type, records, sends

from realtime_cli.core import commands as cmd
from realtime_cli.core.config import SessionConfig, ToolSpec
from realtime_cli.core.records import ItemKind, ItemRecord, SessionEnded
from realtime_cli.core.states import SessionState as S

WEATHER = ToolSpec(name="get_weather", description="Weather for a city",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]})


def calling() -> Harness:
    h = Harness(SessionConfig(tools=(WEATHER,)))
    h.ready()
    h.feed(h.peer.user_turn(0, 900, "weather in Paris?"))
    h.feed(h.peer.response_created())
    return h


def test_a_call_runs_once_although_both_done_events_name_it() -> None:
    h = calling()
    out = h.feed(h.peer.function_call("get_weather", '{"city":"Paris"}', call_id="call_w"))
    assert_effects(out, cmd.RunTool(call_id="call_w", name="get_weather",
                                    arguments='{"city":"Paris"}'))
    [rec] = records(out, ItemRecord)
    assert rec.kind is ItemKind.TOOL_CALL and rec.call_id == "call_w"
    assert rec.arguments == '{"city":"Paris"}'


def test_output_waits_for_response_done_then_one_response_create() -> None:
    h = calling()
    h.feed(h.peer.function_call("get_weather", '{"city":"Paris"}', call_id="call_w"))
    out = h.tool_output("call_w", '{"temp_c": 21}')
    assert_effects(out)  # the response is still open: sending now would collide
    [rec] = records(out, ItemRecord)
    assert rec.kind is ItemKind.TOOL_RESULT and rec.output == '{"temp_c": 21}'

    out = h.feed(h.peer.response_done())
    assert_effects(out, Sent("conversation.item.create"), Sent("response.create"))
    item = sends(out)[0].item
    assert item == {"id": item["id"], "type": "function_call_output", "call_id": "call_w",
                    "output": '{"temp_c": 21}'}
    assert len(item["id"]) <= 32

    assert_effects(h.tool_output("call_w", "again"))  # answered once only
    assert_effects(h.tool_output("call_unknown", "x"))


def test_output_after_response_done_is_sent_at_once() -> None:
    h = calling()
    h.feed(h.peer.function_call("get_weather", "{}", call_id="call_w") + h.peer.response_done())
    assert h.state is S.READY  # no audio in that response
    out = h.tool_output("call_w", "sunny")
    assert_effects(out, Sent("conversation.item.create"), Sent("response.create"))
    out = h.feed(h.peer.response(audio_ms=200, transcript="It is sunny."))
    assert_effects(out, cmd.Play, cmd.Play)


def test_two_parallel_calls_are_answered_together() -> None:
    h = calling()
    out = h.feed(h.peer.function_call("get_weather", '{"city":"Paris"}', call_id="call_1")
                 + h.peer.function_call("get_weather", '{"city":"Rome"}', call_id="call_2"))
    assert_effects(out, cmd.RunTool(call_id="call_1", name="get_weather",
                                    arguments='{"city":"Paris"}'),
                   cmd.RunTool(call_id="call_2", name="get_weather", arguments='{"city":"Rome"}'))
    h.feed(h.peer.response_done())
    assert_effects(h.tool_output("call_2", "rain"))  # still waiting for call_1
    out = h.tool_output("call_1", "sun")
    assert_effects(out, Sent("conversation.item.create"), Sent("conversation.item.create"),
                   Sent("response.create"))
    assert [e.item["call_id"] for e in sends(out)[:2]] == ["call_1", "call_2"]


def test_end_conversation_shuts_down_after_the_goodbye_is_heard() -> None:
    h = Harness()
    h.ready()
    assert "end_conversation" in [t["name"] for t in sends(h.log)[0].session["tools"]]
    h.feed(h.peer.user_turn(0, 900, "bye now"))
    h.feed(h.peer.response_created())
    out = h.feed(h.peer.function_call("end_conversation", "{}"))
    assert_effects(out)  # handled inside the core, no RunTool
    out = h.feed(h.peer.response_done())
    assert_effects(out, Sent("conversation.item.create"), Sent("response.create"))

    out = h.feed(h.peer.response(audio_ms=300, transcript="Goodbye!"))
    assert_effects(out, cmd.Play, cmd.Play, cmd.Play)  # the goodbye plays in full
    out = h.play(h.peer.item_id, 3600)
    assert_effects(out)
    out = h.play(h.peer.item_id, 7200, idle=True)
    assert_effects(out, cmd.FlushPlayback(),
                   cmd.Shutdown(exit_code=0, reason="conversation ended by the assistant"))
    assert records(out, SessionEnded)[0].reason == "conversation ended by the assistant"
    assert h.state is S.CLOSED


def test_end_conversation_is_an_ordinary_tool_when_the_builtin_is_off() -> None:
    h = Harness(SessionConfig(builtin_end_tool=False, tools=(ToolSpec(name="end_conversation"),)))
    h.ready()
    h.feed(h.peer.user_turn(0, 900) + h.peer.response_created())
    out = h.feed(h.peer.function_call("end_conversation", "{}", call_id="call_e"))
    assert_effects(out, cmd.RunTool(call_id="call_e", name="end_conversation", arguments="{}"))


def test_end_conversation_still_ends_when_the_goodbye_never_comes() -> None:
    h = Harness(SessionConfig(response_timeout_s=5.0))
    h.ready()
    h.feed(h.peer.user_turn(0, 900) + h.peer.response_created())
    h.feed(h.peer.function_call("end_conversation", "{}"))
    out = h.feed(h.peer.response_done())
    assert_effects(out, Sent("conversation.item.create"), Sent("response.create"))
    assert h.core.next_deadline() == h.now + 5.0
    out = h.tick_to_deadline()
    assert_effects(out, cmd.FlushPlayback(),
                   cmd.Shutdown(exit_code=0, reason="conversation ended by the assistant"))


def test_a_slow_tool_gets_a_full_response_timeout_from_when_its_output_is_sent() -> None:
    """The response timer starts when `response.create` goes out, not when the state was entered:
    a tool that ran longer than the timeout must not cause an instant "no response"."""
    h = Harness(SessionConfig(tools=(WEATHER,), response_timeout_s=8.0, idle_timeout_s=None))
    h.ready()
    h.feed(h.peer.user_turn(0, 900, "weather in Paris?"))
    h.feed(h.peer.response_created())
    h.feed(h.peer.function_call("get_weather", "{}", call_id="call_w") + h.peer.response_done())
    h.advance(30.0)  # the tool runs for longer than the response timeout
    out = h.tool_output("call_w", "sunny")
    assert_effects(out, Sent("conversation.item.create"), Sent("response.create"))
    errors = h.core.metrics.errors
    assert h.core.next_deadline() == h.now + 8.0
    assert_effects(h.tick(7.9))
    assert h.core.metrics.errors == errors
    out = h.tick(0.1)
    assert [c.text for c in of_type(out, cmd.Notice)] == ["no response from the server within 8 s"]
