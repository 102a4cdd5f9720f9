"""Turn scenarios on the scripted peer: a full voice turn, journal records, push-to-talk, mute,
typed text. Every Send is checked against the openai models by the harness."""

from __future__ import annotations

import pytest
from helpers import Harness, Like, Sent, assert_effects, of_type, pcm, records, sends

from realtime_cli.core import commands as cmd
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.inputs import Action
from realtime_cli.core.records import (
    ConnectionRecord,
    ItemKind,
    ItemRecord,
    SessionEnded,
    SessionStarted,
    SessionStatus,
    TurnRecord,
)
from realtime_cli.core.states import SessionState as S


def test_full_turn_from_connect_to_journaled_turn(harness: Harness) -> None:
    h, peer = harness, harness.peer
    out = h.begin()
    assert_effects(out, cmd.Connect(delay_s=0.0, reason="initial"))
    assert records(out, SessionStarted) == []  # stored once a server answered

    out = h.open()
    assert_effects(out)
    assert records(out, SessionStarted)[0].session_id == "s1e55i0n"
    assert h.state is S.CONNECTED

    out = h.feed(peer.session_created())
    assert_effects(out, Sent("session.update", event_id="rt_cfg_1"))
    assert sends(out)[0].session["type"] == "realtime"
    assert records(out, ConnectionRecord)[0].server_session_id == "sess_Cabc123"
    assert h.state is S.CONFIGURING

    out = h.feed(peer.session_updated())
    assert_effects(out)  # nothing to replay in a fresh session
    assert h.state is S.READY

    out = h.mic(20)
    assert_effects(out, Sent("input_audio_buffer.append",
                             audio=pcm(20)))

    h.feed(peer.speech_started(0))
    assert h.state is S.LISTENING
    h.advance(0.9)
    assert_effects(h.feed(peer.speech_stopped(900) + peer.committed()))
    assert h.state is S.PROCESSING

    h.advance(0.2)
    assert_effects(h.feed(peer.response_created() + peer.audio_item()))
    assert h.state is S.RESPONDING
    h.advance(0.15)  # first audio 350 ms after the user stopped speaking
    out = h.feed(peer.transcript("Hi there.") + peer.audio(250))
    assert_effects(out, Like(cmd.Play, item_id=peer.item_id), Like(cmd.Play, item_id=peer.item_id),
                   Like(cmd.Play, item_id=peer.item_id))
    assert sum(len(c.pcm) for c in out if isinstance(c, cmd.Play)) == 250 * 24 * 2

    h.advance(0.1)
    out = h.feed(peer.item_done() + peer.response_done())
    assert_effects(out)
    [turn] = records(out, TurnRecord)
    assert turn.status == "completed" and turn.turn_index == 1 and not turn.interrupted
    assert turn.latency_ms == pytest.approx(350.0)
    assert turn.duration_ms == pytest.approx(250.0)
    assert (turn.usage.input_tokens, turn.usage.output_tokens, turn.usage.cached_tokens) == (
        132, 118, 64)
    assert (turn.usage.cached_audio_tokens, turn.usage.output_audio_tokens) == (64, 96)
    assert h.state is S.RESPONDING  # the user is still hearing the answer

    out = h.play(peer.item_id, 250 * 24, idle=True)
    assert_effects(out)
    assert h.state is S.READY
    assert h.core.metrics.last_latency_ms == pytest.approx(350.0)


def test_journal_user_item_at_commit_and_again_with_transcript(harness: Harness) -> None:
    h, peer = harness, harness.peer
    h.ready()
    h.mic(500, value=700)
    out = h.feed(peer.speech_started(100) + peer.speech_stopped(480) + peer.committed())
    [at_commit] = records(out, ItemRecord)
    assert at_commit.kind is ItemKind.USER_AUDIO and at_commit.role == "user"
    assert at_commit.server_id == peer.user_item_id
    assert at_commit.transcript is None
    assert at_commit.audio_ms == pytest.approx(400.0)  # speech from 100 ms to the 500 ms sent
    assert at_commit.audio == pcm(400, value=700)

    out = h.feed(peer.user_transcript("What's the weather?"))
    [with_text] = records(out, ItemRecord)
    assert with_text.local_id == at_commit.local_id
    assert with_text.transcript == "What's the weather?"


