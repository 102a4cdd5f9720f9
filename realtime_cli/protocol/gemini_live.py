"""The Gemini Live wire (`BidiGenerateContent` JSON, camelCase) <-> rt's typed events. Pure;
`decode` never raises on server input (docs/protocol.md#gemini-live).

Gemini speaks in turns where rt's core speaks in responses and items, so this codec keeps the
state that bridges them, for one connection: the ids it makes up for responses and items (the
service names neither), the user's turn it is hearing, the response in flight, the usage reported
for it, the names of the tool calls it has to answer, and how much audio it has sent. A new
connection gets a new codec; its ids never repeat those of an earlier one in the same process.

What rt's core asks for and Gemini has no word for is answered here: a truncate or a delete
sends nothing (the service keeps what it sent; rt records what was heard), a cancel sends nothing
(the user's speech interrupts the model on the service's side), a response request after a tool
output sends nothing (the model goes on by itself).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from realtime_cli.protocol import events as ev
from realtime_cli.protocol.audio_format import SAMPLE_RATE, SAMPLES_PER_MS, b64decode_pcm, b64encode_pcm
from realtime_cli.text import without_lone_surrogates
from realtime_cli.usage import TokenUsage

JsonDict = dict[str, Any]

INPUT_MIME = f"audio/pcm;rate={SAMPLE_RATE}"
"""rt sends its 24 kHz audio as it is: the service resamples any rate the MIME type names."""
MODEL_PREFIX = "models/"
TRANSCRIPT_LAG_MS = 2000
"""How far before the first words of a user's turn reach rt its speech is taken to have begun,
when the service says nothing sooner (the input transcription trails the speech)."""
SERVER_FIELDS = ("setupComplete", "serverContent", "toolCall", "toolCallCancellation",
                 "usageMetadata", "goAway", "sessionResumptionUpdate", "voiceActivity",
                 "voiceActivityDetectionSignal")
_EXCERPT = 160
_DURATION = re.compile(r"^(-?\d+(?:\.\d{0,9})?)s$")
_connections = itertools.count(1)


class HasModel(Protocol):
    """What the codec reads from the session settings (`core.config.SessionConfig`): the model,
    which `setup` names and nothing later can change."""

    @property
    def model(self) -> str: ...


class _Bad(Exception):
    """A field is missing or has the wrong type; turned into MalformedServerEvent."""


def model_name(model: str) -> str:
    """The `setup.model` resource name: `models/<name>` unless already given that way."""
    return model if model.startswith(MODEL_PREFIX) else MODEL_PREFIX + model


def parse_duration(text: str) -> float:
    """A protobuf Duration in JSON (`"12.5s"`) as seconds; `_Bad` when it is not one."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise _Bad(f"not a duration: {text!r}")
    seconds = float(match.group(1))
    if not math.isfinite(seconds):
        raise _Bad(f"not a duration: {text!r}")
    return max(0.0, seconds)


# --------------------------------------------------------------------------- setup


def _sensitivity(threshold: float, eagerness: str) -> tuple[str, str]:
    """Gemini has two steps of sensitivity per edge where rt has a threshold (server VAD) or an
    eagerness (semantic VAD): a low threshold or high eagerness is the HIGH step."""
    if eagerness == "high" or threshold < 0.5:
        return "START_SENSITIVITY_HIGH", "END_SENSITIVITY_HIGH"
    if eagerness == "low" or threshold > 0.5:
        return "START_SENSITIVITY_LOW", "END_SENSITIVITY_LOW"
    return "START_SENSITIVITY_UNSPECIFIED", "END_SENSITIVITY_UNSPECIFIED"


