"""Truncation arithmetic and heard text (items.py), sent-audio slicing (sent_audio.py), stop
phrases (stop_phrases.py), history planning (history.py) and config validation (config.py)."""

from __future__ import annotations

import pytest
from helpers import pcm
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_cli.core.config import DEFAULT_STOP_PHRASES, SessionConfig, ToolSpec
from realtime_cli.core.history import (
    RESUME_REMINDER,
    SUMMARY_CHARS,
    HistoryEntry,
    plan_replay,
    resume_instructions,
)
from realtime_cli.core.items import ItemState, cut_transcript, truncation_point
from realtime_cli.core.records import ItemKind
from realtime_cli.core.sent_audio import SentAudio
from realtime_cli.core.stop_phrases import is_stop_phrase
from realtime_cli.errors import ConfigError

# --------------------------------------------------------------------------- truncation


@pytest.mark.parametrize(("played", "received", "expected"), [
    (0, 48_000, None),  # nothing heard: skip the truncate
    (-5, 48_000, None),
    (48_000, 48_000, None),  # all heard
    (60_000, 48_000, None),  # more reported than received: clamp, all heard
    (1, 48_000, 0),
    (23, 48_000, 0),
    (24, 48_000, 1),
    (12_345, 48_000, 514),
    (47_999, 48_000, 1999),
])
def test_truncation_point(played: int, received: int, expected: int | None) -> None:
    assert truncation_point(played, received) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(-10, 10**7), st.integers(0, 10**7))
def test_truncation_point_never_exceeds_played_or_received(played: int, received: int) -> None:
    point = truncation_point(played, received)
    if point is not None:
        assert 0 <= point * 24 <= min(played, received) < received


def test_cut_transcript_keeps_whole_words_heard() -> None:
    text = "alpha beta gamma delta"
    assert cut_transcript(text, 1000, 2000) == "alpha beta"
    assert cut_transcript(text, 2000, 2000) == text
    assert cut_transcript(text, 5000, 2000) == text
    assert cut_transcript(text, 0, 2000) == ""
    assert cut_transcript(text, 100, 0) == ""
    assert cut_transcript(text, 300, 2000) == ""  # "alp" of alpha: not heard as a word


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.floats(0, 5000), st.floats(1, 5000))
def test_cut_transcript_is_a_prefix(text: str, end_ms: float, total_ms: float) -> None:
    assert text.startswith(cut_transcript(text, end_ms, total_ms).rstrip()) or \
        text.rstrip().startswith(cut_transcript(text, end_ms, total_ms))


def test_item_heard_text_and_record_cut_the_audio() -> None:
    item = ItemState(local_id="a", seq=1, kind=ItemKind.ASSISTANT, created_at=0.0,
                     transcript="alpha beta gamma delta")
    item.add_audio(pcm(2000), keep=True)
    assert item.heard_text == "alpha beta gamma delta"
    item.truncated, item.audio_end_ms = True, 1000
    assert item.heard_text == "alpha beta"
    record = item.record("s")
    assert record.audio == pcm(1000) and record.heard_text == "alpha beta"
    assert item.history_entry().text == "alpha beta"

    unkept = ItemState(local_id="b", seq=2, kind=ItemKind.ASSISTANT, created_at=0.0,
                       transcript="alpha beta gamma delta")
    unkept.add_audio(pcm(2000), keep=False)
    unkept.truncated, unkept.audio_end_ms = True, 1000
    assert unkept.record("s").audio is None
    assert (unkept.received_ms, unkept.heard_text) == (2000.0, "alpha beta")


def test_released_audio_keeps_its_counts_and_takes_no_more() -> None:
    """Once the journal holds an item's final audio the bytes go, the arithmetic stays."""
    item = ItemState(local_id="a", seq=1, kind=ItemKind.ASSISTANT, created_at=0.0,
                     transcript="alpha beta gamma delta", status="completed")
    item.add_audio(pcm(2000), keep=True)
    item.audio_done, item.played_samples = True, 48_000
    assert item.settled()
    item.release_audio()
    item.add_audio(pcm(100), keep=True)  # a stray late delta is counted, never stored
    assert (len(item.audio), item.received_samples) == (0, 50_400)
    assert item.record("s").audio is None  # the journal keeps what it has


# --------------------------------------------------------------------------- sent audio


def test_sent_audio_slices_by_stream_position() -> None:
    sent = SentAudio()
    sent.append(pcm(100, 1))
    sent.append(pcm(100, 2))
    assert sent.total_ms == pytest.approx(200)
    assert sent.slice(50, 150) == pcm(50, 1) + pcm(50, 2)
    assert sent.slice(200, 300) == b""
    sent.reset()
    assert sent.total_ms == 0 and sent.slice(0, 100) == b""


