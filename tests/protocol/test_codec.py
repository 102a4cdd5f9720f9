"""codec: client events encode to the GA wire shape; `decode` never raises on anything."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_cli.protocol import events as ev
from realtime_cli.protocol import openai_ga as codec

# --------------------------------------------------------------------------- encode


def test_encode_puts_type_first_and_leaves_out_none() -> None:
    text = codec.encode(ev.ResponseCancel())
    assert text == '{"type":"response.cancel"}'
    assert codec.to_dict(ev.ResponseCancel(response_id="resp_1", event_id="e1")) == {
        "type": "response.cancel", "response_id": "resp_1", "event_id": "e1"}
    assert list(codec.to_dict(ev.ConversationItemTruncate(
        item_id="i", content_index=0, audio_end_ms=0))) == [
        "type", "item_id", "content_index", "audio_end_ms"]


def test_encode_keeps_zero_false_empty_and_unicode() -> None:
    data = json.loads(codec.encode(ev.ConversationItemTruncate(
        item_id="é", content_index=0, audio_end_ms=0)))
    assert data == {"type": "conversation.item.truncate", "item_id": "é", "content_index": 0,
                    "audio_end_ms": 0}
    assert "é" in codec.encode(ev.ConversationItemDelete(item_id="é"))
    assert json.loads(codec.encode(ev.SessionUpdate(session={"tools": [],
                                                             "turn_detection": None}))) == {
        "type": "session.update", "session": {"tools": [], "turn_detection": None}}


# --------------------------------------------------------------------------- decode failures


@pytest.mark.parametrize(("frame", "reason"), [
    (b"\x00\x01binary", "binary frame"),
    (bytearray(b"{}"), "binary frame"),
    ("{not json", "invalid JSON"),
    ("", "invalid JSON"),
    ("[1, 2]", "not an object"),
    ('"session.created"', "not an object"),
    ("null", "not an object"),
    ('{"event_id": "e"}', "no string 'type'"),
    ('{"type": 5}', "no string 'type'"),
    ('{"type": null}', "no string 'type'"),
    ("[" * 100_000, "invalid JSON"),
])
def test_unreadable_frames_are_malformed(frame: str | bytes, reason: str) -> None:
    event = codec.decode(frame)
    assert isinstance(event, ev.MalformedServerEvent)
    assert reason in event.reason
    assert len(event.excerpt) <= 163


@pytest.mark.parametrize("kind", [
    "mcp_list_tools.in_progress", "output_audio_buffer.started", "response.audio.delta",
    "conversation.created", "transcription_session.updated", "x.future_event",
])
def test_unhandled_types_are_unknown(kind: str) -> None:
    assert codec.decode(json.dumps({"type": kind, "event_id": "e"})) == ev.UnknownServerEvent(
        type=kind)


# A valid minimal frame per handled type, and the fields the codec requires in it.
MINIMAL: dict[str, tuple[dict[str, Any], list[str]]] = {
    "session.created": ({"session": {"id": "s", "expires_at": 10}}, ["session"]),
    "session.updated": ({"session": {}}, ["session"]),
    "conversation.item.added": ({"item": {"id": "i"}}, ["item", "item.id"]),
    "conversation.item.created": ({"item": {"id": "i"}}, ["item", "item.id"]),
    "conversation.item.done": ({"item": {"id": "i"}}, ["item", "item.id"]),
    "conversation.item.truncated": ({"item_id": "i", "audio_end_ms": 5},
                                    ["item_id", "audio_end_ms"]),
    "conversation.item.deleted": ({"item_id": "i"}, ["item_id"]),
    "input_audio_buffer.committed": ({"item_id": "i"}, ["item_id"]),
    "input_audio_buffer.speech_started": ({"item_id": "i", "audio_start_ms": 0},
                                          ["item_id", "audio_start_ms"]),
    "input_audio_buffer.speech_stopped": ({"item_id": "i", "audio_end_ms": 0},
                                          ["item_id", "audio_end_ms"]),
    "input_audio_buffer.timeout_triggered": ({"item_id": "i", "audio_start_ms": 0,
                                              "audio_end_ms": 1},
                                             ["item_id", "audio_start_ms", "audio_end_ms"]),
    "conversation.item.input_audio_transcription.delta": ({"item_id": "i"}, ["item_id"]),
    "conversation.item.input_audio_transcription.completed": ({"item_id": "i",
                                                               "transcript": "t"},
                                                              ["item_id", "transcript"]),
    "conversation.item.input_audio_transcription.failed": ({"item_id": "i"}, ["item_id"]),
    "response.created": ({"response": {"id": "r"}}, ["response", "response.id"]),
    "response.done": ({"response": {"id": "r"}}, ["response", "response.id"]),
    "response.output_item.added": ({"response_id": "r", "item": {"id": "i"}},
                                   ["response_id", "item", "item.id"]),
    "response.output_item.done": ({"response_id": "r", "item": {"id": "i"}},
                                  ["response_id", "item", "item.id"]),
    "response.content_part.added": ({"response_id": "r", "item_id": "i"},
                                    ["response_id", "item_id"]),
    "response.content_part.done": ({"response_id": "r", "item_id": "i"},
                                   ["response_id", "item_id"]),
    "response.output_audio.delta": ({"response_id": "r", "item_id": "i", "delta": "AAA="},
                                    ["response_id", "item_id", "delta"]),
    "response.output_audio.done": ({"response_id": "r", "item_id": "i"},
                                   ["response_id", "item_id"]),
    "response.output_audio_transcript.delta": ({"response_id": "r", "item_id": "i",
                                                "delta": "d"}, ["response_id", "item_id", "delta"]),
    "response.output_text.delta": ({"response_id": "r", "item_id": "i", "delta": "d"},
                                   ["response_id", "item_id", "delta"]),
    "response.output_audio_transcript.done": ({"response_id": "r", "item_id": "i",
                                               "transcript": "t"},
                                              ["response_id", "item_id", "transcript"]),
    "response.output_text.done": ({"response_id": "r", "item_id": "i", "text": "t"},
                                  ["response_id", "item_id", "text"]),
    "response.function_call_arguments.delta": ({"call_id": "c", "item_id": "i", "delta": "{"},
                                               ["call_id", "item_id", "delta"]),
    "response.function_call_arguments.done": ({"call_id": "c", "item_id": "i",
                                               "arguments": "{}"},
                                              ["call_id", "item_id", "arguments"]),
    "input_audio_buffer.cleared": ({}, []),
    "rate_limits.updated": ({"rate_limits": []}, []),
    "error": ({"error": {"message": "m"}}, ["error"]),
}


def test_minimal_table_covers_every_handled_type() -> None:
    assert set(MINIMAL) == codec.HANDLED_TYPES


def _frame(kind: str) -> dict[str, Any]:
    body = MINIMAL[kind][0]
    return {"type": kind, **json.loads(json.dumps(body))}


def _set(frame: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = frame
    for p in parents:
        target = target[p]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value


_DELETE = object()
WRONG = [_DELETE, None, 7, 1.5, True, "s", [], {}, float("inf"), float("nan")]


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_each_handled_type_decodes_its_minimal_frame(kind: str) -> None:
    event = codec.decode(json.dumps(_frame(kind)))
    assert not isinstance(event, ev.MalformedServerEvent | ev.UnknownServerEvent), event


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_missing_or_mistyped_required_fields_are_malformed(kind: str) -> None:
    _, required = MINIMAL[kind]
    for path in required:
        for wrong in WRONG:
            if wrong is not _DELETE and _accepts(kind, path, wrong):
                continue
            frame = _frame(kind)
            _set(frame, path, wrong)
            event = codec.decode(json.dumps(frame))
            assert isinstance(event, ev.MalformedServerEvent), (path, wrong, event)
            assert event.reason.startswith(kind)


def _accepts(kind: str, path: str, value: Any) -> bool:
    """Whether a replacement value is legitimately of the field's JSON type."""
    name = path.rsplit(".", 1)[-1]
    if name in ("session", "item", "response", "error"):
        return isinstance(value, dict) and name != "item" and name != "response"
    if name.endswith("_ms"):
        return isinstance(value, int | float) and not isinstance(value, bool) \
            and value == value and abs(value) != float("inf")
    if kind == "response.output_audio.delta" and name == "delta":
        return False  # "s" is not base64 PCM16
    return isinstance(value, str)


