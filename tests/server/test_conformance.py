"""Every kind of event `rt serve` sends validates against the `openai` package's GA models.

`RtClient` checks each received event with `conformance.validate_server_event` (a
`{type: model}` map built from `openai.types.realtime.RealtimeServerEvent`, `model_validate`,
plus an unknown-key check that allows only what the real service adds: `obfuscation` and the
session's `object`/`id`/`expires_at`). This scenario makes the server emit every event type it
can, so the whole vocabulary is covered in one run.
"""

from __future__ import annotations

import json

from conformance import SERVER_EVENT_MODELS

from realtime_cli.audio.pcm import silence
from realtime_cli.server import RunningServer

from .rtclient import Event, RtClient, client

EMITTED = {
    "session.created", "session.updated", "error", "rate_limits.updated",
    "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed", "input_audio_buffer.cleared",
    "input_audio_buffer.timeout_triggered",
    "conversation.item.added", "conversation.item.done", "conversation.item.retrieved",
    "conversation.item.deleted", "conversation.item.truncated",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.completed",
    "response.created", "response.done", "response.output_item.added",
    "response.output_item.done", "response.content_part.added", "response.content_part.done",
    "response.output_audio.delta", "response.output_audio.done",
    "response.output_audio_transcript.delta", "response.output_audio_transcript.done",
    "response.output_text.delta", "response.output_text.done",
    "response.function_call_arguments.delta", "response.function_call_arguments.done",
}
TOOL = {"type": "function", "name": "get_weather", "description": "Weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def _text(text: str, **extra: object) -> Event:
    return {"type": "conversation.item.create", **extra, "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


async def _respond(rt: RtClient, response: Event | None = None) -> Event:
    await rt.send({"type": "response.create", **({"response": response} if response else {})})
    return (await rt.wait_for("response.done"))["response"]  # type: ignore[no-any-return]


async def test_every_emitted_event_type_validates(srv: RunningServer, hello_pcm: bytes) -> None:
    assert EMITTED <= set(SERVER_EVENT_MODELS)
    async with client(srv.url) as rt:
        await rt.send({"type": "session.update", "session": {
            "type": "realtime", "tools": [TOOL],
            "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}}})
        await rt.append_audio(hello_pcm)
        spoken = (await rt.wait_for("response.done"))["response"]
        user_id = (await rt.find("conversation.item.input_audio_transcription.completed"))[
            "item_id"]
        await rt.send({"type": "conversation.item.truncate", "item_id": spoken["output"][0]["id"],
                       "content_index": 0, "audio_end_ms": 500})
        await rt.wait_for("conversation.item.truncated")
        await rt.send({"type": "conversation.item.retrieve", "item_id": user_id})
        retrieved = (await rt.wait_for("conversation.item.retrieved"))["item"]
        assert retrieved["content"][0]["audio"]

        await rt.send(_text("call get_weather for Oslo"))
        call = await _respond(rt)
        call_id = call["output"][0]["call_id"]
        await rt.send({"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": call_id, "output": json.dumps("sunny")}})
        texted = await _respond(rt, {"output_modalities": ["text"]})
        assert texted["output"][0]["content"][0]["text"].startswith("Turn 3. The get_weather")

        mark = len(rt.events)
        side = await _respond(rt, {"conversation": "none", "output_modalities": ["text"],
                                   "metadata": {"purpose": "side"},
                                   "input": [{"type": "item_reference", "id": user_id}]})
        assert side["conversation_id"] is None and side["metadata"] == {"purpose": "side"}
        assert "conversation.item.added" not in rt.types(mark)

        await rt.send({"type": "conversation.item.delete", "item_id": call["output"][0]["id"]})
        await rt.wait_for("conversation.item.deleted")
        await rt.append_audio(silence(200))
        await rt.send({"type": "input_audio_buffer.clear"})
        await rt.wait_for("input_audio_buffer.cleared")
        await rt.send({"type": "no.such.event"})
        await rt.error()

        await rt.send({"type": "session.update", "session": {"type": "realtime", "audio": {
            "input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 200}}}}})
        short = await _respond(rt, {"max_output_tokens": 5, "output_modalities": ["text"]})
        assert short["status"] == "incomplete"
        assert short["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
        await rt.wait_for("input_audio_buffer.timeout_triggered", within=5)
        await rt.wait_for("response.done")
    assert set(rt.types()) == EMITTED
