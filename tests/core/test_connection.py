"""Expiry rollover with history replay, reconnects with backoff, close codes and server errors
(docs/protocol.md)."""

from __future__ import annotations

import pytest
from helpers import Harness, Sent, assert_effects, records, sends

from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.backoff import MAX_DELAY_S, backoff_delay, is_retryable_close
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.history import MAX_ITEM_ID, RESUME_REMINDER
from realtime_cli.core.records import ConnectionRecord, SessionEnded
from realtime_cli.core.session import EXIT_FATAL
from realtime_cli.core.states import SessionState as S


def ready(**config: object) -> Harness:
    defaults: dict[str, object] = {"idle_timeout_s": None, "response_timeout_s": 1000.0}
    h = Harness(SessionConfig(**{**defaults, **config}))  # type: ignore[arg-type]
    h.ready()
    return h


def two_turns(h: Harness) -> None:
    """A fully heard turn, then an answer cut at half by barge-in."""
    h.feed(h.peer.user_turn(0, 500, "hello"))
    h.feed(h.peer.response(audio_ms=400, transcript="Hi there friend."))
    h.play(h.peer.item_id, 400 * 24, idle=True)
    h.feed(h.peer.user_turn(1000, 1500, "tell me a story"))
    h.feed(h.peer.response(audio_ms=2000, transcript="Once upon a time there lived a fox",
                           done=False))
    h.play(h.peer.item_id, 1000 * 24)
    h.feed(h.peer.speech_started(3000) + h.peer.item_done(status="incomplete")
           + h.peer.response_done("cancelled", "turn_detected"))
    h.feed(h.peer.speech_stopped(3300) + h.peer.committed() + h.peer.response_created())
    h.feed(h.peer.response_done("cancelled"))  # an empty answer; the user then falls silent


# --------------------------------------------------------------------------- rollover


def test_rollover_before_expiry_when_quiet() -> None:
    h = ready()
    expires_at = h.peer.session_object()["expires_at"]
    assert h.core.next_deadline() == pytest.approx(h.now + 3600 - 120)
    out = h.tick_to_deadline()
    assert_effects(out, cmd.Connect(delay_s=0.0, reason="rollover"))
    [closed] = records(out, ConnectionRecord)
    assert (closed.close_code, closed.close_reason) == (1000, "rollover")
    assert h.state is S.INITIALIZING and h.core.metrics.rollovers == 1
    assert expires_at == int(h.clock.wall() + 120)

    out = h.open()
    assert records(out, ConnectionRecord)[0].reason == "rollover"
    assert_effects(h.feed(h.peer.session_created()), Sent("session.update"))
    assert_effects(h.feed(h.peer.session_updated()))  # nothing said yet: nothing to replay
    assert h.state is S.READY


def test_rollover_waits_for_the_response_and_playback_to_finish() -> None:
    h = ready()
    h.advance(3400)
    h.feed(h.peer.user_turn(0, 500) + h.peer.response(audio_ms=10_000, done=False))
    assert h.core.next_deadline() == pytest.approx(h.now + 80)
    assert_effects(h.tick_to_deadline())  # mid-response: deferred
    assert h.core.next_deadline() == pytest.approx(h.now + 90)  # the late window
    assert_effects(h.feed(h.peer.item_done() + h.peer.response_done()))  # still playing
    out = h.play(h.peer.item_id, 10_000 * 24, idle=True)
    assert_effects(out, cmd.Connect(delay_s=0.0, reason="rollover"))


def test_late_in_the_session_a_done_response_is_quiet_enough_and_plays_on() -> None:
    """In the last 30 s the rollover takes the first moment the server is quiet: the answer's
    audio has all arrived and plays on while the new connection is made."""
    h = ready()
    expiry = h.now + 3600.0  # session.created said expires in an hour
    h.advance(3400)
    h.feed(h.peer.user_turn(0, 500) + h.peer.response(audio_ms=10_000, done=False))
    h.tick_to_deadline()  # deferred
    assert_effects(h.tick_to_deadline())  # the late window opens mid-response: still waits
    assert h.core.next_deadline() == pytest.approx(expiry - 2.0)
    out = h.feed(h.peer.item_done() + h.peer.response_done())
    assert_effects(out, cmd.Connect(delay_s=0.0, reason="rollover"))  # no FlushPlayback


