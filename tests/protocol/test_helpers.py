"""The shared helpers other suites build on: the scripted peer speaks SDK-valid GA JSON, and the
assertions really compare whole command lists."""

from __future__ import annotations

import json

import pytest
from conformance import SERVER_EVENT_MODELS, validate_server_json
from helpers import (
    Harness,
    Like,
    ScriptedPeer,
    Sent,
    assert_commands,
    assert_effects,
    check_sends,
    describe,
    sent_types,
)

from realtime_cli.clock import ManualClock
from realtime_cli.core import commands as cmd
from realtime_cli.protocol import events as ev


def test_every_scripted_frame_is_sdk_valid_ga_json(peer: ScriptedPeer) -> None:
    peer.session_created()
    peer.session_updated()
    peer.user_turn(0, 900, "hello")
    peer.cleared()
    peer.response(audio_ms=250, transcript="Hi there.")
    peer.response_created()
    peer.function_call("get_weather", '{"city":"Oslo"}')
    peer.response_done()
    peer.truncated("item_a1", 100)
    peer.error("invalid_value", "bad")
    peer.session_expired()
    peer.rate_limits()
    wire = peer.take_wire()
    assert peer.wire == []
    kinds = {json.loads(text)["type"] for text in wire}
    assert {"conversation.item.added", "conversation.item.done", "response.content_part.added",
            "response.output_audio.delta", "response.function_call_arguments.done"} <= kinds
    for text in wire:
        assert json.loads(text)["type"] in SERVER_EVENT_MODELS
        validate_server_json(text)


def test_peer_messages_carry_the_clock_time() -> None:
    clock = ManualClock(start=50.0)
    peer = ScriptedPeer(clock)
    [first] = peer.speech_started(10)
    clock.advance(2.5)
    [second] = peer.speech_stopped(900)
    assert (first.now, second.now) == (50.0, 52.5)
    assert isinstance(second.event, ev.SpeechStopped) and second.event.item_id == "item_u1"


def test_raw_frames_skip_the_checks(peer: ScriptedPeer) -> None:
    [msg] = peer.raw(b"\x00")
    assert isinstance(msg.event, ev.MalformedServerEvent)
    [msg] = peer.unknown("x.future")
    assert msg.event == ev.UnknownServerEvent(type="x.future")


def test_assert_commands_compares_the_whole_list() -> None:
    commands = [cmd.FlushPlayback(), cmd.Send(event=ev.ResponseCancel(response_id="r")),
                cmd.Notice(level="info", text="x")]
    assert_commands(commands, cmd.FlushPlayback, Sent("response.cancel", response_id="r"),
                    Like(cmd.Notice, level="info"))
    assert_effects(commands, cmd.FlushPlayback(), Sent("response.cancel"))
    with pytest.raises(AssertionError, match="commands differ"):
        assert_effects(commands, cmd.FlushPlayback())  # one left over
    with pytest.raises(AssertionError):
        assert_effects(commands, cmd.FlushPlayback(), Sent("response.cancel", response_id="x"))
    with pytest.raises(AssertionError):
        assert_commands(commands, cmd.FlushPlayback, Sent("response.cancel"))
    assert describe(cmd.Play(item_id="i", pcm=b"\x00" * 96)) == "Play(item_id='i', 48 samples)"
    assert sent_types(commands) == ["response.cancel"]


def test_check_sends_rejects_a_non_conformant_event() -> None:
    bad = cmd.Send(event=ev.SessionUpdate(session={"modalities": ["audio"]}))
    with pytest.raises(AssertionError, match="session"):
        check_sends([bad])


def test_harness_reaches_ready(harness: Harness) -> None:
    out = harness.ready()
    assert_effects(out, Like(cmd.Connect, reason="initial"), Sent("session.update"))
    assert harness.core.next_deadline() is not None
