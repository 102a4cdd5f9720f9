"""`barge_in=False`: the server is told not to interrupt and rt does not flush when the user
speaks over the assistant; a manual interrupt still works."""

from __future__ import annotations

from helpers import Harness, Sent, assert_effects, sends

from realtime_cli.core import commands as cmd
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.inputs import Action
from realtime_cli.core.states import SessionState as S


def speaking(**config: object) -> Harness:
    h = Harness(SessionConfig(**config))  # type: ignore[arg-type]
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "tell me a story"))
    h.feed(h.peer.response(audio_ms=3000, transcript="Once upon a time", done=False))
    h.play(h.peer.item_id, 500 * 24)
    return h


def test_the_server_is_told_not_to_interrupt() -> None:
    h = Harness(SessionConfig(barge_in=False))
    out = h.ready()
    [update] = [e for e in sends(out) if e.type == "session.update"]
    assert update.session["audio"]["input"]["turn_detection"]["interrupt_response"] is False


def test_speech_over_the_assistant_does_not_flush_or_cancel() -> None:
    h = speaking(barge_in=False)
    out = h.feed(h.peer.speech_started(4000))
    assert_effects(out)
    assert h.state is S.RESPONDING and h.core.lifecycle.refused == []
    assert_effects(h.feed(h.peer.speech_stopped(4800)))
    assert h.state is S.RESPONDING and h.core.metrics.interruptions == 0


def test_a_manual_interrupt_still_works_with_barge_in_off() -> None:
    h = speaking(barge_in=False)
    out = h.user(Action.INTERRUPT)
    assert_effects(out, cmd.FlushPlayback(), Sent("response.cancel"),
                   Sent("conversation.item.truncate", audio_end_ms=500))


def test_with_barge_in_on_the_same_speech_interrupts() -> None:
    h = speaking()
    out = h.feed(h.peer.speech_started(4000))
    assert_effects(out, cmd.FlushPlayback(), Sent("conversation.item.truncate", audio_end_ms=500))