def test_audio_delta_must_be_whole_base64_pcm16_samples() -> None:
    base = {"type": "response.output_audio.delta", "response_id": "r", "item_id": "i"}
    for bad in ("not base64!", "AAA", "AA=="):  # invalid, unpadded, one odd byte
        event = codec.decode(json.dumps({**base, "delta": bad}))
        assert isinstance(event, ev.MalformedServerEvent), bad
    good = codec.decode(json.dumps({**base, "delta": "AQACAA==", "content_index": 0}))
    assert good == ev.OutputAudioDelta(response_id="r", item_id="i", content_index=0,
                                       pcm=b"\x01\x00\x02\x00")


def test_non_finite_numbers_never_escape_decode() -> None:
    # Python's json accepts NaN/Infinity; int(inf) and float(10**400) raise OverflowError.
    for number in ("Infinity", "-Infinity", "NaN"):
        text = ('{"type":"conversation.item.truncated","item_id":"i","content_index":0,'
                f'"audio_end_ms":{number}}}')
        assert isinstance(codec.decode(text), ev.MalformedServerEvent)
    for number in ("Infinity", "-Infinity", "NaN", "1" + "0" * 400):
        created = codec.decode('{"type":"session.created","session":{"expires_at":' + number
                               + "}}")
        assert isinstance(created, ev.SessionCreated)
        assert created.expires_at is None


