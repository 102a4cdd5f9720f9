"""Real-shaped GA server frames, quirks included (docs/protocol.md#responses-and-output-audio and
#errors): they validate against the openai server-event models, decode to the right values and
drive the core."""

from __future__ import annotations

import base64
import json

import pytest
from conformance import SERVER_EVENT_MODELS, validate_server_json
from helpers import Harness, assert_effects

from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.states import SessionState as S
from realtime_cli.protocol import events as ev
from realtime_cli.protocol import openai_ga as codec

AUDIO_B64 = base64.b64encode(b"\x01\x00" * 2400).decode()

# One GA turn as the server sends it, in order (shapes from published real GA event logs).
TURN = [
    ('{"type":"session.created","event_id":"event_C1","session":{"type":"realtime",'
     '"object":"realtime.session","id":"sess_C1","model":"gpt-realtime-2025-08-28",'
     '"output_modalities":["audio"],"instructions":"Be brief.","tools":[],"tool_choice":"auto",'
     '"max_output_tokens":"inf","tracing":null,"truncation":"auto","prompt":null,'
     '"expires_at":1760003600,"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},'
     '"transcription":null,"noise_reduction":null,"turn_detection":{"type":"server_vad",'
     '"threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":200,"idle_timeout_ms":null,'
     '"create_response":true,"interrupt_response":true}},"output":{"format":{"type":"audio/pcm",'
     '"rate":24000},"voice":"alloy","speed":1.0}},"include":null}}', ev.SessionCreated),
    ('{"type":"session.updated","event_id":"event_C2","session":{"type":"realtime",'
     '"object":"realtime.session","id":"sess_C1","model":"gpt-realtime-2025-08-28",'
     '"output_modalities":["audio"],"instructions":"Be brief.","tools":[],'
     '"audio":{"output":{"voice":"marin"}},"expires_at":1760003600}}', ev.SessionUpdated),
    ('{"type":"input_audio_buffer.speech_started","event_id":"event_C3","audio_start_ms":340,'
     '"item_id":"item_U1"}', ev.SpeechStarted),
    ('{"type":"input_audio_buffer.speech_stopped","event_id":"event_C4","audio_end_ms":1620,'
     '"item_id":"item_U1"}', ev.SpeechStopped),
    ('{"type":"input_audio_buffer.committed","event_id":"event_C5","previous_item_id":null,'
     '"item_id":"item_U1"}', ev.InputAudioBufferCommitted),
    ('{"type":"conversation.item.added","event_id":"event_C6","previous_item_id":null,'
     '"item":{"id":"item_U1","type":"message","status":"completed","role":"user",'
     '"content":[{"type":"input_audio","transcript":null}],"object":"realtime.item"}}',
     ev.ConversationItemAdded),
    ('{"type":"conversation.item.done","event_id":"event_C7","previous_item_id":null,'
     '"item":{"id":"item_U1","type":"message","status":"completed","role":"user",'
     '"content":[{"type":"input_audio","transcript":null}],"object":"realtime.item"}}',
     ev.ConversationItemDone),
    ('{"type":"response.created","event_id":"event_C8","response":{"object":"realtime.response",'
     '"id":"resp_C1","status":"in_progress","status_details":null,"output":[],'
     '"conversation_id":"conv_C1","output_modalities":["audio"],"max_output_tokens":"inf",'
     '"audio":{"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin"}},'
     '"usage":null,"metadata":null}}', ev.ResponseCreated),
    ('{"type":"rate_limits.updated","event_id":"event_C9","rate_limits":[{"name":"tokens",'
     '"limit":40000,"remaining":39000,"reset_seconds":1.5}]}', ev.RateLimitsUpdated),
    ('{"type":"response.output_item.added","event_id":"event_C10","response_id":"resp_C1",'
     '"output_index":0,"item":{"id":"item_A1","type":"message","status":"in_progress",'
     '"role":"assistant","content":[],"object":"realtime.item"}}', ev.OutputItemAdded),
    ('{"type":"conversation.item.added","event_id":"event_C11","previous_item_id":"item_U1",'
     '"item":{"id":"item_A1","type":"message","status":"in_progress","role":"assistant",'
     '"content":[],"object":"realtime.item"}}', ev.ConversationItemAdded),
    ('{"type":"response.content_part.added","event_id":"event_C12","item_id":"item_A1",'
     '"output_index":0,"content_index":0,"part":{"type":"audio","transcript":""},'
     '"response_id":"resp_C1"}', ev.ContentPartAdded),
    ('{"type":"response.output_audio_transcript.delta","event_id":"event_C13",'
     '"response_id":"resp_C1","item_id":"item_A1","output_index":0,"content_index":0,'
     '"delta":"Hello","obfuscation":"Wk1x2"}', ev.OutputTranscriptDelta),
    ('{"type":"response.output_audio.delta","event_id":"event_C14","response_id":"resp_C1",'
     '"item_id":"item_A1","output_index":0,"content_index":0,"delta":"' + AUDIO_B64
     + '"}', ev.OutputAudioDelta),
    ('{"type":"response.output_audio_transcript.delta","event_id":"event_C15",'
     '"response_id":"resp_C1","item_id":"item_A1","output_index":0,"content_index":0,'
     '"delta":" there!","obfuscation":"abc"}', ev.OutputTranscriptDelta),
    ('{"type":"response.output_audio.done","event_id":"event_C16","response_id":"resp_C1",'
     '"item_id":"item_A1","output_index":0,"content_index":0}', ev.OutputAudioDone),
    ('{"type":"response.output_audio_transcript.done","event_id":"event_C17",'
     '"response_id":"resp_C1","item_id":"item_A1","output_index":0,"content_index":0,'
     '"transcript":"Hello there!"}', ev.OutputTranscriptDone),
    ('{"type":"response.content_part.done","event_id":"event_C18","item_id":"item_A1",'
     '"output_index":0,"content_index":0,"part":{"type":"audio","transcript":"Hello there!"},'
     '"response_id":"resp_C1"}', ev.ContentPartDone),
    ('{"type":"response.output_item.done","event_id":"event_C19","response_id":"resp_C1",'
     '"output_index":0,"item":{"id":"item_A1","type":"message","status":"completed",'
     '"role":"assistant","content":[{"type":"output_audio","transcript":"Hello there!"}],'
     '"object":"realtime.item"}}', ev.OutputItemDone),
    ('{"type":"conversation.item.done","event_id":"event_C20","previous_item_id":"item_U1",'
     '"item":{"id":"item_A1","type":"message","status":"completed","role":"assistant",'
     '"content":[{"type":"output_audio","transcript":"Hello there!"}],'
     '"object":"realtime.item"}}', ev.ConversationItemDone),
    ('{"type":"conversation.item.input_audio_transcription.delta","event_id":"event_C21",'
     '"item_id":"item_U1","content_index":0,"delta":"Hi","obfuscation":"q"}',
     ev.InputTranscriptionDelta),
    ('{"type":"conversation.item.input_audio_transcription.completed","event_id":"event_C22",'
     '"item_id":"item_U1","content_index":0,"transcript":"Hi","usage":{"type":"duration",'
     '"seconds":1.3}}', ev.InputTranscriptionCompleted),
    ('{"type":"response.done","event_id":"event_C23","response":{"object":"realtime.response",'
     '"id":"resp_C1","status":"completed","status_details":null,"output":[{"id":"item_A1",'
     '"type":"message","status":"completed","role":"assistant","content":[{"type":'
     '"output_audio","transcript":"Hello there!"}],"object":"realtime.item"}],'
     '"conversation_id":"conv_C1","output_modalities":["audio"],"max_output_tokens":"inf",'
     '"audio":{"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin"}},'
     '"usage":{"total_tokens":250,"input_tokens":132,"output_tokens":118,'
     '"input_token_details":{"text_tokens":59,"audio_tokens":73,"image_tokens":0,'
     '"cached_tokens":64,"cached_tokens_details":{"text_tokens":0,"audio_tokens":64,'
     '"image_tokens":0}},"output_token_details":{"text_tokens":22,"audio_tokens":96}},'
     '"metadata":null}}', ev.ResponseDone),
]

