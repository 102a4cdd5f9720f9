"""The Gemini Live codec: each mapping of docs/protocol.md#gemini-live, both directions, with the
state the codec keeps for its connection; then a whole scripted exchange decoded into the exact
list of rt events, and the session core driven by them."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from helpers import records, sends

from protocol import gemini_fixtures as fx
from protocol.gemini_sdk import validate_client_json
from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.config import SessionConfig, ToolSpec
from realtime_cli.core.records import InterruptionRecord, ItemKind, ItemRecord, TurnRecord
from realtime_cli.core.session import SessionCore
from realtime_cli.core.states import SessionState
from realtime_cli.protocol import events as ev
from realtime_cli.protocol.gemini_live import (
    INPUT_MIME,
    GeminiLiveCodec,
    activity_detection,
    parse_duration,
    usage,
)
from realtime_cli.usage import TokenUsage

GET_TIME = ToolSpec(name="get_time", description="The time now.",
                    parameters={"type": "object", "properties": {"tz": {"type": "string"}}})


def config(**changes: Any) -> SessionConfig:
    base: dict[str, Any] = {"provider": "gemini", "model": "gemini-3.8-live", "voice": "Puck"}
    return SessionConfig(**(base | changes))


def codec(cfg: SessionConfig | None = None, *, handle: str | None = None) -> GeminiLiveCodec:
    """A codec whose setup went out (as the core sends it first on every connection)."""
    cfg = cfg or config()
    c = GeminiLiveCodec(cfg, prefix="c")
    c.encode(ev.SessionUpdate(session=cfg.session_payload(), resume_handle=handle))
    return c


def wire(c: GeminiLiveCodec, event: ev.ClientEvent) -> list[dict[str, Any]]:
    """The messages `event` becomes, each checked against google-genai's Live types."""
    frames = c.encode(event)
    for f in frames:
        validate_client_json(f)
    return [json.loads(f) for f in frames]


def read(c: GeminiLiveCodec, *messages: dict[str, Any]) -> list[ev.ServerEvent]:
    return [e for m in messages for e in c.decode(fx.frame(m))]


def pcm(ms: int, value: int = 1000) -> bytes:
    return value.to_bytes(2, "little", signed=True) * (24 * ms)


def setup_of(cfg: SessionConfig, handle: str | None = None) -> dict[str, Any]:
    c = GeminiLiveCodec(cfg, prefix="c")
    [message] = wire(c, ev.SessionUpdate(session=cfg.session_payload(), resume_handle=handle))
    setup: dict[str, Any] = message["setup"]
    return setup


# --------------------------------------------------------------------------- setup