def activity_detection(turn_detection: JsonDict | None) -> JsonDict:
    """`realtimeInputConfig` from the session's `audio.input.turn_detection`: none is push-to-talk
    (the client marks each turn with activityStart/activityEnd)."""
    if turn_detection is None:
        return {"automaticActivityDetection": {"disabled": True}}
    threshold = turn_detection.get("threshold")
    start, end = _sensitivity(threshold if isinstance(threshold, int | float) else 0.5,
                              str(turn_detection.get("eagerness") or "auto"))
    detection: JsonDict = {"disabled": False}
    if not start.endswith("UNSPECIFIED"):
        detection["startOfSpeechSensitivity"] = start
        detection["endOfSpeechSensitivity"] = end
    for ours, theirs in (("prefix_padding_ms", "prefixPaddingMs"),
                         ("silence_duration_ms", "silenceDurationMs")):
        if isinstance(turn_detection.get(ours), int):
            detection[theirs] = turn_detection[ours]
    config: JsonDict = {"automaticActivityDetection": detection}
    if turn_detection.get("interrupt_response") is False:
        config["activityHandling"] = "NO_INTERRUPTION"
    return config


def function_declaration(tool: JsonDict) -> JsonDict:
    """One of rt's function tools as Gemini declares it. The JSON Schema goes as it is
    (`parametersJsonSchema`); `BLOCKING` keeps the model waiting for the output, which is how
    rt's core runs tools (the output goes back once the call's turn is over)."""
    out: JsonDict = {"name": tool["name"], "behavior": "BLOCKING"}
    if tool.get("description"):
        out["description"] = tool["description"]
    if tool.get("parameters") is not None:
        out["parametersJsonSchema"] = tool["parameters"]
    return out


def setup_message(model: str, session: JsonDict, resume_handle: str | None) -> JsonDict:
    """The `setup` message for an OpenAI-shaped `session` (`SessionConfig.session_payload()`)."""
    audio = session.get("audio") or {}
    audio_in = audio.get("input") or {}
    audio_out = audio.get("output") or {}
    modalities = [m.upper() for m in session.get("output_modalities") or ["audio"]]
    generation: JsonDict = {"responseModalities": modalities}
    if "AUDIO" in modalities and audio_out.get("voice"):
        generation["speechConfig"] = {
            "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": audio_out["voice"]}}}
    if isinstance(session.get("max_output_tokens"), int):
        generation["maxOutputTokens"] = session["max_output_tokens"]
    setup: JsonDict = {"model": model_name(model), "generationConfig": generation}
    if session.get("instructions"):
        setup["systemInstruction"] = {"parts": [{"text": session["instructions"]}]}
    tools = [function_declaration(t) for t in session.get("tools") or []
             if t.get("type", "function") == "function"]
    if tools:
        setup["tools"] = [{"functionDeclarations": tools}]
    setup["realtimeInputConfig"] = activity_detection(audio_in.get("turn_detection"))
    if audio_in.get("transcription"):
        setup["inputAudioTranscription"] = {}
    if "AUDIO" in modalities:
        setup["outputAudioTranscription"] = {}
    setup["sessionResumption"] = {"handle": resume_handle} if resume_handle else {}
    setup["contextWindowCompression"] = {"slidingWindow": {}}
    return {"setup": setup}


# --------------------------------------------------------------------------- history


def client_turn(item: JsonDict, tool_names: dict[str, str]) -> JsonDict | None:
    """A replayed or typed conversation item as one `clientContent` turn: text for a message;
    a tool call and its output as text too, since rt only replays what was said and done, and
    a function call part the service did not issue on this connection is not known to be
    accepted (docs/protocol.md#gemini-live)."""
    kind = item.get("type")
    if kind == "message":
        text = "".join(str(p.get("text") or p.get("transcript") or "")
                       for p in item.get("content") or [] if isinstance(p, dict))
        role = "model" if item.get("role") == "assistant" else "user"
    elif kind == "function_call":
        text = f"(called the tool {item.get('name')} with {item.get('arguments') or '{}'})"
        role = "model"
    elif kind == "function_call_output":
        name = tool_names.get(str(item.get("call_id")))
        text = f"(the tool{' ' + name if name else ''} returned {item.get('output') or ''})"
        role = "user"
    else:
        return None
    if not text.strip():
        return None
    return {"clientContent": {"turns": [{"role": role, "parts": [{"text": text}]}],
                              "turnComplete": False}}


def tool_response(call_id: str, name: str, output: str) -> JsonDict:
    """A tool's output: JSON objects go as they are, anything else under `output`."""
    try:
        parsed = json.loads(output)
    except ValueError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"output": output}
    return {"toolResponse": {"functionResponses": [{"id": call_id, "name": name,
                                                    "response": response}]}}


