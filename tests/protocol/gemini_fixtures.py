"""Gemini Live server messages as the service sends them (camelCase JSON), for the codec's unit
tests and its conformance test: every message here is checked against google-genai's Live types
(tests/protocol/test_gemini_conformance.py), so the codec is tested on messages the service can
send. Shapes follow the API reference and published logs (docs/protocol.md#gemini-live)."""

from __future__ import annotations

import json
from typing import Any

from realtime_cli.protocol.audio_format import b64encode_pcm

Message = dict[str, Any]
PCM_MIME = "audio/pcm;rate=24000"


def frame(message: Message) -> str:
    return json.dumps(message)


def setup_complete() -> Message:
    return {"setupComplete": {}}


def audio(pcm: bytes) -> Message:
    return {"serverContent": {"modelTurn": {"parts": [
        {"inlineData": {"mimeType": PCM_MIME, "data": b64encode_pcm(pcm)}}]}}}


def text(words: str, *, thought: bool = False) -> Message:
    part: Message = {"text": words}
    if thought:
        part["thought"] = True
    return {"serverContent": {"modelTurn": {"parts": [part]}}}


def said(words: str) -> Message:
    return {"serverContent": {"outputTranscription": {"text": words}}}


def heard(words: str, *, finished: bool | None = None) -> Message:
    transcription: Message = {"text": words}
    if finished is not None:
        transcription["finished"] = finished
    return {"serverContent": {"inputTranscription": transcription}}


def generation_complete() -> Message:
    return {"serverContent": {"generationComplete": True}}


def interrupted() -> Message:
    return {"serverContent": {"interrupted": True}}


def usage_metadata(prompt_text: int = 0, prompt_audio: int = 0, response_audio: int = 0,
                   response_text: int = 0, thoughts: int = 0) -> Message:
    """A turn's usage as the service reports it (one published report had 25 prompt tokens in no
    modality; here the details add up unless a test says otherwise)."""
    prompt = prompt_text + prompt_audio
    response = response_audio + response_text
    out: Message = {"promptTokenCount": prompt, "responseTokenCount": response,
                    "totalTokenCount": prompt + response + thoughts}
    out["promptTokensDetails"] = [d for d in (
        {"modality": "TEXT", "tokenCount": prompt_text},
        {"modality": "AUDIO", "tokenCount": prompt_audio}) if d["tokenCount"]]
    out["responseTokensDetails"] = [d for d in (
        {"modality": "TEXT", "tokenCount": response_text},
        {"modality": "AUDIO", "tokenCount": response_audio}) if d["tokenCount"]]
    if thoughts:
        out["thoughtsTokenCount"] = thoughts
    return out


def turn_complete(usage: Message | None = None) -> Message:
    """`turnComplete`, with the turn's `usageMetadata` in the same message, as logged."""
    out: Message = {"serverContent": {"turnComplete": True}}
    if usage is not None:
        out["usageMetadata"] = usage
    return out


def tool_call(*calls: tuple[str, str, dict[str, Any]]) -> Message:
    return {"toolCall": {"functionCalls": [{"id": i, "name": n, "args": a} for i, n, a in calls]}}


def tool_call_cancellation(*ids: str) -> Message:
    return {"toolCallCancellation": {"ids": list(ids)}}


def go_away(time_left: str) -> Message:
    return {"goAway": {"timeLeft": time_left}}


def resumption(handle: str, *, resumable: bool = True) -> Message:
    if not resumable:
        return {"sessionResumptionUpdate": {"resumable": False}}
    return {"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}}


def voice_activity(kind: str, offset: str | None = None) -> Message:
    """The wire names the kind `type` (the SDK's `_VoiceActivity_from_mldev`)."""
    activity: Message = {"type": kind}
    if offset is not None:
        activity["audioOffset"] = offset
    return {"voiceActivity": activity}


ALL: dict[str, Message] = {
    "setupComplete": setup_complete(),
    "audio": audio(b"\x01\x00" * 240),
    "text": text("Hello."),
    "thought": text("thinking", thought=True),
    "outputTranscription": said("Hello."),
    "inputTranscription": heard("Hi there", finished=True),
    "generationComplete": generation_complete(),
    "interrupted": interrupted(),
    "turnComplete": turn_complete(usage_metadata(10, 20, 30, 0, 5)),
    "toolCall": tool_call(("call-1", "get_time", {"tz": "UTC"})),
    "toolCallCancellation": tool_call_cancellation("call-1"),
    "goAway": go_away("12.5s"),
    "sessionResumptionUpdate": resumption("handle-1"),
    "notResumable": resumption("", resumable=False),
    "voiceActivityStart": voice_activity("ACTIVITY_START", "1.5s"),
    "voiceActivityEnd": voice_activity("ACTIVITY_END"),
}
"""One of each server message the codec reads."""