def test_setup_carries_the_whole_session_configuration() -> None:
    setup = setup_of(config(instructions="Be brief.", tools=(GET_TIME,), voice="Kore"))
    assert setup["model"] == "models/gemini-3.8-live"
    assert setup["generationConfig"] == {
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}}
    assert setup["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    [tools] = setup["tools"]
    assert tools["functionDeclarations"] == [
        {"name": "get_time", "behavior": "BLOCKING", "description": "The time now.",
         "parametersJsonSchema": GET_TIME.parameters},
        {"name": "end_conversation", "behavior": "BLOCKING",
         "description": config().all_tools()[-1].description,
         "parametersJsonSchema": config().all_tools()[-1].parameters}]
    assert setup["realtimeInputConfig"] == {"automaticActivityDetection": {
        "disabled": False, "prefixPaddingMs": 300, "silenceDurationMs": 500}}
    assert setup["inputAudioTranscription"] == {}
    assert setup["outputAudioTranscription"] == {}
    assert setup["sessionResumption"] == {}
    assert setup["contextWindowCompression"] == {"slidingWindow": {}}


def test_setup_names_the_resumption_handle_and_a_model_given_as_a_resource() -> None:
    setup = setup_of(config(model="models/gemini-3.1-flash-live-preview"), handle="h-7")
    assert setup["model"] == "models/gemini-3.1-flash-live-preview"
    assert setup["sessionResumption"] == {"handle": "h-7"}


def test_text_output_has_no_voice_nor_output_transcription() -> None:
    setup = setup_of(config(output_modalities=("text",), transcription_model=None,
                            builtin_end_tool=False, max_output_tokens=200))
    assert setup["generationConfig"] == {"responseModalities": ["TEXT"], "maxOutputTokens": 200}
    assert "outputAudioTranscription" not in setup
    assert "inputAudioTranscription" not in setup
    assert "tools" not in setup


def test_push_to_talk_disables_activity_detection() -> None:
    setup = setup_of(config(turn_detection="none"))
    assert setup["realtimeInputConfig"] == {"automaticActivityDetection": {"disabled": True}}


@pytest.mark.parametrize(("threshold", "eagerness", "start", "end"), [
    (0.3, "auto", "START_SENSITIVITY_HIGH", "END_SENSITIVITY_HIGH"),
    (0.8, "auto", "START_SENSITIVITY_LOW", "END_SENSITIVITY_LOW"),
    (0.5, "high", "START_SENSITIVITY_HIGH", "END_SENSITIVITY_HIGH"),
    (0.5, "low", "START_SENSITIVITY_LOW", "END_SENSITIVITY_LOW"),
])
def test_threshold_and_eagerness_become_sensitivities(threshold: float, eagerness: str,
                                                      start: str, end: str) -> None:
    detection = activity_detection({"threshold": threshold, "eagerness": eagerness})
    assert detection["automaticActivityDetection"]["startOfSpeechSensitivity"] == start
    assert detection["automaticActivityDetection"]["endOfSpeechSensitivity"] == end


def test_semantic_vad_with_auto_eagerness_leaves_the_sensitivities_to_the_service() -> None:
    setup = setup_of(config(turn_detection="semantic_vad"))
    assert setup["realtimeInputConfig"] == {"automaticActivityDetection": {"disabled": False}}


def test_barge_in_off_keeps_the_model_talking_over_the_user() -> None:
    setup = setup_of(config(barge_in=False))
    assert setup["realtimeInputConfig"]["activityHandling"] == "NO_INTERRUPTION"


def test_the_configuration_goes_out_once_per_connection() -> None:
    c = codec()
    assert c.encode(ev.SessionUpdate(session=config().session_payload())) == []


def test_setup_complete_says_whether_the_service_kept_the_session() -> None:
    assert read(codec(), fx.setup_complete()) == [ev.SessionUpdated(session={}, resumed=False)]
    assert read(codec(handle="h"), fx.setup_complete()) == [
        ev.SessionUpdated(session={}, resumed=True)]


def test_the_session_counts_as_created_when_the_connection_opens() -> None:
    assert GeminiLiveCodec(config()).opened() == [
        ev.SessionCreated(session_id=None, expires_at=None, session={})]


# --------------------------------------------------------------------------- client messages


def test_microphone_audio_goes_at_24_khz_and_is_counted() -> None:
    c = codec()
    [message] = wire(c, ev.InputAudioBufferAppend(audio=pcm(20)))
    blob = message["realtimeInput"]["audio"]
    assert blob["mimeType"] == INPUT_MIME == "audio/pcm;rate=24000"
    assert base64.b64decode(blob["data"]) == pcm(20)
    wire(c, ev.InputAudioBufferAppend(audio=pcm(30)))
    assert c.sent_ms == 50


def test_push_to_talk_marks_the_turn_with_activity_start_and_end() -> None:
    c = codec(config(turn_detection="none"))
    assert wire(c, ev.InputAudioBufferClear()) == [{"realtimeInput": {"activityStart": {}}}]
    assert wire(c, ev.InputAudioBufferClear()) == []  # too short or paused: the turn stays open
    wire(c, ev.InputAudioBufferAppend(audio=pcm(200)))
    assert wire(c, ev.InputAudioBufferCommit()) == [{"realtimeInput": {"activityEnd": {}}}]
    assert wire(c, ev.ResponseCreate()) == []  # activityEnd asks for the answer itself
    # The user's item exists from the end of the turn: the next frame carries it first.
    out = read(c, fx.heard("hello"))
    assert out == [ev.InputAudioBufferCommitted(item_id="c_user_1"),
                   ev.InputTranscriptionDelta(item_id="c_user_1", delta="hello")]


def test_with_activity_detection_clear_and_commit_send_nothing() -> None:
    c = codec()
    assert wire(c, ev.InputAudioBufferClear()) == []
    assert wire(c, ev.InputAudioBufferCommit()) == []


def test_a_typed_message_is_a_user_turn_then_turn_complete() -> None:
    c = codec()
    item = {"id": "l1", "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "What time is it?"}]}
    assert wire(c, ev.ConversationItemCreate(item=item)) == [{"clientContent": {
        "turns": [{"role": "user", "parts": [{"text": "What time is it?"}]}],
        "turnComplete": False}}]
    assert wire(c, ev.ResponseCreate()) == [{"clientContent": {"turnComplete": True}}]


def test_replayed_history_is_text_turns_of_user_and_model() -> None:
    c = codec()
    said = {"id": "a1", "type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": "It is noon."}]}
    call = {"id": "t1", "type": "function_call", "call_id": "old", "name": "get_time",
            "arguments": '{"tz":"UTC"}'}
    result = {"id": "r1", "type": "function_call_output", "call_id": "old", "output": "12:00"}
    turns = [m["clientContent"]["turns"][0] for item in (said, call, result)
             for m in wire(c, ev.ConversationItemCreate(item=item))]
    assert turns == [
        {"role": "model", "parts": [{"text": "It is noon."}]},
        {"role": "model", "parts": [{"text": '(called the tool get_time with {"tz":"UTC"})'}]},
        {"role": "user", "parts": [{"text": "(the tool returned 12:00)"}]}]
    empty = {"id": "e", "type": "message", "role": "user", "content": [{"type": "input_text"}]}
    assert wire(c, ev.ConversationItemCreate(item=empty)) == []


