"""Pure parts of `rt serve`: turn detector, input buffer, usage, replies, response faults,
speech fallback."""

from __future__ import annotations

import asyncio

import pytest

from realtime_cli.audio.pcm import silence
from realtime_cli.errors import ConfigError
from realtime_cli.server.input_buffer import InputBuffer
from realtime_cli.server.item_store import StoredItem
from realtime_cli.server.replies import (
    Call,
    ReplyWriter,
    Say,
    TurnInput,
    arguments_for,
    choose_tool,
)
from realtime_cli.server.response_faults import ResponseFault, fault_for
from realtime_cli.server.session_config import default_session, turn_settings
from realtime_cli.server.speech import SpeechEngine, synthetic_voice
from realtime_cli.server.usage import (
    MS_PER_USER_AUDIO_TOKEN,
    UsageLedger,
    audio_tokens,
    text_tokens,
    transcription_usage,
)
from realtime_cli.server.vad import SileroProbe, SpeechStarted, SpeechStopped, TurnDetector

from .rtclient import speech_pcm


def _detector(**td: object) -> TurnDetector:
    session = default_session(session_id="s", model="m", expires_at=0)
    session["audio"]["input"]["turn_detection"].update(td)
    settings = turn_settings(session)
    assert settings is not None
    return TurnDetector(settings)


def test_detector_pads_the_start_and_waits_for_the_silence() -> None:
    detector = _detector(prefix_padding_ms=100, silence_duration_ms=96)
    probs = [0.1] * 10 + [0.9] * 20 + [0.1] * 5
    events = [(i, e) for i, p in enumerate(probs)
              if (e := detector.on_window(i * 32, i * 32 + 32, p)) is not None]
    assert events == [(10, SpeechStarted(320 - 100)), (32, SpeechStopped(32 * 33))]


def test_detector_hysteresis_keeps_speech_through_dips() -> None:
    detector = _detector(threshold=0.5, silence_duration_ms=64)
    assert detector.on_window(0, 32, 0.6) == SpeechStarted(0)
    assert [detector.on_window(i * 32, i * 32 + 32, 0.4) for i in range(1, 5)] == [None] * 4
    assert detector.speaking


def test_silero_hears_espeak_speech_and_not_silence() -> None:
    probe = SileroProbe()
    quiet = [p for _, _, p in probe.score(silence(1000))]
    loud = [p for _, _, p in probe.score(speech_pcm("Testing one two three."))]
    assert max(quiet) < 0.2 and max(loud) > 0.8
    assert 29 <= len(quiet) <= 31  # 1 s = 31.25 windows of 32 ms, minus the resampler delay


def test_input_buffer_keeps_the_timeline() -> None:
    buffer = InputBuffer()
    buffer.append(silence(1000))
    assert len(buffer.take(200, 500)) == 300 * 48
    assert buffer.start_ms == 500 and buffer.end_ms == 1000
    buffer.trim(keep_ms=100)
    assert buffer.start_ms == 900 and buffer.duration_ms == 100


def test_usage_rules_and_cache_prefix() -> None:
    # the costs guide: assistant audio 1 token per 50 ms, user audio 1 per 100 ms
    assert (audio_tokens(1000), audio_tokens(1), text_tokens("abcde"), text_tokens("")) == (
        20, 1, 2, 0)
    assert (audio_tokens(1000, MS_PER_USER_AUDIO_TOKEN), audio_tokens(1, MS_PER_USER_AUDIO_TOKEN)) == (
        10, 1)
    ledger = UsageLedger()
    first = StoredItem({"id": "a", "type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": "x" * 40}]})
    second = StoredItem({"id": "b", "type": "message", "role": "user",
                         "content": [{"type": "input_audio", "transcript": None}]},
                        {0: silence(1000)})
    total, cached = ledger.input_usage("abcd", [first])
    assert (total.text, cached.total) == (11, 0)
    total, cached = ledger.input_usage("abcd", [first, second])
    assert (total.text, total.audio, cached.text, cached.audio) == (11, 10, 11, 0)
    _, cached = ledger.input_usage("changed", [first, second])
    assert cached.total == 0


