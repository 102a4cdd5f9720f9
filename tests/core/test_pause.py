"""PAUSED: the microphone stops, playback holds its place, a response being generated is
cancelled and cut at what was received (it all plays on resume), and the pause survives a
reconnect; resuming plays the rest."""

from __future__ import annotations

from helpers import Harness, Sent, assert_effects, of_type, records, sends

from realtime_cli.core import commands as cmd
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.inputs import Action
from realtime_cli.core.records import ItemKind, ItemRecord
from realtime_cli.core.states import SessionState as S


def ready() -> Harness:
    h = Harness(SessionConfig(idle_timeout_s=60.0))
    h.ready()
    return h


def test_pause_mid_answer_holds_playback_cancels_and_cuts_at_what_was_received() -> None:
    h = ready()
    h.feed(h.peer.user_turn(0, 500, "tell me a story"))
    h.feed(h.peer.response(audio_ms=1500, transcript="Once upon a time", done=False))
    h.play(h.peer.item_id, 400 * 24)
    out = h.user(Action.PAUSE)
    assert_effects(out, cmd.PausePlayback(), Sent("input_audio_buffer.clear"),
                   Sent("response.cancel"))
    assert of_type(out, cmd.EndOfAudio) == [cmd.EndOfAudio(item_id=h.peer.item_id)]
    assert h.state is S.PAUSED
    assert of_type(out, cmd.FlushPlayback) == []  # held, not dropped
    [rec] = [r for r in records(out, ItemRecord) if r.kind is ItemKind.ASSISTANT]
    assert rec.truncated and rec.audio_end_ms == 1500
    assert_effects(h.mic(20))  # the microphone is not sent while paused
    # The cancelled response's late audio is not played; its done events settle it.
    late = h.feed(h.peer.audio(200) + h.peer.item_done(status="incomplete")
                  + h.peer.response_done("cancelled", "client_cancelled"))
    assert of_type(late, cmd.Play) == []
    assert h.state is S.PAUSED
    # Resumed and heard to the end of what arrived: only now is the server's copy cut there.
    h.user(Action.RESUME)
    assert_effects(h.play(h.peer.item_id, 1000 * 24))
    out = h.play(h.peer.item_id, 1500 * 24, idle=True)
    assert_effects(out, Sent("conversation.item.truncate", audio_end_ms=1500))


def test_interrupting_a_paused_answer_cuts_it_at_what_was_heard() -> None:
    h = ready()
    h.feed(h.peer.user_turn(0, 500, "tell me a story"))
    h.feed(h.peer.response(audio_ms=1500, transcript="Once upon a time", done=False))
    h.play(h.peer.item_id, 400 * 24)
    h.user(Action.PAUSE)
    out = h.user(Action.INTERRUPT)
    assert_effects(out, cmd.FlushPlayback(), Sent("conversation.item.truncate", audio_end_ms=400))
    h.user(Action.RESUME)
    assert_effects(h.play(None, 0, idle=True))  # no later truncate at what had arrived


def test_resume_plays_the_rest_and_the_turn_ends_when_it_has_played() -> None:
    h = ready()
    h.feed(h.peer.user_turn(0, 500, "tell me a story"))
    h.feed(h.peer.response(audio_ms=1500, transcript="Once upon a time"))  # all received
    h.play(h.peer.item_id, 400 * 24)
    out = h.user(Action.PAUSE)
    assert_effects(out, cmd.PausePlayback(), Sent("input_audio_buffer.clear"))  # nothing to cancel
    out = h.user(Action.RESUME)
    assert_effects(out, cmd.ResumePlayback())
    assert h.state is S.RESPONDING
    h.play(h.peer.item_id, 1500 * 24, idle=True)
    assert h.state is S.READY


def test_pause_while_an_answer_is_on_its_way_cancels_it_when_it_starts() -> None:
    h = ready()
    h.feed(h.peer.user_turn(0, 500, "hello"))  # PROCESSING: the answer is being made
    assert h.state is S.PROCESSING
    h.user(Action.PAUSE)
    assert h.state is S.PAUSED
    out = h.feed(h.peer.response(audio_ms=500, transcript="Hi.", done=False))
    assert [e.type for e in sends(out)] == ["response.cancel"]
    assert of_type(out, cmd.Play) == []
    assert h.state is S.PAUSED


def test_idle_timeout_does_not_count_while_paused() -> None:
    h = ready()
    h.user(Action.PAUSE)
    assert h.core.next_deadline() is None or h.core.next_deadline() > h.now + 3000
    h.tick(600.0)
    assert h.state is S.PAUSED


def test_a_reconnect_keeps_the_session_paused() -> None:
    h = ready()
    h.user(Action.PAUSE)
    h.close(1006)
    h.reconnect()
    assert h.state is S.PAUSED
    assert_effects(h.mic(20))
    h.user(Action.RESUME)
    assert h.state is S.READY


def test_pause_when_there_is_nothing_to_pause_says_so() -> None:
    h = Harness()
    h.begin()
    out = h.user(Action.PAUSE)
    assert [n.text for n in of_type(out, cmd.Notice)] == ["cannot pause while initializing"]
    assert_effects(out)