OTHERS = [
    ('{"type":"conversation.item.created","event_id":"event_L1","previous_item_id":null,'
     '"item":{"id":"item_L1","type":"message","status":"completed","role":"user",'
     '"content":[{"type":"input_text","text":"legacy"}],"object":"realtime.item"}}',
     ev.ConversationItemAdded),
    ('{"type":"error","event_id":"event_E1","error":{"type":"invalid_request_error",'
     '"code":"session_expired","message":"Your session hit the maximum duration of 60 minutes.",'
     '"param":null,"event_id":null}}', ev.ServerError),
    ('{"type":"error","event_id":"event_E2","error":{"type":"invalid_request_error",'
     '"code":"input_audio_buffer_commit_empty","message":"Error committing input audio buffer",'
     '"param":null,"event_id":"rt_commit_4"}}', ev.ServerError),
    ('{"type":"conversation.item.truncated","event_id":"event_T1","item_id":"item_A1",'
     '"content_index":0,"audio_end_ms":1500}', ev.ConversationItemTruncated),
    ('{"type":"response.done","event_id":"event_D2","response":{"object":"realtime.response",'
     '"id":"resp_C2","status":"cancelled","status_details":{"type":"cancelled",'
     '"reason":"turn_detected"},"output":[],"usage":null}}', ev.ResponseDone),
    ('{"type":"input_audio_buffer.timeout_triggered","event_id":"event_I1",'
     '"audio_start_ms":5000,"audio_end_ms":11000,"item_id":"item_U9"}',
     ev.InputAudioTimeoutTriggered),
    ('{"type":"conversation.item.input_audio_transcription.failed","event_id":"event_F1",'
     '"item_id":"item_U1","content_index":0,"error":{"type":"transcription_error",'
     '"code":"audio_unintelligible","message":"Audio unintelligible","param":null}}',
     ev.InputTranscriptionFailed),
    ('{"type":"response.function_call_arguments.done","event_id":"event_FC","response_id":"r",'
     '"item_id":"item_F1","output_index":0,"call_id":"call_1","name":"now","arguments":"{}"}',
     ev.FunctionCallArgumentsDone),
    ('{"type":"response.output_text.delta","event_id":"event_X1","response_id":"r",'
     '"item_id":"i","output_index":0,"content_index":0,"delta":"hi"}', ev.OutputTranscriptDelta),
    ('{"type":"response.output_text.done","event_id":"event_X2","response_id":"r",'
     '"item_id":"i","output_index":0,"content_index":0,"text":"hi"}', ev.OutputTranscriptDone),
    ('{"type":"conversation.item.deleted","event_id":"event_X3","item_id":"i"}',
     ev.ConversationItemDeleted),
    ('{"type":"input_audio_buffer.cleared","event_id":"event_X4"}', ev.InputAudioBufferCleared),
    ('{"type":"mcp_list_tools.in_progress","event_id":"event_M1","item_id":"mcp_1"}',
     ev.UnknownServerEvent),
    ('{"type":"output_audio_buffer.started","event_id":"event_W1","response_id":"r"}',
     ev.UnknownServerEvent),
]
ALL = TURN + OTHERS


