"""Illegal transitions are never dropped silently: the server's are recorded and survived, the
user's are told as a notice."""

from __future__ import annotations

from helpers import Harness, assert_effects, of_type

from realtime_cli.core import commands as cmd
from realtime_cli.core.inputs import Action
from realtime_cli.core.states import Cause, SessionState, Trigger


def test_a_server_event_in_the_wrong_state_is_recorded_and_the_session_goes_on() -> None:
    h = Harness()
    h.ready()
    out = h.feed(h.peer.session_created())  # a second session.created on a live session
    assert h.state is SessionState.READY
    assert of_type(out, cmd.StatusChanged) == []
    assert_effects(out)  # no second session.update
    [refused] = h.core.lifecycle.refused
    assert (refused.state, refused.trigger, refused.cause) == (
        SessionState.READY, Trigger.SESSION_CREATED, Cause.PEER)
    assert h.core.metrics.refused_moves == 1
    h.feed(h.peer.user_turn(0, 900, "hello"))  # and the conversation still works
    h.feed(h.peer.response(audio_ms=200, transcript="Hi."))
    assert h.core.assistant_turns == 1


def test_a_user_command_that_cannot_apply_is_told_as_a_notice() -> None:
    h = Harness()
    h.begin()
    h.open()  # connected, not yet configured: nothing to pause
    out = h.user(Action.PAUSE)
    assert [n.text for n in of_type(out, cmd.Notice)] == ["cannot pause while connected"]
    assert_effects(out)
    assert h.state is SessionState.CONNECTED
    assert h.core.lifecycle.refused[-1].cause is Cause.LOCAL
    assert h.core.metrics.refused_moves == 0  # the user's, not the server's


def test_resume_when_not_paused_says_so() -> None:
    h = Harness()
    h.ready()
    out = h.user(Action.RESUME)
    assert [n.text for n in of_type(out, cmd.Notice)] == ["cannot resume while ready"]
    assert h.state is SessionState.READY