# --------------------------------------------------------------------------- usage


def _counts(details: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for entry in details if isinstance(details, list) else []:
        if not isinstance(entry, dict):
            continue
        count = entry.get("tokenCount")
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            modality = str(entry.get("modality") or "")
            out[modality] = out.get(modality, 0) + count
    return out


def _count(raw: JsonDict, key: str) -> int:
    value = raw.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage(raw: Any) -> TokenUsage | None:
    """`usageMetadata` as a `TokenUsage`: one turn's bill (each report prices the whole context
    again, so reports add up; docs/protocol.md#gemini-live). Thinking is text output; tool
    results the model read are text input; prompt tokens without a modality count as text."""
    if not isinstance(raw, dict):
        return None
    prompt, tool_use = _count(raw, "promptTokenCount"), _count(raw, "toolUsePromptTokenCount")
    response, thoughts = _count(raw, "responseTokenCount"), _count(raw, "thoughtsTokenCount")
    cached = _count(raw, "cachedContentTokenCount")
    prompt_by = _counts(raw.get("promptTokensDetails"))
    response_by = _counts(raw.get("responseTokensDetails"))
    cached_by = _counts(raw.get("cacheTokensDetails"))
    audio_in = prompt_by.get("AUDIO", 0)
    audio_out = response_by.get("AUDIO", 0)
    return TokenUsage(
        input_tokens=prompt + tool_use,
        output_tokens=response + thoughts,
        cached_tokens=cached,
        input_audio_tokens=audio_in,
        input_text_tokens=max(0, prompt - audio_in) + tool_use,
        output_audio_tokens=audio_out,
        output_text_tokens=max(0, response - audio_out) + thoughts,
        cached_audio_tokens=cached_by.get("AUDIO", 0),
        cached_text_tokens=max(0, cached - cached_by.get("AUDIO", 0)),
    )


# --------------------------------------------------------------------------- readers


def _obj(obj: JsonDict, key: str) -> JsonDict:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(f"{key!r} must be an object")
    return value


def _text(obj: JsonDict, key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"{key!r} must be a string")
    return without_lone_surrogates(value)


def _flag(obj: JsonDict, key: str) -> bool:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise _Bad(f"{key!r} must be a boolean")
    return bool(value)


def _list(obj: JsonDict, key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{key!r} must be a list")
    return value


def _audio(blob: JsonDict) -> bytes:
    """The PCM of an `inlineData` blob, which must be 24 kHz PCM16 in base64."""
    mime = _text(blob, "mimeType") or "audio/pcm"
    if _mime_rate(mime) != SAMPLE_RATE:
        raise _Bad(f"audio must be audio/pcm;rate={SAMPLE_RATE}, got {mime!r}")
    pcm = b64decode_pcm(_text(blob, "data"))
    if pcm is None:
        raise _Bad("'inlineData.data' is not base64 PCM16")
    return pcm


def _function_call(fc: Any) -> tuple[str, str, str]:
    """(id, name, arguments as JSON text) of one `FunctionCall`."""
    if not isinstance(fc, dict):
        raise _Bad("function calls must be objects")
    args = fc.get("args")
    if args is not None and not isinstance(args, dict):
        raise _Bad("'args' must be an object")
    return (_text(fc, "id"), _text(fc, "name"),
            json.dumps(args or {}, separators=(",", ":"), ensure_ascii=False))


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."


def _mime_rate(mime: str) -> int | None:
    """The `rate=` of an `audio/pcm` MIME type; None for other types."""
    kind, _, params = mime.partition(";")
    if kind.strip().lower() != "audio/pcm":
        return None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "rate":
            return int(value) if value.strip().isdigit() else -1
    return SAMPLE_RATE


# --------------------------------------------------------------------------- the codec


@dataclass(slots=True)
class _UserTurn:
    """What the user is saying, from the first sign of it to its transcript's end."""

    item_id: str
    start_ms: int
    text: str = ""
    committed: bool = False
    stopped: bool = False  # SpeechStopped went out: the core measures latency from it


@dataclass(slots=True)
class _Response:
    response_id: str
    item_id: str | None = None  # the assistant message, once it has said something
    transcript: str = ""
    audio_done: bool = False
    interrupted: bool = False
    calls: list[str] = field(default_factory=list)


class GeminiLiveCodec:
    """`WireCodec` for Gemini Live, one per connection. `prefix` names this connection's ids
    (by default the next of a process-wide count, so a reconnect never reuses an id)."""

    name = "gemini"

    def __init__(self, config: HasModel, *, prefix: str | None = None) -> None:
        self.model = config.model
        self.prefix = prefix or f"g{next(_connections)}"
        self._ids = itertools.count(1)
        self._setup_sent = False
        self._resuming = False
        self._vad = True
        self._transcribing = True
        self._sent_samples = 0  # audio sent on this connection, at 24 kHz
        self._quiet_ms = 0  # where the conversation last fell silent on the user's side
        self._activity_open = False  # push-to-talk: an activityStart awaits its activityEnd
        self._user: _UserTurn | None = None
        self._response: _Response | None = None
        self._usage: TokenUsage | None = None  # reported, not yet handed to a response
        self._queued: list[ev.ServerEvent] = []  # events the client's own messages imply
        self._done_transcripts: set[str] = set()
        self._implied_answer = False  # the last message asks for the answer by itself
        self.tool_names: dict[str, str] = {}

    def _id(self, kind: str) -> str:
        return f"{self.prefix}_{kind}_{next(self._ids)}"

    @property
    def sent_ms(self) -> int:
        return self._sent_samples // SAMPLES_PER_MS

    # ------------------------------------------------------------------ WireCodec

    def opened(self) -> list[ev.ServerEvent]:
        """The service says nothing until `setup`: the session counts as created at once."""
        return [ev.SessionCreated(session_id=None, expires_at=None, session={})]

    def encode(self, event: ev.ClientEvent) -> list[str]:
        return [json.dumps(m, separators=(",", ":"), ensure_ascii=False)
                for m in self.messages(event)]

    def decode(self, frame: str | bytes) -> list[ev.ServerEvent]:
        out, self._queued = self._queued, []
        if isinstance(frame, bytes | bytearray | memoryview):
            try:  # the service sends its JSON in binary frames as well as text ones
                frame = bytes(frame).decode("utf-8")
            except UnicodeDecodeError:
                return [*out, ev.MalformedServerEvent(reason="binary frame is not UTF-8 JSON",
                                                      excerpt=f"<{len(frame)} bytes>")]
        try:
            message = json.loads(frame)
        except (ValueError, RecursionError) as exc:
            return [*out, ev.MalformedServerEvent(reason=f"invalid JSON: {exc}",
                                                  excerpt=_excerpt(frame))]
        if not isinstance(message, dict):
            return [*out, ev.MalformedServerEvent(reason="message is not an object",
                                                  excerpt=_excerpt(frame))]
        known = [k for k in SERVER_FIELDS if k in message]
        if not known:
            return [*out, ev.UnknownServerEvent(type=next(iter(message), "empty message"))]
        try:
            out.extend(self._read(message))
        except (_Bad, TypeError, ValueError, AttributeError, KeyError) as exc:
            out.append(ev.MalformedServerEvent(reason=f"{'/'.join(known)}: {exc}",
                                               excerpt=_excerpt(frame)))
        return out

    # ------------------------------------------------------------------ encode

    def messages(self, event: ev.ClientEvent) -> list[JsonDict]:
        """The client messages for `event`, as JSON objects (what `encode` writes)."""
        match event:
            case ev.SessionUpdate():
                return self._setup(event)
            case ev.InputAudioBufferAppend():
                self._sent_samples += len(event.audio) // 2
                return [{"realtimeInput": {"audio": {"data": b64encode_pcm(event.audio),
                                                     "mimeType": INPUT_MIME}}}]
            case ev.InputAudioBufferClear():
                return self._activity_start()
            case ev.InputAudioBufferCommit():
                return self._activity_end()
            case ev.ConversationItemCreate():
                return self._item(event.item)
            case ev.ResponseCreate():
                if self._implied_answer:  # after activityEnd or a tool's output
                    self._implied_answer = False
                    return []
                return [{"clientContent": {"turnComplete": True}}]
            case (ev.ResponseCancel() | ev.ConversationItemTruncate() | ev.ConversationItemDelete()
                  | ev.ConversationItemRetrieve()):
                return []
        return []

    def _setup(self, event: ev.SessionUpdate) -> list[JsonDict]:
        if self._setup_sent:  # the configuration cannot change on an open connection
            return []
        self._setup_sent = True
        session = event.session
        audio_in = (session.get("audio") or {}).get("input") or {}
        self._vad = audio_in.get("turn_detection") is not None
        self._transcribing = bool(audio_in.get("transcription"))
        self._resuming = event.resume_handle is not None
        return [setup_message(self.model, session, event.resume_handle)]

    def _activity_start(self) -> list[JsonDict]:
        """Push-to-talk opens a turn with a clear; a clear while one is open (a turn too short,
        a pause) keeps it open, since Gemini cannot take back an activity it was told of."""
        if self._vad or self._activity_open:
            return []
        self._activity_open = True
        self._user = _UserTurn(item_id=self._id("user"), start_ms=self.sent_ms)
        return [{"realtimeInput": {"activityStart": {}}}]

    def _activity_end(self) -> list[JsonDict]:
        if self._vad or not self._activity_open:
            return []
        self._activity_open = False
        self._implied_answer = True
        if self._user is not None:
            self._queued.extend(self._commit(self._user, stopped=False))
        return [{"realtimeInput": {"activityEnd": {}}}]

    def _item(self, item: JsonDict) -> list[JsonDict]:
        call_id = str(item.get("call_id") or "")
        if item.get("type") == "function_call_output" and call_id in self.tool_names:
            self._implied_answer = True
            return [tool_response(call_id, self.tool_names[call_id], str(item.get("output") or ""))]
        turn = client_turn(item, self.tool_names)
        return [turn] if turn is not None else []

    # ------------------------------------------------------------------ decode

    def _read(self, message: JsonDict) -> Iterator[ev.ServerEvent]:
        """Each field of one message in the order the service means them: the content before
        the usage that bills it, the usage before the turn's end that hands it on."""
        if "usageMetadata" in message:
            turn = usage(message["usageMetadata"])
            if turn is not None:
                self._usage = turn if self._usage is None else self._usage + turn
        if "setupComplete" in message:
            yield ev.SessionUpdated(session={}, resumed=self._resuming)
        if "voiceActivity" in message:
            yield from self._voice_activity(_obj(message, "voiceActivity"))
        if "voiceActivityDetectionSignal" in message:
            signal = _obj(message, "voiceActivityDetectionSignal").get("vadSignalType")
            kind = {"VAD_SIGNAL_TYPE_SOS": "ACTIVITY_START", "VAD_SIGNAL_TYPE_EOS": "ACTIVITY_END"}
            yield from self._voice_activity({"type": kind.get(str(signal), "")})
        if "serverContent" in message:
            yield from self._content(_obj(message, "serverContent"))
        if "toolCall" in message:
            yield from self._tool_call(_obj(message, "toolCall"))
        if "toolCallCancellation" in message:
            ids = _list(_obj(message, "toolCallCancellation"), "ids")
            if not all(isinstance(i, str) for i in ids):
                raise _Bad("'ids' must be strings")
            if ids:
                yield ev.ToolCallsCancelled(call_ids=tuple(ids))
        if "goAway" in message:
            left = _obj(message, "goAway").get("timeLeft")
            yield ev.SessionExpiring(seconds_left=parse_duration(left) if left is not None else 0.0)
        if "sessionResumptionUpdate" in message:
            update = _obj(message, "sessionResumptionUpdate")
            handle = _text(update, "newHandle")
            if _flag(update, "resumable") and handle:
                yield ev.SessionResumable(handle=handle)

    def _voice_activity(self, activity: JsonDict) -> Iterator[ev.ServerEvent]:
        """The service's own voice activity signal, when it sends one (the wire names the kind
        `type`; the SDK calls it `voiceActivityType`)."""
        kind = activity.get("type", activity.get("voiceActivityType"))
        offset = activity.get("audioOffset")
        at_ms = int(parse_duration(offset) * 1000) if offset is not None else self.sent_ms
        if kind == "ACTIVITY_START":
            yield from self._user_speaks(at_ms)
        elif kind == "ACTIVITY_END" and self._user is not None and not self._user.committed:
            yield from self._commit(self._user, stopped=True, end_ms=at_ms)

    def _content(self, content: JsonDict) -> Iterator[ev.ServerEvent]:
        if _flag(content, "interrupted"):
            yield from self._interrupted()
        heard = _obj(content, "inputTranscription")
        if heard:
            yield from self._heard(_text(heard, "text"), _flag(heard, "finished"))
        parts = _list(_obj(content, "modelTurn"), "parts")
        if not all(isinstance(p, dict) for p in parts):
            raise _Bad("parts must be objects")
        for part in parts:
            yield from self._part(part)
        said = _text(_obj(content, "outputTranscription"), "text")
        if said:
            yield from self._model_says(None, said)
        if _flag(content, "generationComplete") and self._response is not None:
            resp = self._response
            if resp.item_id is not None and not resp.audio_done:
                resp.audio_done = True
                yield ev.OutputAudioDone(response_id=resp.response_id, item_id=resp.item_id)
        if _flag(content, "turnComplete"):
            yield from self._turn_complete()

    def _part(self, part: JsonDict) -> Iterator[ev.ServerEvent]:
        if part.get("thought"):
            return  # the model's thinking is not said to the user
        blob = _obj(part, "inlineData")
        text = _text(part, "text")
        pcm = _audio(blob) if blob else None
        if pcm is not None or text:
            yield from self._model_says(pcm, text)

    def _model_says(self, pcm: bytes | None, text: str) -> Iterator[ev.ServerEvent]:
        """Audio or words of the model (text parts and the output transcription alike), in the
        response in flight or a new one."""
        resp = self._response
        if resp is None or resp.interrupted:
            yield from self._open_response()
            resp = self._response
        assert resp is not None
        yield from self._message_item(resp)
        item_id = resp.item_id or ""
        if not resp.transcript:  # chunks lead with their space, the first one too
            text = text.lstrip()
        if pcm is not None:
            yield ev.OutputAudioDelta(response_id=resp.response_id, item_id=item_id,
                                      content_index=0, pcm=pcm)
        if text:
            resp.transcript += text
            yield ev.OutputTranscriptDelta(response_id=resp.response_id, item_id=item_id, delta=text)

    def _tool_call(self, call: JsonDict) -> Iterator[ev.ServerEvent]:
        """Each call becomes a function call item of the response, which ends with them: the
        core answers calls once their response is done, and the model waits (BLOCKING)."""
        calls = [_function_call(fc) for fc in _list(call, "functionCalls")]
        if self._response is None or self._response.interrupted:
            yield from self._open_response()
        resp = self._response
        assert resp is not None
        for given_id, name, arguments in calls:
            call_id = given_id or self._id("call")
            item_id = self._id("call_item")
            self.tool_names[call_id] = name
            resp.calls.append(item_id)
            yield ev.OutputItemAdded(response_id=resp.response_id, item=ev.Item(
                id=item_id, type="function_call", status="in_progress", call_id=call_id, name=name))
            yield ev.FunctionCallArgumentsDone(call_id=call_id, item_id=item_id, name=name,
                                               arguments=arguments)
        yield from self._finish(resp, "completed")

    # ------------------------------------------------------------------ turns

    def _user_speaks(self, at_ms: int) -> Iterator[ev.ServerEvent]:
        """A new user turn begins (under the service's activity detection): the core hears of
        it as speech started, which, over the assistant, is a barge-in."""
        if self._user is not None and not self._user.committed:
            return
        if self._user is not None:
            yield from self._transcript_done(self._user)
        start = max(self._quiet_ms, min(at_ms, self.sent_ms))
        self._user = _UserTurn(item_id=self._id("user"), start_ms=start)
        if self._vad:
            yield ev.SpeechStarted(audio_start_ms=start, item_id=self._user.item_id)

    def _interrupted(self) -> Iterator[ev.ServerEvent]:
        """The user spoke over the model: the service stopped it and keeps what it sent. The
        response ends when its `turnComplete` comes (with the usage that bills it)."""
        if self._response is not None:
            self._response.interrupted = True
        yield from self._user_speaks(self.sent_ms - TRANSCRIPT_LAG_MS)

    def _heard(self, text: str, finished: bool) -> Iterator[ev.ServerEvent]:
        """The input transcription: the first words of a new turn start it; `finished` ends
        the turn (if nothing did sooner) and its transcript."""
        user = self._user
        if text and (user is None or user.item_id in self._done_transcripts):
            yield from self._user_speaks(self.sent_ms - TRANSCRIPT_LAG_MS)
            user = self._user
        if user is None:
            return
        if not user.text:
            text = text.lstrip()
        if text:
            user.text += text
            if user.committed:
                yield ev.InputTranscriptionDelta(item_id=user.item_id, delta=text)
        if finished:
            if not user.committed:
                yield from self._commit(user, stopped=True)
            yield from self._transcript_done(user)

    def _commit(self, user: _UserTurn, *, stopped: bool, end_ms: int | None = None
                ) -> Iterator[ev.ServerEvent]:
        """The user's turn is over: its item exists from now on, with the words heard so far."""
        if user.committed:
            return
        user.committed = True
        self._quiet_ms = max(self._quiet_ms, self.sent_ms)
        if stopped and self._vad:
            user.stopped = True
            yield ev.SpeechStopped(audio_end_ms=self.sent_ms if end_ms is None else end_ms,
                                   item_id=user.item_id)
        yield ev.InputAudioBufferCommitted(item_id=user.item_id)
        if user.text:
            yield ev.InputTranscriptionDelta(item_id=user.item_id, delta=user.text)

    def _transcript_done(self, user: _UserTurn) -> Iterator[ev.ServerEvent]:
        if user.item_id in self._done_transcripts or not user.committed:
            return
        self._done_transcripts.add(user.item_id)
        if self._transcribing or user.text:
            yield ev.InputTranscriptionCompleted(item_id=user.item_id, transcript=user.text)

    def _open_response(self) -> Iterator[ev.ServerEvent]:
        """The model starts a turn: the user's turn it answers is over, and a response opens."""
        if self._response is not None:  # an interrupted one whose turnComplete never came
            yield from self._finish(self._response, "cancelled")
        if self._user is not None and not self._user.committed:
            yield from self._commit(self._user, stopped=False)
        self._response = _Response(response_id=self._id("resp"))
        yield ev.ResponseCreated(response_id=self._response.response_id)

    def _message_item(self, resp: _Response) -> Iterator[ev.ServerEvent]:
        if resp.item_id is not None:
            return
        resp.item_id = self._id("item")
        yield ev.OutputItemAdded(response_id=resp.response_id, item=ev.Item(
            id=resp.item_id, type="message", role="assistant", status="in_progress"))

    def _turn_complete(self) -> Iterator[ev.ServerEvent]:
        resp = self._response
        if resp is not None:
            yield from self._finish(resp, "cancelled" if resp.interrupted else "completed")
        if self._user is not None:
            yield from self._transcript_done(self._user)
        self._quiet_ms = self.sent_ms

    def _finish(self, resp: _Response, status: str) -> Iterator[ev.ServerEvent]:
        """The response is over: its message item is done and the usage reported so far is its."""
        self._response = None
        output: list[ev.Item] = []
        if resp.item_id is not None:
            item = ev.Item(id=resp.item_id, type="message", role="assistant",
                           status="completed" if status == "completed" else "incomplete",
                           content=(ev.ContentPart(type="output_audio",
                                                   transcript=resp.transcript),))
            output.append(item)
            yield ev.OutputItemDone(response_id=resp.response_id, item=item)
        taken, self._usage = self._usage, None
        yield ev.ResponseDone(response_id=resp.response_id, status=status, usage=taken,
                              output=tuple(output))
