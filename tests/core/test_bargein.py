"""Barge-in (docs/protocol.md#truncation), manual cancel and stop phrases on the scripted peer."""

from __future__ import annotations

import pytest
from helpers import Harness, Sent, assert_effects, records

from realtime_cli.core import commands as cmd
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.inputs import Action
from realtime_cli.core.records import InterruptionRecord, ItemRecord, TurnRecord
from realtime_cli.core.states import SessionState as S


def speaking(config: SessionConfig | None = None, *, audio_ms: float = 3000,
             transcript: str = "one two three four five six") -> Harness:
    """READY, one user turn, and an answer whose audio has all arrived but is still playing."""
    h = Harness(config)
    h.ready()
    h.feed(h.peer.user_turn(0, 800, "tell me something"))
    h.feed(h.peer.response(audio_ms=audio_ms, transcript=transcript, done=False))
    assert h.state is S.RESPONDING
    return h


@pytest.mark.parametrize("played", [1, 23, 24, 12_345, 71_999])
def test_barge_in_truncates_at_exactly_what_was_played(played: int) -> None:
    h = speaking()
    h.play(h.peer.item_id, played)
    out = h.feed(h.peer.speech_started(5000))
    assert_effects(out, cmd.FlushPlayback(),
                   Sent("conversation.item.truncate", item_id=h.peer.item_id, content_index=0,
                        audio_end_ms=played // 24))
    assert h.state is S.LISTENING
    [rec] = records(out, InterruptionRecord)
    assert rec.kind == "speech_overlap" and rec.position_ms == played // 24


def test_barge_in_sends_response_cancel_when_the_server_will_not() -> None:
    h = speaking(SessionConfig(interrupt_response=False))
    h.play(h.peer.item_id, 4800)
    out = h.feed(h.peer.speech_started(5000))
    assert_effects(out, cmd.FlushPlayback(),
                   Sent("response.cancel", response_id=h.peer.response_id),
                   Sent("conversation.item.truncate", item_id=h.peer.item_id, audio_end_ms=200))


def test_barge_in_before_anything_played_flushes_and_deletes_instead_of_truncating() -> None:
    """A truncate at 0 ms is refused by the server; delete the answer nobody heard."""
    h = speaking()
    out = h.feed(h.peer.speech_started(5000))
    assert_effects(out, cmd.FlushPlayback(),
                   Sent("conversation.item.delete", item_id=h.peer.item_id))
    [item] = records(out, ItemRecord)
    assert (item.truncated, item.audio_end_ms, item.heard_text) == (True, 0, "")


def test_speech_after_the_answer_was_fully_heard_interrupts_nothing() -> None:
    h = speaking(audio_ms=500)
    h.feed(h.peer.item_done() + h.peer.response_done())
    h.play(h.peer.item_id, 500 * 24, idle=True)
    assert h.state is S.READY
    out = h.feed(h.peer.speech_started(9000))
    assert_effects(out)
    assert records(out, InterruptionRecord) == []


def test_late_audio_after_barge_in_is_dropped_and_the_done_events_settle_the_turn() -> None:
    h = speaking(audio_ms=1000)
    h.play(h.peer.item_id, 2400)
    h.feed(h.peer.speech_started(5000))
    assert_effects(h.feed(h.peer.audio(200)))  # still in flight when the server cancelled
    out = h.feed(h.peer.item_done(status="incomplete")
                 + h.peer.response_done("cancelled", "turn_detected"))
    assert_effects(out)
    [turn] = records(out, TurnRecord)
    assert turn.status == "cancelled" and turn.interrupted
    out = h.feed(h.peer.truncated(h.peer.item_id, 100))
    [item] = records(out, ItemRecord)
    assert item.audio_end_ms == 100 and item.truncated  # the server's word is final
    assert h.state is S.LISTENING


def test_starved_playback_still_truncates_at_the_audio_received() -> None:
    # All audio received so far was played, but more was still coming: the server's item holds
    # more than the user heard, so it must be truncated at the received length.
    h = Harness()
    h.ready()
    h.feed(h.peer.user_turn(0, 800))
    h.feed(h.peer.response_created() + h.peer.audio_item() + h.peer.audio(600))
    h.play(h.peer.item_id, 600 * 24)
    out = h.feed(h.peer.speech_started(5000))
    assert_effects(out, cmd.FlushPlayback(),
                   Sent("conversation.item.truncate", item_id=h.peer.item_id, audio_end_ms=600))


def test_manual_interrupt_flushes_cancels_and_truncates() -> None:
    h = speaking()
    h.play(h.peer.item_id, 9_600)
    out = h.user(Action.INTERRUPT)
    assert_effects(out, cmd.FlushPlayback(),
                   Sent("response.cancel", response_id=h.peer.response_id),
                   Sent("conversation.item.truncate", item_id=h.peer.item_id, audio_end_ms=400))
    assert h.state is S.INTERRUPTED
    assert records(out, InterruptionRecord)[0].kind == "manual_cancel"
    out = h.feed(h.peer.item_done(status="incomplete")
                 + h.peer.response_done("cancelled", "client_cancelled"))
    assert_effects(out)
    assert h.state is S.READY


def test_manual_interrupt_with_nothing_playing_only_tells_the_user(harness: Harness) -> None:
    harness.ready()
    assert_effects(harness.user(Action.INTERRUPT))
    assert harness.core.notice is not None and harness.core.notice.text == "nothing to interrupt"


def test_stop_phrase_while_the_answer_to_it_plays_cancels_it() -> None:
    h = speaking()
    h.play(h.peer.item_id, 4800)
    h.feed(h.peer.speech_started(5000) + h.peer.speech_stopped(5400) + h.peer.committed())
    h.feed(h.peer.response_created() + h.peer.audio_item() + h.peer.audio(300))
    h.play(h.peer.item_id, 2400)
    out = h.feed(h.peer.user_transcript("Stop!"))
    assert_effects(out, cmd.FlushPlayback(),
                   Sent("response.cancel", response_id=h.peer.response_id),
                   Sent("conversation.item.truncate", item_id=h.peer.item_id, audio_end_ms=100))
    [rec] = records(out, InterruptionRecord)
    assert rec.kind == "cancel_request" and rec.user_text == "Stop!"


def test_stop_phrase_before_response_created_cancels_the_next_response_unheard() -> None:
    h = speaking()
    h.play(h.peer.item_id, 4800)
    h.feed(h.peer.speech_started(5000) + h.peer.speech_stopped(5400) + h.peer.committed())
    h.feed(h.peer.item_done(status="incomplete") + h.peer.response_done("cancelled",
                                                                        "turn_detected"))
    assert_effects(h.feed(h.peer.user_transcript("okay stop")))

    out = h.feed(h.peer.response_created())
    assert_effects(out, Sent("response.cancel", response_id=h.peer.response_id))
    out = h.feed(h.peer.audio_item() + h.peer.transcript("Sure") + h.peer.audio(400))
    assert_effects(out)  # never played
    out = h.feed(h.peer.item_done(status="incomplete")
                 + h.peer.response_done("cancelled", "client_cancelled"))
    assert records(out, TurnRecord) == []
    assert h.state is S.READY

    # The suppression was for that one answer only.
    h.feed(h.peer.user_turn(9000, 9500, "what is two plus two"))
    out = h.feed(h.peer.response(audio_ms=200, transcript="Four."))
    assert [type(c) for c in out if isinstance(c, cmd.Play)] == [cmd.Play, cmd.Play]


def test_late_stop_transcript_after_its_answer_ended_does_not_mute_the_next_answer() -> None:
    # The user's transcript may come after the response events. The answer to "stop" has already
    # come and gone, so nothing must be suppressed later.
    h = Harness()
    h.ready()
    h.feed(h.peer.user_turn(0, 400))
    h.feed(h.peer.response(audio_ms=200, transcript="Okay."))
    h.play(h.peer.item_id, 200 * 24, idle=True)
    stop_item = h.peer.user_item_id
    assert_effects(h.feed(h.peer.user_transcript("stop", item_id=stop_item)))

    h.feed(h.peer.user_turn(2000, 2600, "what time is it"))
    out = h.feed(h.peer.response(audio_ms=200, transcript="Noon."))
    assert_effects(out, cmd.Play, cmd.Play)


def test_late_stop_transcript_does_not_cancel_the_answer_to_a_newer_question() -> None:
    # "stop", then at once "what time is it": the first transcript arrives while the answer
    # to the second question plays. The newer turn supersedes the stop.
    h = Harness()
    h.ready()
    h.feed(h.peer.user_turn(0, 400))
    stop_item = h.peer.user_item_id
    h.feed(h.peer.user_turn(1000, 1600, "what time is it"))
    h.feed(h.peer.response_created() + h.peer.audio_item() + h.peer.audio(300))
    h.play(h.peer.item_id, 2400)
    assert_effects(h.feed(h.peer.user_transcript("stop", item_id=stop_item)))
    assert h.state is S.RESPONDING


def test_a_longer_sentence_with_stop_in_it_is_not_a_stop_phrase() -> None:
    h = speaking()
    h.play(h.peer.item_id, 4800)
    h.feed(h.peer.speech_started(5000) + h.peer.speech_stopped(5400) + h.peer.committed())
    h.feed(h.peer.item_done(status="incomplete") + h.peer.response_done("cancelled"))
    assert_effects(h.feed(h.peer.user_transcript("where is the next bus stop near me")))
    assert_effects(h.feed(h.peer.response_created()))


def _stop_over_the_assistant(transcript_first: bool) -> Harness:
    h = speaking()
    h.play(h.peer.item_id, 4800)
    h.feed(h.peer.speech_started(5000) + h.peer.speech_stopped(5400) + h.peer.committed())
    h.feed(h.peer.item_done(status="incomplete")
           + h.peer.response_done("cancelled", "turn_detected"))
    if transcript_first:
        h.feed(h.peer.user_transcript("stop"))
        h.feed(h.peer.response_created() + h.peer.audio_item() + h.peer.audio(300))
    else:
        h.feed(h.peer.response_created() + h.peer.audio_item() + h.peer.audio(300))
        h.play(h.peer.item_id, 2400)
        h.feed(h.peer.user_transcript("stop"))
    return h


@pytest.mark.parametrize("transcript_first", [True, False])
def test_a_spoken_stop_over_the_assistant_is_one_cancel_request_in_either_order(
        transcript_first: bool) -> None:
    h = _stop_over_the_assistant(transcript_first)
    assert h.core.metrics.interruptions_by_kind == {"cancel_request": 1}
    identities = {(r.item_local_id, r.at) for r in records(h.log, InterruptionRecord)}
    assert len(identities) == 1  # the journal holds one interruption (rewritten with its kind)
    last = records(h.log, InterruptionRecord)[-1]
    assert (last.kind, last.user_text) == ("cancel_request", "stop")
    if transcript_first:  # known in time: the answer to "stop" never played
        assert h.peer.item_id not in {c.item_id for c in h.log if isinstance(c, cmd.Play)}
