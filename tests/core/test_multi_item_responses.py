"""One response, several audio messages (a preamble, then the answer): each plays in order, the
one being heard is the one truncated, and the journal keeps them apart."""

from __future__ import annotations

from helpers import Harness, records, sends

from realtime_cli.core import commands as cmd
from realtime_cli.core.records import ItemKind, ItemRecord


def two_messages(h: Harness) -> tuple[str, str]:
    h.ready()
    h.feed(h.peer.user_turn(0, 500, "plan my day"))
    h.feed(h.peer.response_created() + h.peer.audio_item())
    h.feed(h.peer.transcript("Let me think.") + h.peer.audio(300) + h.peer.item_done())
    first = h.peer.item_id
    h.feed(h.peer.audio_item() + h.peer.transcript("First, breakfast at eight.")
           + h.peer.audio(600))
    return first, h.peer.item_id


def test_barge_in_on_the_second_message_truncates_only_it() -> None:
    h = Harness()
    first, second = two_messages(h)
    h.play(first, 300 * 24)
    h.play(second, 200 * 24)  # the preamble played out, the answer is 200 ms in
    out = h.feed(h.peer.speech_started(2000))
    cuts = [(e.type, e.item_id, getattr(e, "audio_end_ms", None)) for e in sends(out)
            if e.type.startswith("conversation.item.")]
    assert cuts == [("conversation.item.truncate", second, 200)]
    items = {r.server_id: r for r in records(h.log, ItemRecord) if r.kind is ItemKind.ASSISTANT}
    assert not items[first].truncated and items[first].heard_text == "Let me think."
    assert items[second].truncated and items[second].audio_end_ms == 200


def test_barge_in_during_the_preamble_truncates_it_and_deletes_the_unheard_answer() -> None:
    h = Harness()
    first, second = two_messages(h)
    h.play(first, 100 * 24)
    out = h.feed(h.peer.speech_started(2000))
    cuts = [(e.type, e.item_id) for e in sends(out) if e.type.startswith("conversation.item.")]
    assert cuts == [("conversation.item.truncate", first), ("conversation.item.delete", second)]


def test_both_messages_play_in_order() -> None:
    h = Harness()
    first, second = two_messages(h)
    plays = [c.item_id for c in h.log if isinstance(c, cmd.Play)]
    assert plays == [first] * plays.count(first) + [second] * plays.count(second)
    assert plays.count(first) and plays.count(second)