def test_journal_assistant_item_at_done_and_at_truncation(harness: Harness) -> None:
    h, peer = harness, harness.peer
    h.ready()
    h.feed(peer.user_turn(0, 500))
    out = h.feed(peer.response(audio_ms=400, transcript="One two three four."))
    [item] = [r for r in records(out, ItemRecord) if r.kind is ItemKind.ASSISTANT][-1:]
    assert (item.transcript, item.heard_text, item.truncated, item.audio_end_ms) == (
        "One two three four.", "One two three four.", False, None)
    assert item.status == "completed" and item.audio_ms == pytest.approx(400.0)
    assert item.audio == pcm(400)

    # Second answer, cut after 1000 of 2000 ms: heard text is the first half, audio cut too.
    h.play(peer.item_id, 400 * 24, idle=True)
    h.feed(peer.user_turn(1000, 1500))
    h.feed(peer.response(audio_ms=2000, transcript="alpha beta gamma delta", done=False))
    h.play(peer.item_id, 1000 * 24)
    out = h.feed(peer.speech_started(2000))
    [cut] = records(out, ItemRecord)
    assert (cut.truncated, cut.audio_end_ms, cut.heard_text) == (True, 1000, "alpha beta")
    assert cut.transcript == "alpha beta gamma delta"
    assert cut.audio == pcm(1000)


def test_session_ended_on_quit(harness: Harness) -> None:
    harness.ready()
    out = harness.user(Action.QUIT)
    assert_effects(out, cmd.FlushPlayback(), cmd.Shutdown(exit_code=0, reason="quit by user"))
    [ended] = records(out, SessionEnded)
    assert ended.status is SessionStatus.ENDED and ended.reason == "quit by user"
    assert harness.state is S.CLOSED
    assert_effects(harness.user(Action.QUIT))  # once closed, nothing more happens


def test_push_to_talk_commits_and_asks_for_a_response() -> None:
    h = Harness(SessionConfig(turn_detection="none"))
    h.ready()
    payload = sends(h.log)[0].session
    assert payload["audio"]["input"]["turn_detection"] is None
    assert_effects(h.mic(20))  # turn closed: the microphone is not sent

    out = h.user(Action.PUSH_TO_TALK)
    assert_effects(out, Sent("input_audio_buffer.clear"))
    assert h.state is S.LISTENING
    out = h.mic(100) + h.mic(100)
    assert_effects(out, Sent("input_audio_buffer.append"), Sent("input_audio_buffer.append"))
    h.advance(0.2)
    out = h.user(Action.PUSH_TO_TALK)
    assert_effects(out, Sent("input_audio_buffer.commit"), Sent("response.create"))
    assert h.state is S.PROCESSING
    assert_effects(h.mic(20))

    out = h.feed(h.peer.committed("item_u9") + h.peer.response(audio_ms=200))
    assert [type(c) for c in out if isinstance(c, cmd.Play)] == [cmd.Play, cmd.Play]
    assert records(out, TurnRecord)[0].latency_ms == pytest.approx(0.0)


def test_push_to_talk_too_short_is_cleared_not_committed() -> None:
    h = Harness(SessionConfig(turn_detection="none"))
    h.ready()
    h.user(Action.PUSH_TO_TALK)
    h.mic(60)
    out = h.user(Action.PUSH_TO_TALK)
    assert_effects(out, Sent("input_audio_buffer.clear"))
    assert h.state is S.READY


def test_push_to_talk_needs_turn_detection_none(harness: Harness) -> None:
    harness.ready()
    assert_effects(harness.user(Action.PUSH_TO_TALK))
    assert harness.core.notice is not None and "turn-detection none" in harness.core.notice.text


def test_mute_sends_zeros_of_the_same_length(harness: Harness) -> None:
    harness.ready()
    harness.user(Action.MUTE)
    out = harness.mic(20, value=1234)
    assert_effects(out, Sent("input_audio_buffer.append",
                             audio=bytes(20 * 24 * 2)))
    harness.user(Action.TOGGLE_MUTE)
    out = harness.mic(20, value=1234)
    assert_effects(out, Sent("input_audio_buffer.append",
                             audio=pcm(20, 1234)))