def test_a_tool_output_answers_the_call_by_id_and_name_and_the_model_goes_on() -> None:
    c = codec()
    read(c, fx.tool_call(("call-1", "get_time", {"tz": "UTC"}), ("call-2", "get_time", {})))
    item = {"id": "l2", "type": "function_call_output", "call_id": "call-1",
            "output": '{"time": "12:00"}'}
    assert wire(c, ev.ConversationItemCreate(item=item)) == [{"toolResponse": {
        "functionResponses": [{"id": "call-1", "name": "get_time",
                               "response": {"time": "12:00"}}]}}]
    plain = {"id": "l3", "type": "function_call_output", "call_id": "call-2", "output": "noon"}
    [message] = wire(c, ev.ConversationItemCreate(item=plain))
    assert message["toolResponse"]["functionResponses"][0]["response"] == {"output": "noon"}
    assert wire(c, ev.ResponseCreate()) == []


@pytest.mark.parametrize("event", [
    ev.ResponseCancel(response_id="r"),
    ev.ConversationItemTruncate(item_id="i", content_index=0, audio_end_ms=300),
    ev.ConversationItemDelete(item_id="i"),
    ev.ConversationItemRetrieve(item_id="i"),
])
def test_what_gemini_has_no_word_for_sends_nothing(event: ev.ClientEvent) -> None:
    assert codec().encode(event) == []


# --------------------------------------------------------------------------- server messages


def test_model_audio_opens_a_response_with_a_message_item() -> None:
    c = codec()
    assert read(c, fx.audio(pcm(10)), fx.audio(pcm(5))) == [
        ev.ResponseCreated(response_id="c_resp_1"),
        ev.OutputItemAdded(response_id="c_resp_1", item=ev.Item(
            id="c_item_2", type="message", role="assistant", status="in_progress")),
        ev.OutputAudioDelta(response_id="c_resp_1", item_id="c_item_2", content_index=0,
                            pcm=pcm(10)),
        ev.OutputAudioDelta(response_id="c_resp_1", item_id="c_item_2", content_index=0,
                            pcm=pcm(5))]