def test_rollover_is_forced_two_seconds_before_the_expiry() -> None:
    h = ready()
    expiry = h.now + 3600.0  # session.created said expires in an hour
    h.advance(3400)
    h.feed(h.peer.user_turn(0, 500) + h.peer.response(audio_ms=10_000, done=False))
    h.tick_to_deadline()
    h.tick_to_deadline()
    out = h.tick_to_deadline()
    assert_effects(out, cmd.Connect(delay_s=0.0, reason="rollover"))
    assert h.now == pytest.approx(expiry - 2.0)


def test_session_expired_error_rolls_over_at_once_and_the_1001_close_is_expected() -> None:
    h = ready()
    h.feed(h.peer.user_turn(0, 500) + h.peer.response(audio_ms=1000, done=False))
    out = h.feed(h.peer.session_expired())
    assert_effects(out, cmd.Connect(delay_s=0.0, reason="rollover"))
    assert_effects(h.close(1001, "Your session hit the maximum duration of 60 minutes."))
    assert h.core.metrics.reconnects == 0


def test_after_rollover_history_is_replayed_as_text_with_short_ids() -> None:
    h = ready()
    two_turns(h)
    h.feed(h.peer.session_expired())
    h.open()
    out = h.feed(h.peer.session_created())
    [update] = sends(out)
    assert RESUME_REMINDER in update.session["instructions"]
    out = h.feed(h.peer.session_updated())
    items = [e.item for e in sends(out)]
    assert all(e.type == "conversation.item.create" for e in sends(out))
    assert [(i["role"], i["content"]) for i in items] == [
        ("user", [{"type": "input_text", "text": "hello"}]),
        ("assistant", [{"type": "output_text", "text": "Hi there friend."}]),
        ("user", [{"type": "input_text", "text": "tell me a story"}]),
        ("assistant", [{"type": "output_text", "text": "Once upon a time"}]),  # heard part
    ]  # the last user item has neither transcript nor audio: nothing to replay
    ids = [i["id"] for i in items]
    assert all(len(i) <= MAX_ITEM_ID for i in ids) and len(set(ids)) == len(ids)
    assert h.state is S.READY


def test_replay_of_tool_calls_and_results() -> None:
    h = ready()
    h.feed(h.peer.user_turn(0, 500, "weather?") + h.peer.response_created())
    h.feed(h.peer.function_call("get_weather", '{"city":"Oslo"}', call_id="call_x"))
    h.tool_output("call_x", "cold")
    h.feed(h.peer.response_done())
    h.feed(h.peer.response(audio_ms=200, transcript="It is cold."))
    h.play(h.peer.item_id, 4800, idle=True)
    h.close(1006)
    h.reconnect()
    replayed = [e.item for e in sends(h.log[-10:]) if e.type == "conversation.item.create"]
    assert [(i["type"], i.get("role")) for i in replayed] == [
        ("message", "user"), ("function_call", None), ("function_call_output", None),
        ("message", "assistant")]
    assert replayed[1]["call_id"] == replayed[2]["call_id"] == "call_x"
    assert replayed[1]["arguments"] == '{"city":"Oslo"}' and replayed[2]["output"] == "cold"


# --------------------------------------------------------------------------- reconnects


def test_dropped_connection_reconnects_with_jittered_backoff() -> None:
    h = ready()
    out = h.close(1006)
    assert_effects(out, cmd.Connect(delay_s=backoff_delay(1, 0.5), reason="reconnect",
                                    attempt=1))
    assert h.state is S.INITIALIZING
    assert h.core.notice is not None and "reconnecting" in h.core.notice.text
    out = h.feed(inp.ConnectFailed(now=h.now, message="connection refused"))
    assert_effects(out, cmd.Connect(delay_s=backoff_delay(2, 0.5), reason="reconnect",
                                    attempt=2))
    h.reconnect()
    assert h.state is S.READY and h.core.metrics.reconnects == 2
    out = h.close(None)  # no close frame at all
    assert_effects(out, cmd.Connect(delay_s=backoff_delay(1, 0.5), reason="reconnect",
                                    attempt=1))  # the count starts again after a success


