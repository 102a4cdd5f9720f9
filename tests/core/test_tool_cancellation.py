"""Tool calls the server cancels (Gemini's `toolCallCancellation`, docs/protocol.md#gemini-live):
the core stops waiting for them, never sends their outputs nor asks for an answer to them,
keeps them in the journal marked cancelled, and asks the driver to stop a tool still running."""

from __future__ import annotations

from helpers import Harness, Sent, assert_effects, of_type, records, sends

from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.config import SessionConfig, ToolSpec
from realtime_cli.core.history import plan_replay
from realtime_cli.core.records import ItemKind, ItemRecord
from realtime_cli.core.states import SessionState as S
from realtime_cli.protocol import events as ev

WEATHER = ToolSpec(name="get_weather", description="Weather for a city",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}})


def cancel(h: Harness, *call_ids: str) -> list[cmd.Command]:
    return h.feed(inp.ServerMessage(now=h.now, event=ev.ToolCallsCancelled(call_ids=call_ids)))


def called(*call_ids: str) -> Harness:
    """A response that made `call_ids` and is done; the tools are running."""
    h = Harness(SessionConfig(tools=(WEATHER,)))
    h.ready()
    h.feed(h.peer.user_turn(0, 900, "weather in Paris?") + h.peer.response_created())
    for call_id in call_ids:
        h.feed(h.peer.function_call("get_weather", '{"city":"Paris"}', call_id=call_id))
    h.feed(h.peer.response_done())
    return h


def test_a_running_tool_is_stopped_and_its_late_output_never_sent() -> None:
    h = called("call_w")
    out = cancel(h, "call_w")
    assert_effects(out, cmd.CancelTool(call_id="call_w"))
    [rec] = records(out, ItemRecord)
    assert rec.kind is ItemKind.TOOL_CALL and rec.call_id == "call_w" and rec.status == "cancelled"
    assert [n.text for n in of_type(out, cmd.Notice)] == [
        "the server cancelled the tool call get_weather"]
    assert h.core.is_quiet()  # nothing is awaited any more
    out = h.tool_output("call_w", "sunny")  # the tool finished anyway
    assert_effects(out)
    assert records(out, ItemRecord) == []


def test_an_output_that_arrived_before_the_response_ended_is_not_sent() -> None:
    h = Harness(SessionConfig(tools=(WEATHER,)))
    h.ready()
    h.feed(h.peer.user_turn(0, 900) + h.peer.response_created())
    h.feed(h.peer.function_call("get_weather", "{}", call_id="call_w"))
    h.tool_output("call_w", "sunny")  # held until response.done
    out = cancel(h, "call_w")
    assert_effects(out)  # the tool is done: nothing to stop
    recs = records(out, ItemRecord)
    assert {(r.kind, r.status) for r in recs} == {(ItemKind.TOOL_CALL, "cancelled"),
                                                  (ItemKind.TOOL_RESULT, "cancelled")}
    out = h.feed(h.peer.response_done())
    assert sends(out) == []  # neither the output nor a response.create


def test_only_the_cancelled_call_of_two_is_dropped() -> None:
    h = called("call_1", "call_2")
    assert_effects(cancel(h, "call_1"), cmd.CancelTool(call_id="call_1"))
    out = h.tool_output("call_2", "rain")
    assert_effects(out, Sent("conversation.item.create"), Sent("response.create"))
    assert sends(out)[0].item["call_id"] == "call_2"


def test_cancelling_the_last_unanswered_call_sends_the_others_outputs() -> None:
    h = called("call_1", "call_2")
    h.tool_output("call_2", "rain")  # waits for call_1
    out = cancel(h, "call_1")
    assert_effects(out, cmd.CancelTool(call_id="call_1"), Sent("conversation.item.create"),
                   Sent("response.create"))
    assert sends(out)[0].item["call_id"] == "call_2"


def test_unknown_and_repeated_cancellations_change_nothing() -> None:
    h = called("call_w")
    assert cancel(h, "call_other") == []
    h.tool_output("call_w", "sunny")  # answered and sent: too late to cancel
    assert cancel(h, "call_w") == []
    assert h.state is not S.CLOSED


def test_a_cancelled_call_is_not_replayed_into_a_new_session() -> None:
    h = called("call_w")
    cancel(h, "call_w")
    items, _ = plan_replay(h.core.history(), 40)
    assert [i["type"] for i in items] == ["message"]  # the user's question only


def test_a_stored_cancelled_call_is_not_replayed_by_rt_resume_either() -> None:
    from realtime_cli.runtime.resume import history_from_records

    h = called("call_w")
    out = cancel(h, "call_w")
    stored = tuple({r.local_id: r for r in records(h.log, ItemRecord)}.values())
    assert any(r.status == "cancelled" for r in records(out, ItemRecord))
    items, _ = plan_replay(history_from_records(stored), 40)
    assert "function_call" not in [i["type"] for i in items]