def test_transcripts_text_and_thoughts() -> None:
    c = codec()
    out = read(c, fx.said("Hel"), fx.text("lo."), fx.text("planning", thought=True))
    assert out[2:] == [
        ev.OutputTranscriptDelta(response_id="c_resp_1", item_id="c_item_2", delta="Hel"),
        ev.OutputTranscriptDelta(response_id="c_resp_1", item_id="c_item_2", delta="lo.")]


def test_generation_complete_ends_the_audio_and_turn_complete_the_response_with_its_usage() -> None:
    c = codec()
    read(c, fx.audio(pcm(10)), fx.said("Hi."))
    assert read(c, fx.generation_complete()) == [
        ev.OutputAudioDone(response_id="c_resp_1", item_id="c_item_2")]
    item = ev.Item(id="c_item_2", type="message", role="assistant", status="completed",
                   content=(ev.ContentPart(type="output_audio", transcript="Hi."),))
    assert read(c, fx.turn_complete(fx.usage_metadata(100, 50, 25))) == [
        ev.OutputItemDone(response_id="c_resp_1", item=item),
        ev.ResponseDone(response_id="c_resp_1", status="completed", output=(item,),
                        usage=TokenUsage(input_tokens=150, output_tokens=25,
                                         input_text_tokens=100, input_audio_tokens=50,
                                         output_audio_tokens=25))]


def test_usage_reported_apart_from_its_turn_goes_with_the_next_response() -> None:
    c = codec()
    read(c, fx.audio(pcm(10)))
    [_, done] = read(c, fx.turn_complete())
    assert isinstance(done, ev.ResponseDone) and done.usage is None
    assert read(c, {"usageMetadata": fx.usage_metadata(prompt_text=7)}) == []
    read(c, fx.audio(pcm(10)))
    [_, done] = read(c, fx.turn_complete(fx.usage_metadata(prompt_text=3)))
    assert isinstance(done, ev.ResponseDone)
    assert done.usage == TokenUsage(input_tokens=10, input_text_tokens=10)


def test_usage_counts_thinking_as_text_output_and_unsplit_prompt_tokens_as_text() -> None:
    """The published report: 522 prompt tokens, 332 text and 165 audio in its details."""
    raw = {"promptTokenCount": 522, "responseTokenCount": 42, "totalTokenCount": 564,
           "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 332},
                                   {"modality": "AUDIO", "tokenCount": 165}],
           "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 42}],
           "thoughtsTokenCount": 136, "toolUsePromptTokenCount": 8,
           "cachedContentTokenCount": 30,
           "cacheTokensDetails": [{"modality": "AUDIO", "tokenCount": 20}]}
    assert usage(raw) == TokenUsage(
        input_tokens=530, output_tokens=178, cached_tokens=30, input_text_tokens=365,
        input_audio_tokens=165, output_text_tokens=136, output_audio_tokens=42,
        cached_text_tokens=10, cached_audio_tokens=20)
    assert usage("nonsense") is None
    assert usage({}) == TokenUsage()


def test_user_speech_is_a_turn_from_its_first_words_to_the_answer() -> None:
    c = codec()
    for _ in range(150):
        c.encode(ev.InputAudioBufferAppend(audio=pcm(20)))  # 3 s sent
    assert read(c, fx.heard("What")) == [ev.SpeechStarted(audio_start_ms=1000, item_id="c_user_1")]
    assert read(c, fx.heard(" time")) == []
    assert read(c, fx.audio(pcm(10)))[:3] == [
        ev.InputAudioBufferCommitted(item_id="c_user_1"),
        ev.InputTranscriptionDelta(item_id="c_user_1", delta="What time"),
        ev.ResponseCreated(response_id="c_resp_2")]
    assert read(c, fx.heard(" is it?")) == [
        ev.InputTranscriptionDelta(item_id="c_user_1", delta=" is it?")]
    out = read(c, fx.turn_complete())
    assert out[-1] == ev.InputTranscriptionCompleted(item_id="c_user_1",
                                                     transcript="What time is it?")


