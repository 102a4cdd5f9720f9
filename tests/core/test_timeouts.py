"""Timeouts on a ManualClock, reached through `next_deadline()` and `Tick` (no wall clock in core tests)."""

from __future__ import annotations

import pytest
from helpers import Harness, Sent, assert_effects, records

from realtime_cli.core import commands as cmd
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.inputs import Action, StorageTrouble
from realtime_cli.core.records import SessionEnded
from realtime_cli.core.session import EXIT_FATAL
from realtime_cli.core.states import SessionState as S


def ready(**config: object) -> Harness:
    h = Harness(SessionConfig(**config))  # type: ignore[arg-type]
    h.ready(expires_in=None)
    return h


def test_idle_timeout_closes_a_quiet_session() -> None:
    h = ready(idle_timeout_s=30.0)
    assert h.core.next_deadline() == pytest.approx(h.now + 30.0)
    assert_effects(h.tick(29.9))
    out = h.tick_to_deadline()
    assert_effects(out, cmd.FlushPlayback(), cmd.Shutdown(exit_code=0, reason="idle for 30 s"))
    assert records(out, SessionEnded)[0].reason == "idle for 30 s"
    assert h.state is S.CLOSED


def test_activity_pushes_the_idle_deadline_back() -> None:
    h = ready(idle_timeout_s=30.0)
    h.advance(20)
    h.feed(h.peer.user_turn(0, 500) + h.peer.response(audio_ms=100))
    h.advance(5)
    h.play(h.peer.item_id, 2400, idle=True)
    assert h.core.next_deadline() == pytest.approx(h.now + 30.0)


def test_total_timeout_ends_the_session_whatever_it_is_doing() -> None:
    h = ready(total_timeout_s=60.0, idle_timeout_s=None, response_timeout_s=100.0)
    h.advance(30)
    h.feed(h.peer.user_turn(0, 500) + h.peer.response(audio_ms=100, done=False))
    assert h.core.next_deadline() == pytest.approx(1060.0)
    out = h.tick_to_deadline()
    assert_effects(out, cmd.FlushPlayback(),
                   cmd.Shutdown(exit_code=0, reason="time limit of 60 s reached"))


def test_response_wait_timeout_after_the_user_stopped_speaking() -> None:
    h = ready(response_timeout_s=8.0, idle_timeout_s=None)
    h.feed(h.peer.user_turn(0, 500))
    assert h.state is S.PROCESSING
    assert h.core.next_deadline() == pytest.approx(h.now + 8.0)
    out = h.tick_to_deadline()
    assert_effects(out)
    assert h.core.notice == cmd.Notice(level="warning",
                                       text="no response from the server within 8 s")
    assert h.state is S.READY
    assert h.core.next_deadline() is None


def test_response_wait_timeout_after_response_create() -> None:
    h = ready(response_timeout_s=8.0, idle_timeout_s=None)
    h.user(Action.SEND_TEXT, text="hello?")
    assert h.core.next_deadline() == pytest.approx(h.now + 8.0)
    h.tick_to_deadline()
    assert h.core.metrics.errors == 1


def test_stalled_response_is_cancelled() -> None:
    h = ready(response_timeout_s=8.0, idle_timeout_s=None)
    h.feed(h.peer.user_turn(0, 500) + h.peer.response(audio_ms=200, done=False))
    h.advance(3)
    h.feed(h.peer.audio(100))  # any event of the response keeps it alive
    assert h.core.next_deadline() == pytest.approx(h.now + 8.0)
    out = h.tick_to_deadline()
    assert_effects(out, Sent("response.cancel", response_id=h.peer.response_id))
    assert h.core.notice is not None and "stalled" in h.core.notice.text
    assert h.state is S.RESPONDING  # until the audio received so far has been heard
    h.play(h.peer.item_id, 300 * 24, idle=True)
    assert h.state is S.READY


def test_no_session_created_in_time_is_fatal_on_the_first_connection() -> None:
    h = Harness(SessionConfig(connection_timeout_s=10.0))
    h.begin()
    h.open()
    assert h.core.next_deadline() == pytest.approx(h.now + 10.0)
    out = h.tick_to_deadline()
    assert_effects(out, cmd.Shutdown(
        exit_code=EXIT_FATAL, reason="timed out waiting for the server's session.created",
        cause=cmd.EndCause.TRANSPORT))
    assert h.state is S.CLOSED


def test_no_session_created_in_time_after_a_reconnect_retries() -> None:
    h = ready(connection_timeout_s=10.0)
    h.close(1006)
    h.open()
    out = h.tick_to_deadline()
    # second try in a row: 0.5 s base, jitter 0.5 -> 0.5 * (0.5 + 0.25)
    assert_effects(out, cmd.Connect(delay_s=0.375, reason="reconnect", attempt=2))


def test_session_created_in_time_clears_the_connection_deadline() -> None:
    h = Harness(SessionConfig(connection_timeout_s=10.0, idle_timeout_s=None))
    h.begin()
    h.open()
    h.advance(9.9)
    h.feed(h.peer.session_created(expires_in=None))
    # The next step (session.updated) gets its own full timeout, from session.created.
    assert h.core.next_deadline() == pytest.approx(h.now + 10.0)
    h.advance(9.9)
    h.feed(h.peer.session_updated())
    assert h.core.next_deadline() is None
    assert_effects(h.tick(60))


def test_ticks_before_any_deadline_do_nothing() -> None:
    h = ready()
    for _ in range(5):
        assert_effects(h.tick(1.0))
    assert h.state is S.READY


def test_no_past_deadline_while_paused_so_the_driver_does_not_spin() -> None:
    h = ready(idle_timeout_s=30.0)
    h.user(Action.PAUSE)
    assert h.state is S.PAUSED
    assert h.core.next_deadline() is None  # idle counts only in READY
    assert_effects(h.tick(31))
    assert h.state is S.PAUSED
    h.user(Action.RESUME)
    assert h.core.next_deadline() == pytest.approx(h.now + 30.0)


def test_no_deadline_once_closed() -> None:
    h = ready(idle_timeout_s=30.0, total_timeout_s=100.0)
    h.user(Action.QUIT)
    assert h.core.next_deadline() is None


def test_storage_trouble_is_told_once_as_a_notice_and_talking_goes_on() -> None:
    h = Harness(SessionConfig())
    h.ready()
    out = h.feed(StorageTrouble(now=h.now, problem="database or disk is full"))
    assert out == [cmd.Notice(level="warning", text="could not save to the journal (database or "
                              "disk is full); the conversation goes on")]
    snap = h.core.snapshot(h.now)
    assert (snap.notice_level, snap.state) == ("warning", S.READY)
    assert "disk is full" in (snap.notice_text or "")


def test_no_session_updated_in_time_is_a_timeout_too() -> None:
    """A server that creates the session but never confirms the configuration must not leave rt
    configuring for ever."""
    h = Harness(SessionConfig(connection_timeout_s=10.0))
    h.begin()
    h.open()
    h.feed(h.peer.session_created())
    assert h.state is S.CONFIGURING
    assert h.core.next_deadline() == pytest.approx(h.now + 10.0)
    out = h.tick_to_deadline()
    assert_effects(out, cmd.Shutdown(
        exit_code=EXIT_FATAL, reason="timed out waiting for the server's session.updated",
        cause=cmd.EndCause.TRANSPORT))
