"""Every kind of client event the core emits validates against the openai GA models AND passes
the unknown-key check (tests/conformance.py says why both are needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conformance import validate_client_event, validate_client_json
from helpers import Harness, sends
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_cli.core.config import (
    EAGERNESS,
    NOISE_REDUCTION,
    VOICES,
    SessionConfig,
    ToolSpec,
)
from realtime_cli.core.history import HistoryEntry, item_payload, resume_instructions
from realtime_cli.core.inputs import Action
from realtime_cli.core.records import ItemKind
from realtime_cli.protocol import events as ev
from realtime_cli.protocol import openai_ga as codec

TOOLS = (ToolSpec(name="get_weather", description="Weather for a city",
                  parameters={"type": "object", "properties": {"city": {"type": "string"}},
                              "required": ["city"], "additionalProperties": False}),
         ToolSpec(name="now"))


def check(event: ev.ClientEvent) -> dict[str, Any]:
    text = codec.encode(event)
    validate_client_json(text)
    return json.loads(text)


# --------------------------------------------------------------------------- session.update


@pytest.mark.parametrize("turn_detection", ["server_vad", "semantic_vad", "none"])
@pytest.mark.parametrize("tools", ["none", "builtin", "custom"])
@pytest.mark.parametrize("transcription", [None, "gpt-4o-mini-transcribe"])
def test_session_update_variants(turn_detection: str, tools: str,
                                 transcription: str | None) -> None:
    config = SessionConfig(
        turn_detection=turn_detection, transcription_model=transcription,
        transcription_language="de" if transcription else None,
        builtin_end_tool=tools == "builtin" or tools == "custom",
        tools=TOOLS if tools == "custom" else (),
        idle_timeout_ms=6000 if turn_detection == "server_vad" else None,
    )
    data = check(ev.SessionUpdate(session=config.session_payload(), event_id="rt_cfg_1"))
    session = data["session"]
    assert session["type"] == "realtime"
    detection = session["audio"]["input"]["turn_detection"]
    assert (detection or {}).get("type", "none") == turn_detection
    assert session["audio"]["input"]["transcription"] == (
        {"model": transcription, "language": "de"} if transcription else None)
    assert len(session["tools"]) == {"none": 0, "builtin": 1, "custom": 3}[tools]


@settings(max_examples=60, deadline=None)
@given(st.builds(
    SessionConfig,
    voice=st.sampled_from(VOICES),
    turn_detection=st.sampled_from(["server_vad", "semantic_vad", "none"]),
    threshold=st.floats(0, 1), prefix_padding_ms=st.integers(0, 10_000),
    silence_duration_ms=st.integers(0, 10_000), create_response=st.booleans(),
    interrupt_response=st.booleans(),
    idle_timeout_ms=st.none() | st.integers(5_000, 30_000),
    eagerness=st.sampled_from(EAGERNESS),
    transcription_model=st.none() | st.sampled_from(["whisper-1", "gpt-4o-transcribe"]),
    transcription_language=st.none() | st.just("fr"),
    noise_reduction=st.none() | st.sampled_from(NOISE_REDUCTION),
    max_output_tokens=st.none() | st.integers(1, 4096), speed=st.floats(0.25, 1.5),
    output_modalities=st.sampled_from([("audio",), ("text",)]),
    builtin_end_tool=st.booleans(),
    instructions=st.text(max_size=30),
))
def test_any_valid_config_renders_a_conformant_session_update(config: SessionConfig) -> None:
    check(ev.SessionUpdate(session=config.session_payload()))
    check(ev.SessionUpdate(session=config.session_payload(
        resume_instructions(config.instructions, "User: hi"))))


def test_session_update_of_a_resumed_session_has_resume_instructions() -> None:
    h = Harness(history=[HistoryEntry(local_id="rtold_00001", kind=ItemKind.USER_TEXT,
                                      text="hi")], resumed=True)
    h.ready()
    [update, replay] = sends(h.log)
    assert "continued from an earlier session" in update.session["instructions"]
    assert replay.item["content"] == [{"type": "input_text", "text": "hi"}]


# --------------------------------------------------------------------------- replay items

ENTRIES = [
    HistoryEntry(local_id="rtabcdefgh_00001", kind=ItemKind.USER_AUDIO, text="hello"),
    HistoryEntry(local_id="rtabcdefgh_00002", kind=ItemKind.USER_AUDIO, duration_ms=1500),
    HistoryEntry(local_id="rtabcdefgh_00003", kind=ItemKind.USER_TEXT, text="typed"),
    HistoryEntry(local_id="rtabcdefgh_00004", kind=ItemKind.ASSISTANT, text="Hi, heard part"),
    HistoryEntry(local_id="x" * 40, kind=ItemKind.TOOL_CALL, call_id="call_1",
                 name="get_weather", arguments='{"city":"Oslo"}'),
    HistoryEntry(local_id="rtabcdefgh_00006", kind=ItemKind.TOOL_RESULT, call_id="call_1",
                 output="cold"),
]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.kind.value for e in ENTRIES])
def test_replayed_items_conform_with_short_ids(entry: HistoryEntry) -> None:
    item = item_payload(entry)
    assert item is not None
    data = check(ev.ConversationItemCreate(item=item))
    assert len(data["item"]["id"]) <= 32
    if entry.kind is ItemKind.ASSISTANT:
        assert data["item"]["content"] == [{"type": "output_text", "text": "Hi, heard part"}]


def test_nothing_to_say_is_not_replayed() -> None:
    assert item_payload(HistoryEntry(local_id="a", kind=ItemKind.ASSISTANT, text="  ")) is None
    assert item_payload(HistoryEntry(local_id="u", kind=ItemKind.USER_TEXT)) is None
    assert item_payload(HistoryEntry(local_id="v", kind=ItemKind.USER_AUDIO)) is None


# --------------------------------------------------------------------------- the core's output

EXPECTED_KINDS = {
    "session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
    "input_audio_buffer.clear", "conversation.item.truncate", "response.create",
    "response.cancel", "conversation.item.create/message/user",
    "conversation.item.create/message/assistant", "conversation.item.create/function_call",
    "conversation.item.create/function_call_output",
}


def kind_of(event: ev.ClientEvent) -> str:
    if isinstance(event, ev.ConversationItemCreate):
        item = event.item
        return "/".join(filter(None, [event.type, item["type"], item.get("role")]))
    return event.type


def vad_tour() -> Harness:
    """Voice turn, barge-in, manual cancel, tool call, text, rollover with replay."""
    h = Harness(SessionConfig(tools=TOOLS, interrupt_response=False))
    h.ready()
    h.mic(40)
    h.feed(h.peer.user_turn(0, 500, "hello"))
    h.feed(h.peer.response(audio_ms=1000, transcript="one two three", done=False))
    h.play(h.peer.item_id, 4800)
    h.feed(h.peer.speech_started(2000))  # barge-in: cancel + truncate
    h.feed(h.peer.item_done(status="incomplete") + h.peer.response_done("cancelled"))
    h.feed(h.peer.speech_stopped(2500) + h.peer.committed() + h.peer.response_created())
    h.feed(h.peer.function_call("get_weather", '{"city":"Oslo"}'))
    h.tool_output("call_1", "cold")
    h.feed(h.peer.response_done())  # function_call_output + response.create
    h.feed(h.peer.response(audio_ms=500, transcript="It is cold.", done=False))
    h.play(h.peer.item_id, 2400)
    h.user(Action.INTERRUPT)
    h.feed(h.peer.item_done(status="incomplete") + h.peer.response_done("cancelled"))
    h.user(Action.SEND_TEXT, text="thanks")
    h.feed(h.peer.response(audio_ms=200, transcript="Welcome."))
    h.play(h.peer.item_id, 4800, idle=True)
    h.feed(h.peer.session_expired())
    h.reconnect()
    return h


def ptt_tour() -> Harness:
    h = Harness(SessionConfig(turn_detection="none", transcription_model=None,
                              builtin_end_tool=False))
    h.ready()
    h.user(Action.PUSH_TO_TALK)
    h.mic(200)
    h.user(Action.PUSH_TO_TALK)
    h.user(Action.PAUSE)
    return h


def test_every_kind_of_client_event_the_core_emits_conforms() -> None:
    kinds: set[str] = set()
    for harness in (vad_tour(), ptt_tour()):
        for event in sends(harness.log):
            validate_client_event(codec.to_dict(event))  # (the harness did this already)
            kinds.add(kind_of(event))
    assert kinds >= EXPECTED_KINDS, EXPECTED_KINDS - kinds
