"""The input transcription's own usage is read from its `completed` event: tokens for the
gpt-4o-transcribe family, seconds for duration-billed models (the SDK's two `Usage` variants);
an absent or unreadable usage is None and never makes the event malformed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from realtime_cli.protocol import events as ev
from realtime_cli.protocol import openai_ga as codec
from realtime_cli.usage import TokenUsage, TranscriptionUsage


def completed(**extra: Any) -> ev.ServerEvent:
    return codec.decode(json.dumps({
        "type": "conversation.item.input_audio_transcription.completed", "event_id": "e",
        "item_id": "item_U1", "content_index": 0, "transcript": "Hi", **extra}))


def test_token_usage_as_gpt_4o_transcribe_reports_it() -> None:
    event = completed(usage={"type": "tokens", "total_tokens": 26, "input_tokens": 17,
                             "input_token_details": {"text_tokens": 0, "audio_tokens": 17},
                             "output_tokens": 9})
    assert event == ev.InputTranscriptionCompleted(
        item_id="item_U1", transcript="Hi", usage=TranscriptionUsage(tokens=TokenUsage(
            input_tokens=17, output_tokens=9, input_audio_tokens=17)))


def test_duration_usage_as_whisper_reports_it() -> None:
    event = completed(usage={"type": "duration", "seconds": 1.3})
    assert isinstance(event, ev.InputTranscriptionCompleted)
    assert event.usage == TranscriptionUsage(seconds=1.3)


@pytest.mark.parametrize("usage", [None, "x", {"type": "duration", "seconds": "long"},
                                   {"type": "duration", "seconds": float("inf")},
                                   {"type": "later"}, [1, 2]])
def test_missing_or_odd_usage_is_none(usage: Any) -> None:
    event = completed() if usage is None else completed(usage=usage)
    assert isinstance(event, ev.InputTranscriptionCompleted)
    assert event.usage is None and event.transcript == "Hi"


@pytest.mark.parametrize("model", ["gpt-4o-mini-transcribe", "whisper-1"])
def test_what_rt_serve_reports_is_read(model: str) -> None:
    from realtime_cli.server.usage import transcription_usage

    event = completed(usage=transcription_usage(model, 1500.0, "Hello there"))
    assert isinstance(event, ev.InputTranscriptionCompleted) and event.usage is not None
    if model == "whisper-1":
        assert event.usage == TranscriptionUsage(seconds=1.5)
    else:
        assert event.usage.seconds == 0.0 and event.usage.tokens.input_audio_tokens > 0
        assert event.usage.tokens.output_tokens > 0