def test_jitter_spreads_the_delays() -> None:
    delays = set()
    for jitter in (0.0, 0.3, 0.9):
        h = Harness(SessionConfig(), jitter=jitter)
        h.ready()
        [connect] = [c for c in h.close(1011) if isinstance(c, cmd.Connect)]
        delays.add(connect.delay_s)
    assert len(delays) == 3


def test_reconnect_attempts_are_bounded() -> None:
    h = ready(max_reconnect_attempts=3)
    h.close(1006)
    for _ in range(2):
        h.feed(inp.ConnectFailed(now=h.now, message="refused"))
    out = h.feed(inp.ConnectFailed(now=h.now, message="refused"))
    assert_effects(out, cmd.Shutdown(
        exit_code=EXIT_FATAL,
        reason="connection lost and 3 reconnect attempts failed: refused",
        cause=cmd.EndCause.TRANSPORT))
    assert h.state is S.CLOSED


@pytest.mark.parametrize("code", [4000, 1008])
def test_fatal_close_codes_end_the_run(code: int) -> None:
    h = ready()
    out = h.close(code, "beta_api_shape_disabled")
    [shutdown] = [c for c in out if isinstance(c, cmd.Shutdown)]
    assert shutdown.exit_code == EXIT_FATAL
    assert shutdown.cause is cmd.EndCause.TRANSPORT
    assert_effects(out, cmd.Shutdown)
    [ended] = records(out, SessionEnded)
    assert ended.reason == shutdown.reason


def test_first_connection_failure_is_fatal() -> None:
    h = Harness()
    h.begin()
    out = h.feed(inp.ConnectFailed(now=h.now, message="HTTP 401", fatal=True))
    assert_effects(out, cmd.Shutdown(exit_code=EXIT_FATAL, reason="HTTP 401",
                                    cause=cmd.EndCause.TRANSPORT))


def test_a_drop_mid_answer_keeps_the_audio_received_which_still_plays() -> None:
    h = ready()
    h.feed(h.peer.user_turn(0, 500, "story please"))
    h.feed(h.peer.response(audio_ms=2000, transcript="alpha beta gamma delta", done=False))
    h.play(h.peer.item_id, 1000 * 24)
    out = h.close(1006)
    # No FlushPlayback: what arrived is still heard, to its end (no more is coming).
    assert_effects(out, cmd.Connect)
    assert [c for c in out if isinstance(c, cmd.EndOfAudio)] == [
        cmd.EndOfAudio(item_id=h.peer.item_id)]
    h.reconnect()
    replayed = [e.item for e in sends(h.log[-6:]) if e.type == "conversation.item.create"]
    assert replayed[-1]["content"] == [{"type": "output_text", "text": "alpha beta gamma delta"}]


