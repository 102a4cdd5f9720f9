"""Turns: server VAD on real speech, the full response sequence, barge-in, cancel, text mode."""

from __future__ import annotations

import base64
import re

from realtime_cli.audio.pcm import bytes_to_ms, silence
from realtime_cli.server import RunningServer

from .conftest import ServerFactory
from .rtclient import Event, RtClient, client, utterance

AUDIO_RESPONSE = [  # rate_limits.updated follows response.done
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
]
DELTAS = ("response.output_audio.delta", "response.output_audio_transcript.delta")
NO_VAD = {"type": "session.update",
          "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}}


def _user_text(text: str) -> Event:
    return {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


def _audio_of(events: list[Event], response_id: str) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events
                    if e["type"] == "response.output_audio.delta"
                    and e["response_id"] == response_id)


async def test_vad_turn_on_real_speech_gives_a_full_spoken_response(
    srv: RunningServer, hello_pcm: bytes
) -> None:
    async with client(srv.url) as rt:
        await rt.send({"type": "session.update", "session": {
            "type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}})
        await rt.wait_for("session.updated")
        mark = len(rt.events)
        await rt.append_audio(hello_pcm)
        events = await rt.collect_until("response.done")
        limits = await rt.wait_for("rate_limits.updated")
        transcription = await rt.find("conversation.item.input_audio_transcription.completed")
    everything = rt.types()
    kinds = [e["type"] for e in events]
    started, stopped, committed = (events[kinds.index(k)] for k in (
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed"))
    item_id = started["item_id"]
    assert stopped["item_id"] == committed["item_id"] == item_id
    assert committed["previous_item_id"] is None
    assert 0 <= started["audio_start_ms"] <= 300
    total_ms = bytes_to_ms(len(hello_pcm))
    assert 1500 < stopped["audio_end_ms"] <= total_ms
    user_added = next(e for e in events if e["type"] == "conversation.item.added")
    assert user_added["item"]["id"] == item_id
    assert user_added["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index(
        "input_audio_buffer.speech_stopped") < kinds.index("input_audio_buffer.committed")
    assert rt.types(mark).count("session.updated") == 0

    # the input's transcription runs beside the response (asynchronous in the API too): its
    # deltas and completion land anywhere among the response's events on a busy machine
    response_kinds = [k for k in kinds[kinds.index("response.created"):] if k not in DELTAS
                      and not k.startswith("conversation.item.input_audio_transcription.")]
    assert response_kinds == AUDIO_RESPONSE
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["status_details"] is None
    pcm = _audio_of(events, done["id"])
    assert 3000 <= bytes_to_ms(len(pcm)) <= 6500
    transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    words = "".join(e["delta"] for e in events
                    if e["type"] == "response.output_audio_transcript.delta")
    assert words == transcript["transcript"]
    match = re.match(r"Turn 1\. You spoke for (\d+\.\d) seconds\.", words)
    assert match, words
    assert 1.5 < float(match.group(1)) < total_ms / 1000
    assert all("obfuscation" in e for e in events
               if e["type"] == "response.output_audio_transcript.delta")
    part = next(e for e in events if e["type"] == "response.content_part.added")["part"]
    assert part == {"type": "audio", "transcript": ""}
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": words}]
    usage = done["usage"]
    assert usage["output_token_details"]["audio_tokens"] == -(-int(bytes_to_ms(len(pcm))) // 50)
    assert usage["input_token_details"]["audio_tokens"] > 20
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert transcription["item_id"] == item_id
    assert re.fullmatch(r"\[speech, \d+\.\d s\]", transcription["transcript"])
    # asynchronous, as on the service: deltas then completed, after the response was created,
    # billed by the transcription model (whisper-1: by duration)
    assert everything.index("response.created") < everything.index(
        "conversation.item.input_audio_transcription.delta") < everything.index(
        "conversation.item.input_audio_transcription.completed")
    deltas = [e["delta"] for e in rt.events
              if e["type"] == "conversation.item.input_audio_transcription.delta"]
    assert "".join(deltas) == transcription["transcript"] and len(deltas) > 1
    committed_ms = stopped["audio_end_ms"] - started["audio_start_ms"]
    assert transcription["usage"] == {"type": "duration", "seconds": committed_ms / 1000}
    # rate_limits.updated follows response.done; audio deltas are padded like transcript ones
    assert rt.events[rt.events.index(events[-1]) + 1] is limits
    assert all(e.get("obfuscation") for e in events if e["type"] in DELTAS)


async def test_second_turn_bills_the_first_as_cached_input(
    srv: RunningServer, hello_pcm: bytes
) -> None:
    async with client(srv.url) as rt:
        await rt.append_audio(hello_pcm)
        first = (await rt.wait_for("response.done"))["response"]["usage"]
        await rt.append_audio(hello_pcm)
        second = await rt.wait_for("response.done")
    usage = second["response"]["usage"]
    cached = usage["input_token_details"]["cached_tokens"]
    # the first reply's audio is re-billed as audio; its transcript is not billed again
    assert cached == first["input_tokens"] + first["output_token_details"]["audio_tokens"]
    assert usage["input_tokens"] > cached
    assert usage["input_token_details"]["cached_tokens_details"]["audio_tokens"] > 0
    assert "Turn 2." in second["response"]["output"][0]["content"][0]["transcript"]


async def test_barge_in_cancels_the_running_response(
    serve: ServerFactory, hello_pcm: bytes
) -> None:
    async with serve(pace=3.0) as srv, client(srv.url) as rt:
        await rt.append_audio(hello_pcm)
        first_delta = await rt.wait_for("response.output_audio.delta")
        response_id = first_delta["response_id"]
        mark = len(rt.events)
        await rt.append_audio(utterance("Wait, stop please.", 600))
        done = await rt.wait_for("response.done")
        second = await rt.wait_for("response.done")
    after = rt.events[mark:]
    kinds = [e["type"] for e in after]
    assert done["response"]["id"] == response_id
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index("response.done")
    for closing in AUDIO_RESPONSE[4:]:
        assert closing in kinds
    end = kinds.index("response.done")
    assert not [e for e in after[end + 1:] if e.get("response_id") == response_id]
    heard = bytes_to_ms(len(_audio_of(rt.events, response_id)))
    assert 0 < heard < 3000
    item = done["response"]["output"][0]
    assert item["status"] == "incomplete"
    assert second["response"]["status"] == "completed"


async def test_response_cancel_and_cancel_without_response(serve: ServerFactory) -> None:
    async with serve(pace=1.0) as srv, client(srv.url) as rt:
        await rt.send(NO_VAD)
        await rt.send(_user_text("hello"))
        await rt.send({"type": "response.create"})
        await rt.wait_for("response.output_audio.delta")
        busy_id = await rt.send({"type": "response.create"})
        busy = await rt.error()
        await rt.send({"type": "response.cancel"})
        done = await rt.wait_for("response.done")
        cancel_id = await rt.send({"type": "response.cancel"})
        idle = await rt.error()
    assert busy["code"] == "conversation_already_has_active_response"
    assert busy["event_id"] == busy_id
    assert done["response"]["status_details"] == {"type": "cancelled",
                                                  "reason": "client_cancelled"}
    assert idle["code"] == "response_cancel_not_active"
    assert idle["event_id"] == cancel_id


async def test_text_modality_streams_output_text(srv: RunningServer) -> None:
    async with client(srv.url) as rt:
        await rt.send({"type": "session.update",
                       "session": {"type": "realtime", "output_modalities": ["text"]}})
        await rt.send(_user_text("tell me a story about tests"))
        await rt.send({"type": "response.create"})
        events = await rt.collect_until("response.done")
    kinds = [e["type"] for e in events]
    assert "response.output_audio.delta" not in kinds
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert text == done["text"] == 'Turn 1. You wrote: "tell me a story about tests". This is rt serve.'
    part = next(e for e in events if e["type"] == "response.content_part.added")["part"]
    assert part["type"] == "text"
    assert events[-1]["response"]["usage"]["output_token_details"]["audio_tokens"] == 0


async def test_manual_commit_and_commit_errors(srv: RunningServer) -> None:
    async with client(srv.url) as rt:
        await rt.send(NO_VAD)
        await rt.append_audio(silence(50))
        commit_id = await rt.send({"type": "input_audio_buffer.commit"})
        error = await rt.error()
        await rt.send({"type": "input_audio_buffer.clear"})
        await rt.wait_for("input_audio_buffer.cleared")
        await rt.append_audio(silence(1000))
        await rt.send({"type": "input_audio_buffer.commit"})
        committed = await rt.wait_for("input_audio_buffer.committed")
        await rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        done = await rt.wait_for("response.output_text.done")
        bad = await _bad_append(rt)
    assert error["code"] == "input_audio_buffer_commit_empty"
    assert error["event_id"] == commit_id
    assert "buffer only has 50.00ms of audio" in error["message"]
    assert committed["previous_item_id"] is None
    assert "You sent 1.0 seconds of audio" in done["text"]
    assert "input_audio_buffer.speech_started" not in rt.types()
    assert bad["code"] == "invalid_value" and bad["param"] == "audio"


async def _bad_append(rt: RtClient) -> Event:
    await rt.send({"type": "input_audio_buffer.append", "audio": "not base64!"})
    return await rt.error()


async def test_semantic_vad_ends_turns_after_its_eagerness_silence(srv: RunningServer) -> None:
    async with client(srv.url) as rt:
        await rt.send({"type": "session.update", "session": {"type": "realtime", "audio": {
            "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}}})
        await rt.append_audio(utterance("Is the semantic detector working?", 700))
        started = await rt.wait_for("input_audio_buffer.speech_started")
        stopped = await rt.wait_for("input_audio_buffer.speech_stopped")
        await rt.wait_for("response.done")
    assert stopped["audio_end_ms"] - started["audio_start_ms"] > 1000


async def test_idle_timeout_commits_and_nudges(srv: RunningServer) -> None:
    async with client(srv.url) as rt:
        await rt.send({"type": "session.update", "session": {
            "type": "realtime", "output_modalities": ["text"], "audio": {"input": {
                "turn_detection": {"type": "server_vad", "idle_timeout_ms": 300}}}}})
        await rt.send(_user_text("hi"))
        await rt.send({"type": "response.create"})
        await rt.wait_for("response.done")
        timeout = await rt.wait_for("input_audio_buffer.timeout_triggered", within=5)
        committed = await rt.wait_for("input_audio_buffer.committed")
        nudge = await rt.wait_for("response.output_text.done")
    assert committed["item_id"] == timeout["item_id"]
    assert nudge["text"] == "Turn 2. I have heard nothing for 0.3 seconds."


async def test_without_interrupt_response_speech_does_not_cancel(
    serve: ServerFactory, hello_pcm: bytes
) -> None:
    async with serve(pace=3.0) as srv, client(srv.url) as rt:
        await rt.send({"type": "session.update", "session": {"type": "realtime", "audio": {
            "input": {"turn_detection": {"type": "server_vad", "interrupt_response": False}}}}})
        await rt.append_audio(hello_pcm)
        first = await rt.wait_for("input_audio_buffer.speech_stopped")
        await rt.wait_for("response.output_audio.delta")
        await rt.append_audio(utterance("Still talking here.", 600))
        second = await rt.wait_for("input_audio_buffer.committed")
        done = await rt.wait_for("response.done")
    assert done["response"]["status"] == "completed"
    assert rt.types().count("response.created") == 1
    started = [e for e in rt.events if e["type"] == "input_audio_buffer.speech_started"]
    assert started[1]["audio_start_ms"] >= first["audio_end_ms"]
    assert second["previous_item_id"] == done["response"]["output"][0]["id"]


async def test_without_create_response_vad_only_commits(
    srv: RunningServer, hello_pcm: bytes
) -> None:
    async with client(srv.url) as rt:
        await rt.send({"type": "session.update", "session": {"type": "realtime", "audio": {
            "input": {"turn_detection": {"type": "server_vad", "create_response": False}}}}})
        await rt.append_audio(hello_pcm)
        await rt.wait_for("input_audio_buffer.committed")
        await rt.send({"type": "input_audio_buffer.clear"})
        await rt.wait_for("input_audio_buffer.cleared")
    assert "response.created" not in rt.types()


async def test_script_lines_are_spoken_in_order(serve: ServerFactory) -> None:
    async with serve(script=("First scripted line.", "Second one.")) as srv, \
            client(srv.url) as rt:
        await rt.send(NO_VAD)
        transcripts = []
        for _ in range(3):
            await rt.send({"type": "response.create"})
            done = await rt.wait_for("response.output_audio_transcript.done")
            await rt.wait_for("response.done")
            transcripts.append(done["transcript"])
    assert transcripts == ["First scripted line.", "Second one.", "First scripted line."]
