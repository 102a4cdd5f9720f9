"""Providers that announce the end of a connection and let a new one resume the server session
(Gemini Live's goAway and session resumption handles), as typed events the core handles the
same way whatever the wire."""

from __future__ import annotations

from helpers import Harness, Like, assert_effects, of_type, sends

from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.states import SessionState as S
from realtime_cli.protocol import events as ev


def event(h: Harness, e: ev.ServerEvent) -> list[cmd.Command]:
    return h.feed(inp.ServerMessage(now=h.now, event=e))


def test_an_announced_end_rolls_over_as_soon_as_the_server_is_quiet() -> None:
    """With seconds left, the moment the answer has all arrived is quiet enough: it plays on
    while the new connection is made."""
    h = Harness()
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "hello") + h.peer.response(audio_ms=500, done=False))
    assert_effects(event(h, ev.SessionExpiring(seconds_left=10.0)))  # mid-answer: waits
    out = h.feed(h.peer.item_done() + h.peer.response_done())
    assert_effects(out, cmd.Connect(delay_s=0.0, reason="rollover"))


def test_an_announced_end_when_quiet_rolls_over_at_once() -> None:
    h = Harness()
    h.ready()
    out = event(h, ev.SessionExpiring(seconds_left=50.0))
    assert_effects(out, cmd.Connect(delay_s=0.0, reason="rollover"))


def test_a_new_connection_resumes_with_the_newest_handle_and_replays_nothing() -> None:
    h = Harness()
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "hello") + h.peer.response(audio_ms=300, transcript="Hi."))
    event(h, ev.SessionResumable(handle="h1"))
    event(h, ev.SessionResumable(handle="h2"))
    h.close(1006)
    h.open()
    out = h.feed(h.peer.session_created())
    [update] = [e for e in sends(out) if isinstance(e, ev.SessionUpdate)]
    assert update.resume_handle == "h2"
    out = event(h, ev.SessionUpdated(session={}, resumed=True))
    assert [e.type for e in sends(out)] == []  # the kept session has the conversation
    assert h.state is S.READY


def test_without_a_kept_session_the_history_is_replayed() -> None:
    h = Harness()
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "hello") + h.peer.response(audio_ms=300, transcript="Hi."))
    event(h, ev.SessionResumable(handle="h1"))
    h.close(1006)
    h.open()
    h.feed(h.peer.session_created())
    out = event(h, ev.SessionUpdated(session={}, resumed=False))  # the handle was not usable
    assert [e.type for e in sends(out)] == ["conversation.item.create"] * 2


def resuming_after_a_drop() -> Harness:
    """A conversation with a handle, its connection dropped; the new one offers the handle."""
    h = Harness()
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "hello") + h.peer.response(audio_ms=300, transcript="Hi."))
    event(h, ev.SessionResumable(handle="h1"))
    h.close(1006)
    h.open()
    out = h.feed(h.peer.session_created())
    [update] = [e for e in sends(out) if isinstance(e, ev.SessionUpdate)]
    assert update.resume_handle == "h1"
    return h


def test_a_refused_handle_is_dropped_and_the_next_connection_replays_the_history() -> None:
    """Gemini refuses a stale handle by closing before setupComplete (the twin: 1008): rt forgets
    the handle instead of offering it again, and the new session is told the conversation."""
    h = resuming_after_a_drop()
    out = h.close(1008, "Session resumption handle is not valid or has expired.")
    assert_effects(out, Like(cmd.Connect, reason="reconnect"))
    [note] = of_type(out, cmd.Notice)
    assert note.level == "warning" and "did not resume the session" in note.text
    assert "close 1008" in note.text
    assert h.state is not S.CLOSED
    h.open()
    out = h.feed(h.peer.session_created())
    [update] = [e for e in sends(out) if isinstance(e, ev.SessionUpdate)]
    assert update.resume_handle is None
    out = event(h, ev.SessionUpdated(session={}, resumed=False))
    assert [e.type for e in sends(out)] == ["conversation.item.create"] * 2
    assert h.state is S.READY


def test_a_resume_with_no_answer_in_time_drops_the_handle_too() -> None:
    h = resuming_after_a_drop()
    out = h.tick_to_deadline()
    assert_effects(out, Like(cmd.Connect, reason="reconnect"))
    h.open()
    out = h.feed(h.peer.session_created())
    [update] = [e for e in sends(out) if isinstance(e, ev.SessionUpdate)]
    assert update.resume_handle is None


def test_without_a_handle_the_same_close_is_still_fatal() -> None:
    h = resuming_after_a_drop()
    h.close(1008, "Session resumption handle is not valid or has expired.")
    h.open()
    h.feed(h.peer.session_created())
    out = h.close(1008, "policy")
    assert_effects(out, Like(cmd.Shutdown, exit_code=3))


def test_a_handle_that_worked_is_kept_for_the_next_drop() -> None:
    h = resuming_after_a_drop()
    event(h, ev.SessionUpdated(session={}, resumed=True))
    out = h.close(1006)
    assert [n.text for n in of_type(out, cmd.Notice) if "resume" in n.text] == []
    h.open()
    out = h.feed(h.peer.session_created())
    [update] = [e for e in sends(out) if isinstance(e, ev.SessionUpdate)]
    assert update.resume_handle == "h1"