@pytest.mark.parametrize(("text", "cls"), ALL, ids=[json.loads(t)["type"] for t, _ in ALL])
def test_fixture_validates_against_the_sdk_and_decodes(text: str, cls: type) -> None:
    kind = json.loads(text)["type"]
    assert kind in SERVER_EVENT_MODELS
    validate_server_json(text)
    assert isinstance(codec.decode(text), cls)


def test_decoded_values() -> None:
    events = [codec.decode(t) for t, _ in TURN]
    created = events[0]
    assert isinstance(created, ev.SessionCreated)
    assert (created.session_id, created.expires_at) == ("sess_C1", 1760003600.0)
    audio = events[13]
    assert isinstance(audio, ev.OutputAudioDelta)
    assert audio.pcm == b"\x01\x00" * 2400 and audio.item_id == "item_A1"
    done = events[-1]
    assert isinstance(done, ev.ResponseDone) and done.usage is not None
    assert (done.usage.cached_tokens, done.usage.cached_audio_tokens) == (64, 64)
    assert done.output[0].text() == "Hello there!"
    legacy, error = (codec.decode(t) for t, _ in OTHERS[:2])
    assert isinstance(legacy, ev.ConversationItemAdded) and legacy.item.text() == "legacy"
    assert error == ev.ServerError(type="invalid_request_error", code="session_expired",
                                   message="Your session hit the maximum duration of 60 minutes.",
                                   client_event_id=None)
    cancelled = codec.decode(OTHERS[4][0])
    assert isinstance(cancelled, ev.ResponseDone)
    assert (cancelled.status, cancelled.reason) == ("cancelled", "turn_detected")


def test_the_fixture_turn_drives_the_core_to_a_heard_answer() -> None:
    h = Harness()
    h.begin()
    h.open()
    out: list[cmd.Command] = []
    for text, _ in TURN:
        out += h.feed(inp.ServerMessage(now=h.now, event=codec.decode(text)))
        h.advance(0.05)
    assert_effects(out, cmd.Send, cmd.Play(item_id="item_A1", pcm=b"\x01\x00" * 2400))
    h.play("item_A1", 2400, idle=True)
    assert h.state is S.READY
    snap = h.core.snapshot(h.now)
    assert [(line.role, line.text) for line in snap.transcript] == [
        ("user", "Hi"), ("assistant", "Hello there!")]
    assert h.core.metrics.unknown_events == 0 and h.core.metrics.protocol_violations == 0


BAD_FRAMES: list[str | bytes] = [
    b"\x89PNG", "{oops", "[]", '{"type":7}',
    '{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"%%%"}',
    '{"type":"input_audio_buffer.speech_started","item_id":5}',
    '{"type":"response.done","response":"done"}',
]


def test_malformed_and_unknown_frames_are_recorded_and_the_core_survives() -> None:
    h = Harness()
    h.ready()
    for frame in BAD_FRAMES:
        out = h.feed(h.peer.raw(frame))
        assert_effects(out)
        assert h.core.notice is not None and h.core.notice.level == "warning"
    assert h.core.metrics.protocol_violations == len(BAD_FRAMES)
    for kind in ("mcp_list_tools.completed", "output_audio_buffer.cleared", "future.event"):
        assert_effects(h.feed(h.peer.unknown(kind)))
    assert h.core.metrics.unknown_events == 3
    assert h.state is S.READY
    h.feed(h.peer.user_turn(0, 500) + h.peer.response(audio_ms=100))
    assert h.state is S.RESPONDING