def test_replies_say_true_things_and_script_cycles() -> None:
    writer = ReplyWriter()
    assert writer.text_for(3, TurnInput("speech", seconds=1.44)) == (
        "Turn 3. You spoke for 1.4 seconds. This is rt serve.")
    scripted = ReplyWriter(("one", "", "two"))
    said = [scripted.outputs_for(n, TurnInput("none"), None, []) for n in range(3)]
    assert said == [[Say("one")], [Say("two")], [Say("one")]]


def test_a_script_line_holds_several_items_and_the_preamble_leads_user_turns() -> None:
    tool = {"type": "function", "name": "get_time", "parameters": {
        "type": "object", "properties": {"zone": {"type": "string"}}}}
    writer = ReplyWriter(('One moment. || call:get_time {"zone": "CET"}', "call:get_time"),
                         preamble="Let me see.")
    speech = TurnInput("speech", seconds=1.0)
    assert writer.outputs_for(1, speech, None, [tool]) == [
        Say("Let me see."), Say("One moment."), Call(tool, '{"zone": "CET"}')]
    assert writer.outputs_for(2, TurnInput("tool_output", text="12:00"), None, [tool]) == [
        Call(tool, '{"zone": ""}')]  # no preamble before the answer to a tool's output
    assert writer.outputs_for(3, speech, tool, [tool]) == [
        Say("Let me see."), Call(tool, '{"zone": ""}')]


def test_transcription_usage_is_the_transcription_models_own() -> None:
    assert transcription_usage("whisper-1", 1500, "hello there") == {
        "type": "duration", "seconds": 1.5}
    assert transcription_usage("gpt-4o-mini-transcribe", 1500, "hello there") == {
        "type": "tokens", "input_tokens": 15, "output_tokens": 3, "total_tokens": 18,
        "input_token_details": {"text_tokens": 0, "audio_tokens": 15}}


def test_response_fault_specs() -> None:
    assert ResponseFault.parse("rate_limit:2") == ResponseFault("rate_limit", 2)
    assert ResponseFault.parse("content_filter") == ResponseFault("content_filter")
    for bad in ("nope", "rate_limit:0", "rate_limit:x"):
        with pytest.raises(ConfigError):
            ResponseFault.parse(bad)
    faults = (ResponseFault("server_error", 2), ResponseFault("content_filter"))
    assert [fault_for(faults, n) for n in (1, 2)] == [faults[1], faults[0]]


def test_tool_choice_rules() -> None:
    tool = {"type": "function", "name": "get_time", "parameters": {
        "type": "object", "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]},
                                         "n": {"type": "integer"}}}}
    says = TurnInput("text", text="what does get time say")
    assert choose_tool([tool], "auto", None, says) == tool
    assert choose_tool([tool], "none", None, says) is None
    assert choose_tool([tool], "auto", None, TurnInput("text", text="hello")) is None
    assert choose_tool([tool], "required", None, TurnInput("text", text="hello")) == tool
    assert choose_tool([], "auto", "forced", TurnInput("speech")) == {
        "type": "function", "name": "forced"}
    assert choose_tool([tool], "auto", "get_time", TurnInput("tool_output")) is None
    assert arguments_for(tool, says) == '{"zone": "UTC", "n": 0}'


def test_missing_espeak_is_reported_once_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("realtime_cli.server.speech.shutil.which", lambda name: None)
    lines: list[str] = []
    engine = SpeechEngine("auto", warn=lines.append)
    pcm = asyncio.run(engine.synthesize("Hello there friend."))
    asyncio.run(engine.synthesize("Again."))
    assert engine.name == "synthetic" and len(lines) == 1 and "espeak-ng" in lines[0]
    assert pcm == synthetic_voice("Hello there friend.") and len(pcm) > 24_000