def test_backoff_delay_shape() -> None:
    assert backoff_delay(1, 0.0) == pytest.approx(0.1)
    assert backoff_delay(1, 0.999) < 0.31
    assert [backoff_delay(n, 1.0) for n in range(2, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert all(backoff_delay(n, j) <= MAX_DELAY_S for n in range(1, 40) for j in (0.0, 0.99))
    assert all(is_retryable_close(c) for c in (None, 1001, 1005, 1006, 1011, 1012, 1013, 1015))
    assert not any(is_retryable_close(c) for c in (1000, 1008, 4000))


# --------------------------------------------------------------------------- server errors


def test_recoverable_error_mid_response_is_a_notice_and_the_answer_goes_on() -> None:
    h = ready()
    h.feed(h.peer.user_turn(0, 500) + h.peer.response(audio_ms=200, done=False))
    out = h.feed(h.peer.error(None, "The server had an error", type="server_error"))
    assert_effects(out)
    assert h.core.notice == cmd.Notice(level="warning",
                                       text="server error: The server had an error (server_error)")
    assert h.core.metrics.errors == 1
    assert_effects(h.feed(h.peer.audio(100)), cmd.Play)
    h.feed(h.peer.item_done() + h.peer.response_done())
    h.play(h.peer.item_id, 300 * 24, idle=True)
    assert h.state is S.READY


def test_truncate_too_long_error_with_null_event_id_is_survivable() -> None:
    h = ready()
    out = h.feed(h.peer.error("invalid_value",
                              "Audio content of 9800ms is already shorter than 11579ms"))
    assert_effects(out)
    assert h.state is S.READY


@pytest.mark.parametrize("code", ["invalid_api_key", "beta_api_shape_disabled",
                                  "model_not_found", "insufficient_quota"])
def test_fatal_errors_shut_down_non_zero(code: str) -> None:
    h = ready()
    out = h.feed(h.peer.error(code, "nope"))
    assert_effects(out, cmd.Shutdown(exit_code=EXIT_FATAL, reason=f"fatal: nope ({code})",
                                    cause=cmd.EndCause.TRANSPORT))


def test_refused_session_update_is_fatal_by_event_id() -> None:
    h = Harness()
    h.begin()
    h.open()
    h.feed(h.peer.session_created())
    out = h.feed(h.peer.error("unknown_parameter", "Unknown parameter: 'session.modalities'.",
                              param="session.modalities", event_id="rt_cfg_1"))
    [shutdown] = [c for c in out if isinstance(c, cmd.Shutdown)]
    assert shutdown.exit_code == EXIT_FATAL
    assert shutdown.cause is cmd.EndCause.TRANSPORT
    assert "refused the session configuration" in shutdown.reason


def test_refused_session_update_is_fatal_by_param_when_event_id_is_null() -> None:
    h = Harness()
    h.begin()
    h.open()
    h.feed(h.peer.session_created())
    out = h.feed(h.peer.error("missing_required_parameter", "Missing 'session.type'.",
                              param="session.type"))
    assert_effects(out, cmd.Shutdown)
    assert h.state is S.CLOSED


def test_cancel_not_active_is_harmless_and_active_response_defers_response_create() -> None:
    h = ready()
    assert_effects(h.feed(h.peer.error("response_cancel_not_active",
                                       "Cancellation failed: no active response found")))
    assert h.core.notice is None
    h.feed(h.peer.user_turn(0, 500) + h.peer.response(audio_ms=100, done=False))
    out = h.feed(h.peer.error("conversation_already_has_active_response", "busy"))
    assert_effects(out)
    out = h.feed(h.peer.item_done() + h.peer.response_done())
    assert_effects(out, Sent("response.create"))


def test_a_run_that_never_connects_stores_nothing() -> None:
    """A bad URL, a refused connection or a rejected key must not leave an empty session."""
    h = Harness()
    out = h.begin()
    out += h.core.handle(inp.ConnectFailed(now=h.clock.monotonic(), message="refused"))
    assert [c for c in out if isinstance(c, cmd.Journal)] == []
    assert any(isinstance(c, cmd.Shutdown) and c.exit_code != 0 for c in out)


def test_every_record_of_a_connection_carries_the_time_it_opened() -> None:
    """One factory for connection records: the close is journaled with the real opening time,
    so storage never has to patch a placeholder."""
    h = Harness()
    h.begin()
    h.advance(0.25)
    opened = h.clock.wall()
    out = h.open()
    h.advance(0.5)
    out += h.feed(h.peer.session_created()) + h.feed(h.peer.session_updated())
    h.advance(3.0)
    out += h.close(1006)
    conns = records(out, ConnectionRecord)
    assert len(conns) == 3 and {c.index for c in conns} == {1}
    assert [c.opened_at for c in conns] == [opened] * 3
    assert conns[-1].closed_at == h.clock.wall() and conns[-1].close_code == 1006


def test_a_resumed_session_numbers_its_connections_after_the_earlier_runs() -> None:
    """Connection records are upserted by (session, index): a resumed run starting again at 1
    would overwrite the first run's record."""
    h = Harness(resumed=True, connections_before=3)
    out = h.ready()
    assert {r.index for r in records(out, ConnectionRecord)} == {4}