def test_sent_audio_forgets_old_audio() -> None:
    sent = SentAudio(keep_ms=200)
    for value in range(1, 6):
        sent.append(pcm(100, value))
    assert sent.total_ms == pytest.approx(500)
    assert sent.slice(0, 200) == b""  # dropped
    assert sent.slice(300, 500) == pcm(100, 4) + pcm(100, 5)


# --------------------------------------------------------------------------- stop phrases


@pytest.mark.parametrize("text", ["stop", "Stop!", "okay stop", "wait", "hold on",
                                  "stop it", "please, be quiet", "Enough."])
def test_stop_phrases(text: str) -> None:
    assert is_stop_phrase(text, DEFAULT_STOP_PHRASES)


@pytest.mark.parametrize("text", ["", "   ", "where is the bus stop near me",
                                  "stopping", "I can't wait to see it today", "go on"])
def test_not_stop_phrases(text: str) -> None:
    assert not is_stop_phrase(text, DEFAULT_STOP_PHRASES)


# --------------------------------------------------------------------------- history


def entries(turns: int) -> list[HistoryEntry]:
    out: list[HistoryEntry] = []
    for n in range(turns):
        out.append(HistoryEntry(local_id=f"u{n}", kind=ItemKind.USER_TEXT, text=f"question {n}"))
        if n == 1:
            out.append(HistoryEntry(local_id=f"c{n}", kind=ItemKind.TOOL_CALL, call_id="c",
                                    name="f", arguments="{}"))
            out.append(HistoryEntry(local_id=f"r{n}", kind=ItemKind.TOOL_RESULT, call_id="c",
                                    output="ok"))
        out.append(HistoryEntry(local_id=f"a{n}", kind=ItemKind.ASSISTANT, text=f"answer {n}"))
    return out


def test_plan_replay_keeps_the_last_turns_and_summarises_the_rest() -> None:
    items, summary = plan_replay(entries(5), max_turns=3)
    assert [i["id"] for i in items] == ["u2", "a2", "u3", "a3", "u4", "a4"]
    assert summary.splitlines() == ["User: question 0", "Assistant: answer 0",
                                    "User: question 1", "(tool f called with {})",
                                    "Assistant: answer 1"]
    items, summary = plan_replay(entries(3), max_turns=5)
    assert len(items) == 8 and summary == ""


def test_plan_replay_never_separates_a_call_from_its_result() -> None:
    for max_turns in range(1, 5):
        items, _ = plan_replay(entries(4), max_turns)
        types = [i["type"] for i in items]
        assert ("function_call" in types) == ("function_call_output" in types)


def test_summary_is_bounded_and_keeps_the_newest() -> None:
    many = [HistoryEntry(local_id=str(n), kind=ItemKind.USER_TEXT, text="x" * 100 + str(n))
            for n in range(200)]
    _, summary = plan_replay(many, max_turns=1)
    assert len(summary) <= SUMMARY_CHARS + 3 and summary.endswith("198")


def test_resume_instructions() -> None:
    assert resume_instructions("Be brief.", "") == f"Be brief.\n\n{RESUME_REMINDER}"
    assert resume_instructions("", "User: hi").endswith("conversation:\nUser: hi")


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(("changes", "field"), [
    ({"voice": "robot"}, "voice"),
    ({"turn_detection": "push"}, "turn_detection"),
    ({"threshold": 1.5}, "turn_detection.threshold"),
    ({"idle_timeout_ms": 100}, "turn_detection.idle_timeout_ms"),
    ({"speed": 2.0}, "speed"),
    ({"output_modalities": ("text", "audio")}, "output_modalities"),
    ({"max_output_tokens": 0}, "max_output_tokens"),
    ({"noise_reduction": "studio"}, "noise_reduction"),
    ({"model": " "}, "model"),
    ({"tools": (ToolSpec(name="end_conversation"),)}, "tools"),
    ({"response_timeout_s": 0}, "response_timeout"),
])
def test_config_refuses_bad_values_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"invalid {field}"):
        SessionConfig(**changes)


def test_config_round_trips_through_its_dict() -> None:
    config = SessionConfig(tools=(ToolSpec(name="now"),), stop_phrases=("halt",), speed=1.2)
    assert SessionConfig.from_dict(config.to_dict()) == config
    assert SessionConfig.from_dict({"voice": "cedar", "unknown_future_key": 1}).voice == "cedar"
    with pytest.raises(ConfigError):
        SessionConfig.from_dict({"tools": [{"nam": "x"}]})