def test_a_finished_transcript_ends_the_users_turn_before_the_answer() -> None:
    c = codec()
    c.encode(ev.InputAudioBufferAppend(audio=pcm(500)))
    read(c, fx.heard("Hello"))
    c.encode(ev.InputAudioBufferAppend(audio=pcm(300)))
    assert read(c, fx.heard("", finished=True)) == [
        ev.SpeechStopped(audio_end_ms=800, item_id="c_user_1"),
        ev.InputAudioBufferCommitted(item_id="c_user_1"),
        ev.InputTranscriptionDelta(item_id="c_user_1", delta="Hello"),
        ev.InputTranscriptionCompleted(item_id="c_user_1", transcript="Hello")]
    # Words after a finished transcript are a new turn.
    assert read(c, fx.heard("Again")) == [
        ev.SpeechStarted(audio_start_ms=800, item_id="c_user_2")]


def test_the_services_voice_activity_starts_and_ends_the_users_turn() -> None:
    c = codec()
    c.encode(ev.InputAudioBufferAppend(audio=pcm(3000)))
    assert read(c, fx.voice_activity("ACTIVITY_START", "1.5s")) == [
        ev.SpeechStarted(audio_start_ms=1500, item_id="c_user_1")]
    assert read(c, fx.voice_activity("ACTIVITY_END")) == [
        ev.SpeechStopped(audio_end_ms=3000, item_id="c_user_1"),
        ev.InputAudioBufferCommitted(item_id="c_user_1")]


def test_an_interruption_is_speech_over_the_model_and_its_turn_ends_cancelled() -> None:
    c = codec()
    c.encode(ev.InputAudioBufferAppend(audio=pcm(5000)))
    read(c, fx.audio(pcm(10)))
    assert read(c, fx.interrupted()) == [
        ev.SpeechStarted(audio_start_ms=3000, item_id="c_user_3")]
    out = read(c, fx.turn_complete(fx.usage_metadata(prompt_audio=40, response_audio=10)))
    item = ev.Item(id="c_item_2", type="message", role="assistant", status="incomplete",
                   content=(ev.ContentPart(type="output_audio", transcript=""),))
    assert out == [ev.OutputItemDone(response_id="c_resp_1", item=item),
                   ev.ResponseDone(response_id="c_resp_1", status="cancelled", output=(item,),
                                   usage=TokenUsage(input_tokens=40, output_tokens=10,
                                                    input_audio_tokens=40,
                                                    output_audio_tokens=10))]


def test_content_after_an_interruption_whose_turn_never_ended_starts_a_new_response() -> None:
    c = codec()
    read(c, fx.audio(pcm(10)), fx.interrupted())
    out = read(c, fx.audio(pcm(10)))
    assert [type(e) for e in out] == [ev.OutputItemDone, ev.ResponseDone, ev.InputAudioBufferCommitted,
                                      ev.ResponseCreated, ev.OutputItemAdded, ev.OutputAudioDelta]
    assert isinstance(out[1], ev.ResponseDone) and out[1].status == "cancelled"


def test_a_tool_call_is_a_function_call_item_and_ends_its_response() -> None:
    c = codec()
    out = read(c, fx.tool_call(("call-1", "get_time", {"tz": "UTC"})))
    assert out == [
        ev.ResponseCreated(response_id="c_resp_1"),
        ev.OutputItemAdded(response_id="c_resp_1", item=ev.Item(
            id="c_call_item_2", type="function_call", status="in_progress", call_id="call-1",
            name="get_time")),
        ev.FunctionCallArgumentsDone(call_id="call-1", item_id="c_call_item_2", name="get_time",
                                     arguments='{"tz":"UTC"}'),
        ev.ResponseDone(response_id="c_resp_1", status="completed")]
    assert c.tool_names == {"call-1": "get_time"}


