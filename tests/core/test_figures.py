"""One meaning for each figure: user turns, assistant turns and tool calls, interruptions by
kind with the heard fraction, audio sent/received/heard, idle time; journaled at each turn's
end and at the end, so `rt sessions show` and `rt stats` report what the dashboard showed."""

from __future__ import annotations

import pytest
from helpers import Harness, records

from realtime_cli.core.config import SessionConfig, ToolSpec
from realtime_cli.core.inputs import Action
from realtime_cli.core.records import SessionEnded, SessionFigures, SessionStatus


def test_an_exchange_is_one_user_turn_and_one_assistant_turn_everywhere() -> None:
    h = Harness(SessionConfig(tools=(ToolSpec(name="get_time"),)))
    h.ready()
    h.advance(2.0)  # idle, ready
    h.mic(600)
    h.feed(h.peer.user_turn(0, 600, "what time is it"))
    h.feed(h.peer.response_created())
    h.feed(h.peer.function_call("get_time", "{}", call_id="call_t") + h.peer.response_done())
    h.tool_output("call_t", "noon")
    h.feed(h.peer.response(audio_ms=1000, transcript="It is noon."))
    out = h.play(h.peer.item_id, 24_000, idle=True)
    [figures] = records(out, SessionFigures)
    assert (figures.user_turns, figures.assistant_turns, figures.tool_calls) == (1, 1, 1)
    assert figures.interruptions == 0 and figures.interrupt_rate == 0.0
    assert figures.audio_sent_ms == pytest.approx(600.0)
    assert figures.audio_received_ms == pytest.approx(1000.0)
    assert figures.audio_heard_ms == pytest.approx(1000.0)
    assert figures.idle_s == pytest.approx(2.0)
    snap = h.core.snapshot(h.now)
    assert (snap.user_turns, snap.assistant_turns) == (1, 1)


def test_interruptions_by_kind_and_the_heard_fraction() -> None:
    h = Harness()
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "story"))
    h.feed(h.peer.response(audio_ms=2000, transcript="a b c d", done=False))
    h.play(h.peer.item_id, 500 * 24)
    h.user(Action.INTERRUPT)  # heard a quarter
    h.feed(h.peer.item_done(status="incomplete") + h.peer.response_done("cancelled"))
    out = h.user(Action.QUIT)
    [figures] = records(out, SessionFigures)
    assert (figures.manual_cancels, figures.speech_overlaps, figures.cancel_requests) == (1, 0, 0)
    assert figures.heard_fraction == pytest.approx(0.25)
    assert figures.audio_heard_ms == pytest.approx(500.0)
    assert figures.assistant_turns == 1 and figures.interrupt_rate == 1.0


def test_a_session_that_ends_in_an_error_is_failed_with_its_reason() -> None:
    h = Harness()
    h.ready()
    out = h.feed(h.peer.error("invalid_api_key", "Incorrect API key provided"))
    [ended] = records(out, SessionEnded)
    assert ended.status is SessionStatus.FAILED
    assert "Incorrect API key provided" in ended.reason
    assert records(out, SessionFigures)[0].errors == 1


def test_a_resumed_session_counts_on_from_its_earlier_runs() -> None:
    prior = SessionFigures(session_id="s1e55i0n", user_turns=2, assistant_turns=2, tool_calls=1,
                           manual_cancels=1, heard_fraction=0.5, errors=1, audio_sent_ms=800.0,
                           audio_received_ms=2000.0, audio_heard_ms=1500.0, idle_s=4.0,
                           reconnects=1)
    h = Harness(resumed=True, prior=prior)
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "and then?"))
    h.feed(h.peer.response(audio_ms=1000, transcript="Then this."))
    out = h.play(h.peer.item_id, 24_000, idle=True)
    [figures] = records(out, SessionFigures)
    assert (figures.user_turns, figures.assistant_turns, figures.tool_calls) == (3, 3, 1)
    assert (figures.manual_cancels, figures.heard_fraction, figures.errors) == (1, 0.5, 1)
    assert figures.audio_received_ms == pytest.approx(3000.0)
    assert figures.audio_heard_ms == pytest.approx(2500.0)
    assert figures.reconnects == 1 and figures.idle_s >= 4.0


def test_a_session_refused_before_ready_shows_its_start_as_the_last_activity() -> None:
    # rt builds the core before the session begins (launch: now=0.0); the figures' wall times
    # are anchored at Begin, and a session that never got further was last active then.
    from realtime_cli.core import inputs as inp
    from realtime_cli.core.session import SessionCore

    h = Harness()
    h.core = SessionCore(h.config, session_id="s1e55i0n", now=0.0, jitter=lambda: 0.5)
    wall = h.clock.wall()
    h.begin()
    h.open()
    h.advance(0.01)
    out = h.feed(inp.Closed(now=h.now, code=1007, reason="API key not valid."))
    [figures] = records(out, SessionFigures)
    assert figures.last_activity_at == pytest.approx(wall, abs=0.1)