def test_send_text_creates_a_user_item_and_a_response(harness: Harness) -> None:
    harness.ready()
    out = harness.user(Action.SEND_TEXT, text="  What time is it?  ")
    assert_effects(out, Sent("conversation.item.create"), Sent("response.create"))
    item = sends(out)[0].item
    assert item == {"id": item["id"], "type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "What time is it?"}]}
    assert len(item["id"]) <= 32
    [rec] = records(out, ItemRecord)
    assert rec.kind is ItemKind.USER_TEXT and rec.transcript == "What time is it?"
    assert_effects(harness.user(Action.SEND_TEXT, text="   "))


def test_send_text_while_not_connected_is_refused(harness: Harness) -> None:
    harness.begin()
    assert_effects(harness.user(Action.SEND_TEXT, text="hello"))
    assert harness.core.notice is not None and harness.core.notice.level == "warning"


def test_send_text_while_the_assistant_speaks_interrupts_it_first(harness: Harness) -> None:
    h, peer = harness, harness.peer
    h.ready()
    h.feed(peer.user_turn(0, 500) + peer.response(audio_ms=1000, done=False))
    h.play(peer.item_id, 4800)
    out = h.user(Action.SEND_TEXT, text="actually, never mind")
    assert_effects(out, cmd.FlushPlayback(), Sent("response.cancel", response_id=peer.response_id),
                   Sent("conversation.item.truncate", item_id=peer.item_id, audio_end_ms=200),
                   Sent("conversation.item.create"))
    # The new response waits for the cancelled one to be done (else the server refuses it with
    # conversation_already_has_active_response: docs/protocol.md#tool-calls).
    out = h.feed(peer.item_done(status="incomplete") + peer.response_done("cancelled",
                                                                         "client_cancelled"))
    assert_effects(out, Sent("response.create"))


def test_the_core_tells_the_speaker_once_when_an_answer_s_audio_is_complete(
        harness: Harness) -> None:
    """`EndOfAudio` lets the last block below the prebuffer play out; the driver learns it
    from the core, at the first of output_audio.done and response.done."""
    h, peer = harness, harness.peer
    h.ready()
    h.feed(peer.user_turn(0, 500))
    out = h.feed(peer.response(audio_ms=300, transcript="Hi.", done=False))
    assert of_type(out, cmd.EndOfAudio) == []
    out = h.feed(peer.item_done())
    assert of_type(out, cmd.EndOfAudio) == [cmd.EndOfAudio(item_id=peer.item_id)]
    assert of_type(h.feed(peer.response_done()), cmd.EndOfAudio) == []  # said once


def test_response_done_alone_completes_the_audio(harness: Harness) -> None:
    h, peer = harness, harness.peer
    h.ready()
    h.feed(peer.user_turn(0, 500))
    h.feed(peer.response(audio_ms=300, transcript="Hi.", done=False))
    out = h.feed(peer.response_done())
    assert of_type(out, cmd.EndOfAudio) == [cmd.EndOfAudio(item_id=peer.item_id)]


def test_audio_is_released_once_the_journal_holds_it_and_it_was_heard(harness: Harness) -> None:
    """Memory stays flat over a long conversation: an answer's bytes go once it is journaled
    in full and played out; a user's once it is journaled; the counts stay."""
    h, peer = harness, harness.peer
    h.ready()
    h.mic(500)
    h.feed(peer.user_turn(0, 500))
    [user] = [i for i in h.core.turns.ledger.values() if i.kind is ItemKind.USER_AUDIO]
    assert user.audio == bytearray() and user.duration_ms == pytest.approx(500.0)
    out = h.feed(peer.response(audio_ms=400, transcript="One two."))
    [journaled] = [r for r in records(out, ItemRecord) if r.kind is ItemKind.ASSISTANT][-1:]
    assert journaled.audio == pcm(400)
    [answer] = [i for i in h.core.turns.ledger.values() if i.kind is ItemKind.ASSISTANT]
    assert len(answer.audio) == 400 * 48  # still playing: a barge-in may cut it
    h.play(peer.item_id, 400 * 24, idle=True)
    assert answer.audio == bytearray() and answer.received_ms == pytest.approx(400.0)
    assert h.core.history()[-1].text == "One two."