def test_a_cancelled_tool_call_is_an_event_the_core_handles() -> None:
    c = codec()
    read(c, fx.tool_call(("call-1", "get_time", {}), ("call-2", "get_time", {})))
    assert read(c, fx.tool_call_cancellation("call-1", "call-2")) == [
        ev.ToolCallsCancelled(call_ids=("call-1", "call-2"))]
    assert read(c, fx.tool_call_cancellation()) == []  # nothing withdrawn: nothing to say
    [bad] = read(c, {"toolCallCancellation": {"ids": "call-1"}})
    assert isinstance(bad, ev.MalformedServerEvent)


def test_go_away_and_resumption_handles() -> None:
    c = codec()
    assert read(c, fx.go_away("12.5s")) == [ev.SessionExpiring(seconds_left=12.5)]
    assert read(c, fx.resumption("h-1")) == [ev.SessionResumable(handle="h-1")]
    assert read(c, fx.resumption("", resumable=False)) == []


@pytest.mark.parametrize(("text", "seconds"), [("12.5s", 12.5), ("50s", 50.0), ("0.000000001s", 1e-9)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("frame", [
    "{not json",
    "[1, 2]",
    json.dumps({"goAway": {"timeLeft": "soon"}}),
    json.dumps({"serverContent": {"modelTurn": {"parts": [{"inlineData": {
        "mimeType": "audio/pcm;rate=24000", "data": "***"}}]}}}),
    json.dumps({"serverContent": {"modelTurn": {"parts": [{"inlineData": {
        "mimeType": "audio/pcm;rate=16000", "data": "AAAA"}}]}}}),
    json.dumps({"serverContent": {"turnComplete": "yes"}}),
    json.dumps({"serverContent": "text"}),
    json.dumps({"toolCall": {"functionCalls": [{"id": "1", "name": "f", "args": [1]}]}}),
])
def test_what_the_codec_cannot_read_is_a_malformed_event(frame: str) -> None:
    [event] = codec().decode(frame)
    assert isinstance(event, ev.MalformedServerEvent)


def test_an_unknown_message_and_a_binary_frame() -> None:
    c = codec()
    assert c.decode(json.dumps({"somethingNew": {}})) == [ev.UnknownServerEvent(type="somethingNew")]
    assert c.decode(fx.frame(fx.go_away("1s")).encode()) == [ev.SessionExpiring(seconds_left=1.0)]
    [bad] = c.decode(b"\xff\xfe")
    assert isinstance(bad, ev.MalformedServerEvent)


def test_ids_never_repeat_across_connections() -> None:
    first, second = GeminiLiveCodec(config()), GeminiLiveCodec(config())
    a = read(first, fx.audio(pcm(10)))[0]
    b = read(second, fx.audio(pcm(10)))[0]
    assert isinstance(a, ev.ResponseCreated) and isinstance(b, ev.ResponseCreated)
    assert a.response_id != b.response_id


# --------------------------------------------------------------------------- a whole exchange


class Exchange:
    """A `SessionCore` whose connection speaks Gemini through the codec: every `Send` is encoded
    (and checked against google-genai's types), every server message decoded."""

    def __init__(self, cfg: SessionConfig) -> None:
        self.cfg = cfg
        self.now = 100.0
        self.core = SessionCore(cfg, session_id="s-gemini", now=self.now)
        self.codec = GeminiLiveCodec(cfg, prefix="x")
        self.sent: list[dict[str, Any]] = []
        self.log: list[cmd.Command] = []
        self.connections = 0

    def feed(self, *inputs: inp.Input) -> list[cmd.Command]:
        out: list[cmd.Command] = []
        for i in inputs:
            out.extend(self.core.handle(i))
        for event in sends(out):
            for frame in self.codec.encode(event):
                validate_client_json(frame)
                self.sent.append(json.loads(frame))
        self.log.extend(out)
        return out

    def connect(self) -> list[cmd.Command]:
        self.connections += 1
        self.codec = GeminiLiveCodec(self.cfg, prefix=f"x{self.connections}")
        out = self.feed(inp.Opened(now=self.now))
        return out + self.events(*self.codec.opened())

    def server(self, *messages: dict[str, Any]) -> list[ev.ServerEvent]:
        events = read(self.codec, *messages)
        self.events(*events)
        return events

    def events(self, *events: ev.ServerEvent) -> list[cmd.Command]:
        return self.feed(*(inp.ServerMessage(now=self.now, event=e) for e in events))

    def advance(self, s: float) -> None:
        self.now += s


def test_a_whole_conversation_through_the_codec_and_the_core() -> None:
    """setup, setupComplete, audio in, model audio, transcriptions, turnComplete with usage, a
    tool call and its response, goAway, a resumption handle, and the resumed connection."""
    x = Exchange(config(tools=(GET_TIME,)))
    x.feed(inp.Begin(now=x.now, wall=1_800_000_000.0))
    x.connect()
    assert list(x.sent[-1]) == ["setup"] and x.sent[-1]["setup"]["sessionResumption"] == {}
    assert x.server(fx.setup_complete()) == [ev.SessionUpdated(session={}, resumed=False)]
    assert x.core.state is SessionState.READY

    # The user speaks for a second; the model answers in audio with transcripts.
    for _ in range(50):
        x.feed(inp.MicAudio(now=x.now, pcm=pcm(20)))
        x.advance(0.02)
    assert x.sent[-1] == {"realtimeInput": {"audio": {"data": base64.b64encode(pcm(20)).decode(),
                                                      "mimeType": "audio/pcm;rate=24000"}}}
    events = x.server(fx.heard("What time"), fx.heard(" is it?", finished=True),
                      fx.audio(pcm(500)), fx.said("Let me check."), fx.generation_complete())
    assert events == [
        ev.SpeechStarted(audio_start_ms=0, item_id="x1_user_1"),
        ev.SpeechStopped(audio_end_ms=1000, item_id="x1_user_1"),
        ev.InputAudioBufferCommitted(item_id="x1_user_1"),
        ev.InputTranscriptionDelta(item_id="x1_user_1", delta="What time is it?"),
        ev.InputTranscriptionCompleted(item_id="x1_user_1", transcript="What time is it?"),
        ev.ResponseCreated(response_id="x1_resp_2"),
        ev.OutputItemAdded(response_id="x1_resp_2", item=ev.Item(
            id="x1_item_3", type="message", role="assistant", status="in_progress")),
        ev.OutputAudioDelta(response_id="x1_resp_2", item_id="x1_item_3", content_index=0,
                            pcm=pcm(500)),
        ev.OutputTranscriptDelta(response_id="x1_resp_2", item_id="x1_item_3",
                                 delta="Let me check."),
        ev.OutputAudioDone(response_id="x1_resp_2", item_id="x1_item_3")]
    x.feed(inp.Playback(now=x.now, item_id="x1_item_3", played_samples=24 * 500, idle=True))

    # The model calls a tool; the core runs it and the output goes back as a toolResponse.
    events = x.server(fx.tool_call(("fc-1", "get_time", {"tz": "UTC"})))
    assert [type(e) for e in events] == [ev.OutputItemAdded, ev.FunctionCallArgumentsDone,
                                         ev.OutputItemDone, ev.ResponseDone]
    [run] = [c for c in x.log if isinstance(c, cmd.RunTool)]
    assert (run.call_id, run.name, run.arguments) == ("fc-1", "get_time", '{"tz":"UTC"}')
    x.feed(inp.ToolOutput(now=x.now, call_id="fc-1", output='{"time":"12:00"}'))
    assert x.sent[-1] == {"toolResponse": {"functionResponses": [
        {"id": "fc-1", "name": "get_time", "response": {"time": "12:00"}}]}}

    # The model goes on by itself and ends its turn with the usage of the turn.
    events = x.server(fx.audio(pcm(300)), fx.said("It is noon."), fx.generation_complete(),
                      fx.turn_complete(fx.usage_metadata(prompt_text=300, prompt_audio=32,
                                                         response_audio=200, thoughts=10)))
    assert events[0] == ev.ResponseCreated(response_id="x1_resp_5")
    assert events[-1] == ev.ResponseDone(
        response_id="x1_resp_5", status="completed", output=(events[-2].item,)
        if isinstance(events[-2], ev.OutputItemDone) else (),
        usage=TokenUsage(input_tokens=332, output_tokens=210, input_text_tokens=300,
                         input_audio_tokens=32, output_text_tokens=10, output_audio_tokens=200))
    x.feed(inp.Playback(now=x.now, item_id="x1_item_6", played_samples=24 * 300, idle=True))
    assert x.core.state is SessionState.READY

    items = {r.server_id: r for r in records(x.log, ItemRecord) if r.server_id}
    assert items["x1_user_1"].kind is ItemKind.USER_AUDIO
    assert items["x1_user_1"].transcript == "What time is it?"
    assert items["x1_user_1"].audio_ms == pytest.approx(1000)
    assert items["x1_item_3"].transcript == "Let me check."
    assert items["x1_item_6"].transcript == "It is noon."
    assert items["x1_call_item_4"].name == "get_time"
    tool_results = [r for r in records(x.log, ItemRecord) if r.kind is ItemKind.TOOL_RESULT]
    assert [r.output for r in tool_results] == ['{"time":"12:00"}']
    turns = records(x.log, TurnRecord)
    assert [t.status for t in turns] == ["completed", "completed"]
    assert turns[-1].usage.output_audio_tokens == 200
    assert x.core.metrics.tokens.input_tokens == 332

    # goAway with a handle: the core rolls over at once (quiet) and resumes with the handle.
    x.server(fx.resumption("handle-9"))
    x.server(fx.go_away("30s"))
    assert any(isinstance(c, cmd.Connect) and c.reason == "rollover" for c in x.log)
    before = len(x.sent)
    x.connect()
    assert x.sent[before:][0]["setup"]["sessionResumption"] == {"handle": "handle-9"}
    out_before = len(x.sent)
    assert x.server(fx.setup_complete()) == [ev.SessionUpdated(session={}, resumed=True)]
    assert x.sent[out_before:] == []  # the kept session has the conversation: no replay
    assert x.core.state is SessionState.READY


def test_a_barge_in_keeps_what_was_heard() -> None:
    x = Exchange(config())
    x.feed(inp.Begin(now=x.now, wall=1_800_000_000.0))
    x.connect()
    x.server(fx.setup_complete())
    x.feed(*(inp.MicAudio(now=x.now, pcm=pcm(20)) for _ in range(100)))
    x.server(fx.heard("Tell me a story", finished=True), fx.audio(pcm(2000)),
             fx.said("Once upon a time there was"))
    x.feed(inp.Playback(now=x.now, item_id="x1_item_3", played_samples=24 * 500, idle=False))
    x.feed(*(inp.MicAudio(now=x.now, pcm=pcm(20)) for _ in range(100)))
    x.server(fx.interrupted())
    [flush] = [c for c in x.log if isinstance(c, cmd.FlushPlayback)]
    assert flush == cmd.FlushPlayback()
    [cut] = records(x.log, InterruptionRecord)
    assert (cut.kind, cut.position_ms) == ("speech_overlap", 500)
    assert not [e for e in x.sent if "clientContent" in e]  # nothing to tell the service
    x.server(fx.turn_complete(fx.usage_metadata(prompt_audio=64, response_audio=50)))
    answer = [r for r in records(x.log, ItemRecord) if r.server_id == "x1_item_3"][-1]
    assert (answer.truncated, answer.audio_end_ms, answer.status) == (True, 500, "incomplete")
    turns = records(x.log, TurnRecord)
    assert [t.status for t in turns] == ["cancelled"]
    assert turns[0].usage.output_audio_tokens == 50
