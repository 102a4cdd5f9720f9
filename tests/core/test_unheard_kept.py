"""A provider with no truncate (Gemini Live keeps all it generated, docs/protocol.md#gemini-live):
when the user cuts an answer short, rt says that the model may remember more than was heard;
with OpenAI, whose truncate makes the server forget the unheard rest, it says nothing."""

from __future__ import annotations

from helpers import Harness, of_type

from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.config import SessionConfig

GEMINI = SessionConfig(provider="gemini", model="gemini-3.8-live", voice="Puck")


def talked_over(config: SessionConfig) -> tuple[Harness, list[cmd.Command]]:
    """An answer of 2 s, 0.5 s of it heard, then the user speaks over it."""
    h = Harness(config)
    h.ready()
    h.feed(h.peer.user_turn(0, 900, "tell me a story"))
    h.feed(h.peer.response(audio_ms=2000, transcript="Once upon a time there was a fox.",
                           done=False))
    h.play(h.peer.item_id, 24 * 500)
    return h, h.feed(h.peer.speech_started(3000))


def kept_notices(out: list[cmd.Command]) -> list[cmd.Notice]:
    return [n for n in of_type(out, cmd.Notice) if "may remember more" in n.text]


def test_a_gemini_barge_in_says_the_model_may_remember_more_than_was_heard() -> None:
    h, out = talked_over(GEMINI)
    [note] = kept_notices(out)
    assert note.level == "info"
    assert note.text == ("interrupted: Gemini keeps all it generated, so the model may remember "
                         "more than you heard")
    assert h.core.snapshot(h.now).notice_text == note.text  # what the dashboard shows


def test_an_openai_barge_in_truncates_and_says_nothing_of_the_kind() -> None:
    _, out = talked_over(SessionConfig())
    assert kept_notices(out) == []


def test_a_manual_interrupt_with_gemini_says_it_too() -> None:
    h = Harness(GEMINI)
    h.ready()
    h.feed(h.peer.user_turn(0, 900) + h.peer.response(audio_ms=1000, done=False))
    h.play(h.peer.item_id, 24 * 200)
    assert len(kept_notices(h.user(inp.Action.INTERRUPT))) == 1


def test_nothing_is_said_when_the_whole_answer_was_heard() -> None:
    h = Harness(GEMINI)
    h.ready()
    h.feed(h.peer.user_turn(0, 900) + h.peer.response(audio_ms=500))
    h.play(h.peer.item_id, 24 * 500, idle=True)
    assert kept_notices(h.feed(h.peer.speech_started(3000))) == []