# --------------------------------------------------------------------------- fuzz

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
TYPES = st.sampled_from(sorted(codec.HANDLED_TYPES | {"x.y"}))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60) | st.binary(max_size=30))
def test_decode_never_raises_on_any_frame(frame: str | bytes) -> None:
    assert isinstance(codec.decode(frame), ev.ServerEvent)


@settings(max_examples=300, deadline=None)
@given(TYPES, st.dictionaries(st.sampled_from(
    ["session", "item", "item_id", "response", "response_id", "audio_end_ms", "audio_start_ms",
     "delta", "transcript", "text", "call_id", "arguments", "name", "error", "rate_limits",
     "content_index", "part", "previous_item_id"]), JSON, max_size=6))
def test_decode_never_raises_on_any_json_of_a_known_type(kind: str, body: dict) -> None:
    event = codec.decode(json.dumps({**body, "type": kind}))
    assert isinstance(event, ev.ServerEvent)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(MINIMAL)), st.data())
def test_decode_never_raises_when_any_nested_value_is_replaced(kind: str,
                                                               data: st.DataObject) -> None:
    frame = _frame(kind)
    # Deep-replace: pick a path inside the frame (including nested objects) and put any JSON.
    paths = [*_paths(frame), ("unexpected_key",)]
    path = data.draw(st.sampled_from(paths))
    value = data.draw(JSON)
    target = frame
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert isinstance(codec.decode(json.dumps(frame)), ev.ServerEvent)


def _paths(obj: dict[str, Any], prefix: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    for key, value in obj.items():
        if key == "type" and not prefix:
            continue
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from _paths(value, (*prefix, key))


def test_lone_surrogates_become_replacement_characters() -> None:
    """JSON can escape half a UTF-16 pair; such a string would break the first print or write."""
    e = codec.decode('{"type":"error","error":{"type":"x","message":"bad \\ud800 \\udfff end"}}')
    assert isinstance(e, ev.ServerError) and e.message == "bad \ufffd \ufffd end"
    e.message.encode("utf-8")
    ok = codec.decode('{"type":"error","error":{"type":"x","message":"pair \\ud83d\\ude00"}}')
    assert isinstance(ok, ev.ServerError) and ok.message == "pair \U0001f600"


@pytest.mark.parametrize("position", ["-1e308", "1e300", "9007199254740993"])
def test_absurd_positions_are_malformed(position: str) -> None:
    e = codec.decode('{"type":"input_audio_buffer.speech_started","item_id":"i",'
               f'"audio_start_ms":{position}}}')
    assert isinstance(e, ev.MalformedServerEvent) and "out of range" in e.reason


def test_the_openai_codec_is_a_wire_codec_and_owns_base64() -> None:
    """The core hands raw PCM over; base64 exists only on the wire, in both directions."""
    from realtime_cli.protocol.wire import WireCodec

    wire: WireCodec = codec.OPENAI_GA
    assert wire.opened() == []  # the server speaks first
    assert wire.encode(ev.InputAudioBufferAppend(audio=b"\x01\x00\xff\x7f")) == [
        '{"type":"input_audio_buffer.append","audio":"AQD/fw=="}']
    [event] = wire.decode('{"type":"response.output_audio.delta","response_id":"r","item_id":"i",'
                          '"output_index":0,"content_index":0,"delta":"AQD/fw=="}')
    assert isinstance(event, ev.OutputAudioDelta) and event.pcm == b"\x01\x00\xff\x7f"


def test_an_audio_append_is_written_as_the_generic_encoder_writes_it() -> None:
    """The append's short cut against `json.dumps` of its wire dict, for every byte value and
    lengths that end base64 with one, two or no padding characters, and with an event id."""
    for audio in (bytes(range(256)) * 8, os.urandom(1920), os.urandom(961), os.urandom(962), b""):
        for event_id in (None, "e7"):
            event = ev.InputAudioBufferAppend(audio=audio, event_id=event_id)
            assert codec.encode(event) == json.dumps(codec.to_dict(event), separators=(",", ":"),
                                                     ensure_ascii=False)
