"""`response.done` with `status: failed` (status_details.error, as the openai SDK types it):
one clear line, the failure kept with the turn, no tool step after it, and the session ends on
errors that no retry can mend (quota, auth)."""

from __future__ import annotations

from helpers import Harness, assert_effects, of_type, records, sends

from realtime_cli.core import commands as cmd
from realtime_cli.core.config import SessionConfig, ToolSpec
from realtime_cli.core.records import SessionEnded, TurnRecord
from realtime_cli.core.session import EXIT_FATAL
from realtime_cli.core.states import SessionState as S


def failed(h: Harness, code: str, message: str, type_: str = "server_error") -> list[cmd.Command]:
    frame = {"type": "response.done", "event_id": "ev_f", "response": {
        "object": "realtime.response", "id": h.peer.response_id, "status": "failed",
        "status_details": {"type": "failed", "error": {"type": type_, "code": code,
                                                       "message": message}},
        "output": [], "usage": None}}
    return h.feed(h.peer.raw(frame))


def test_a_failed_response_is_one_notice_and_is_stored_with_its_turn() -> None:
    h = Harness()
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "hello") + h.peer.response_created())
    out = failed(h, "rate_limit_exceeded", "Rate limit reached for requests", "rate_limit_error")
    notices = [(n.level, n.text) for n in of_type(out, cmd.Notice)]
    assert notices == [("warning", "the answer failed: Rate limit reached for requests "
                                   "(rate_limit_exceeded)")]
    [turn] = records(out, TurnRecord)
    assert turn.status == "failed"
    assert turn.error == "rate_limit_exceeded: Rate limit reached for requests"
    assert h.state is S.READY and h.core.metrics.errors == 1  # the conversation goes on


def test_insufficient_quota_ends_the_session_with_its_line() -> None:
    h = Harness()
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "hello") + h.peer.response_created())
    out = failed(h, "insufficient_quota", "You exceeded your current quota.",
                 "insufficient_quota")
    [shutdown] = of_type(out, cmd.Shutdown)
    assert shutdown.exit_code == EXIT_FATAL and shutdown.cause is cmd.EndCause.TRANSPORT
    assert shutdown.reason == "the answer failed: You exceeded your current quota. (insufficient_quota)"
    [ended] = records(out, SessionEnded)
    assert ended.reason == shutdown.reason
    assert h.state is S.CLOSED


def test_no_tool_step_after_a_failed_response() -> None:
    h = Harness(SessionConfig(tools=(ToolSpec(name="get_weather"),)))
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "weather?") + h.peer.response_created())
    h.feed(h.peer.function_call("get_weather", "{}", call_id="call_w"))
    failed(h, "server_error", "The server had an error.")
    out = h.tool_output("call_w", "sunny")
    assert_effects(out)  # nothing sent: the failed response's call is void
    assert "response.create" not in [e.type for e in sends(h.log)]
