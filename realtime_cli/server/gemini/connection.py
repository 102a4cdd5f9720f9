"""One client connection of the Gemini twin: setup, realtime input through the Silero VAD,
client content, tool responses, and the model turns that answer them.

`handle(frame)` processes client messages in order. A message the service would refuse raises
no error event (Gemini Live has none): the connection closes with the service's code and reason
(`messages.Refusal`). The session (conversation, pending calls) lives in a `SessionStore`
entry, so a later connection can resume it with a handle.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

from realtime_cli.audio.pcm import SAMPLE_RATE, bytes_to_ms
from realtime_cli.server.gemini import messages
from realtime_cli.server.gemini.messages import INTERNAL, INVALID_ARGUMENT, POLICY, Refusal
from realtime_cli.server.gemini.model_turn import ModelTurn, TurnHost
from realtime_cli.server.gemini.outbox import GeminiOutbox
from realtime_cli.server.gemini.session import Entry, LiveSession, SessionStore
from realtime_cli.server.gemini.setup import LiveSetup, read_setup
from realtime_cli.server.options import ServerOptions
from realtime_cli.server.replies import ReplyWriter, choose_tool
from realtime_cli.server.speech import SpeechEngine
from realtime_cli.server.vad import SileroProbe, SpeechStarted, TurnDetector
from realtime_cli.server.wire import JsonDict

CLIENT_FIELDS = ("setup", "clientContent", "realtimeInput", "toolResponse")
REALTIME_FIELDS = ("audio", "video", "text", "activityStart", "activityEnd", "audioStreamEnd",
                   "mediaChunks")
INPUT_RATE = 16_000  # what the service assumes when the MIME type names no rate
_MIME = re.compile(r"^audio/pcm(?:;\s*rate=(\d+))?$")


def input_rate(mime: Any) -> int:
    """The sample rate of `audio/pcm;rate=N` (any rate is accepted and resampled)."""
    found = _MIME.match(mime) if isinstance(mime, str) else None
    if found is None:
        raise Refusal(INVALID_ARGUMENT, f"Unsupported MIME type for realtime audio: {mime!r}")
    return int(found.group(1) or INPUT_RATE)


class Resampler:
    """PCM16 mono at any rate to the 24 kHz the VAD probe takes (soxr, streaming)."""

    def __init__(self) -> None:
        self.rate = SAMPLE_RATE
        self._stream: Any = None

    def to_24k(self, pcm: bytes, rate: int) -> bytes:
        if rate == SAMPLE_RATE:
            return pcm
        import numpy as np
        import soxr

        if self._stream is None or rate != self.rate:
            self.rate = rate
            self._stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="int16")
        out = self._stream.resample_chunk(np.frombuffer(pcm, dtype="<i2"))
        return bytes(np.asarray(out, dtype="<i2").tobytes())


class GeminiConnection:
    def __init__(
        self,
        index: int,
        *,
        options: ServerOptions,
        outbox: GeminiOutbox,
        speech: SpeechEngine,
        store: SessionStore,
        key_refusal: Refusal | None = None,
        resumable: bool = True,
        record: Callable[[JsonDict], None] = lambda message: None,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.index = index
        self.options = options
        self.outbox = outbox
        self.store = store
        self.record = record
        self._log = log
        self._key_refusal = key_refusal
        self.resumable = resumable  # False: no handle is ever handed out
        self.setup: LiveSetup | None = None
        self.session: LiveSession | None = None
        self.turn: ModelTurn | None = None
        self.closed = False
        self._holds_session = False
        self._owed = False  # a user turn arrived while the model spoke without interruption
        self._resampler = Resampler()
        self._probe: SileroProbe | None = None
        self._detector: TurnDetector | None = None
        self._pending_start: float | None = None  # speech heard, not yet `prefixPaddingMs` long
        self._speech_from: float | None = None  # start of the user's detected speech
        self._activity_ms: float | None = None  # audio within activityStart/activityEnd
        self._host = TurnHost(send=outbox.emit, speech=speech, pace=options.pace,
                              chunk_ms=options.chunk_ms, burst_ms=options.burst_ms,
                              first_audio_delay_ms=options.first_audio_delay_ms,
                              on_finished=self._turn_finished)

    def log(self, line: str) -> None:
        self._log(f"conn {self.index}: {line}")

    @property
    def turns(self) -> int:
        return self.session.turns if self.session is not None else 0

    # -- lifecycle --------------------------------------------------------------------

    def stop(self) -> None:
        """The socket is gone or closing: stop the turn, release the session for resumption."""
        if self.turn is not None:
            self.turn.abort()
            self.turn = None
        if self.session is not None and self._holds_session:
            self._holds_session = False  # once: a later stop must not free a resumer's hold
            self.session.detach()

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.log(f"closing {code}: {reason}")
            self.stop()
            self.outbox.close(code, messages.close_reason(reason))

    def go_away(self, seconds_left: float) -> None:
        self.log(f"goAway, {seconds_left:g} s left")
        self.outbox.emit(messages.go_away(seconds_left))

    def handle(self, frame: str | bytes) -> None:
        if self.closed:
            return
        try:
            self._handle(frame)
        except Refusal as refusal:
            self.close(refusal.code, refusal.reason)

    def _handle(self, frame: str | bytes) -> None:
        if self._key_refusal is not None:
            raise self._key_refusal
        try:
            message = json.loads(frame)
        except (ValueError, UnicodeDecodeError):
            raise Refusal(INVALID_ARGUMENT, "Invalid JSON payload received.") from None
        if not isinstance(message, dict):
            raise Refusal(INVALID_ARGUMENT, "Invalid JSON payload received. Expected an object.")
        self.record(message)
        for name in message:
            if name not in CLIENT_FIELDS:
                raise messages.unknown_field(name, "")
        if len(message) != 1:
            raise Refusal(INVALID_ARGUMENT, "A client message must set exactly one of "
                          + ", ".join(CLIENT_FIELDS) + ".")
        name, body = next(iter(message.items()))
        if self.setup is None:
            if name != "setup":
                raise Refusal(INVALID_ARGUMENT, "The first message must be setup.")
            self._setup(body)
            return
        if name == "setup":
            raise Refusal(INVALID_ARGUMENT, "setup must be sent only once per connection.")
        if not isinstance(body, dict):
            raise Refusal(INVALID_ARGUMENT, f"Invalid value at '{name}': expected an object.")
        {"clientContent": self._client_content, "realtimeInput": self._realtime_input,
         "toolResponse": self._tool_response}[name](body)

    # -- setup ------------------------------------------------------------------------

    def _setup(self, body: Any) -> None:
        setup = read_setup(body)
        if setup.handle is not None:
            session = self.store.find(setup.handle)
            if session is None:
                raise Refusal(POLICY, messages.HANDLE_REFUSED_REASON)
            if session.attached:
                raise Refusal(INTERNAL, messages.STILL_CONNECTED_REASON)
            self.log(f"resumed a session of {session.turns} turn(s)")
        else:
            session = LiveSession(ReplyWriter(self.options.script, self.options.preamble))
        session.attach()
        self._holds_session = True
        self.session, self.setup = session, setup
        self.outbox.emit(messages.setup_complete())
        if setup.resumption:
            self.outbox.emit(messages.resumption_update(self.store.new_handle(session))
                             if self.resumable else messages.not_resumable())
        if setup.detection.turn is not None:
            self._probe = SileroProbe(offset_ms=session.input_ms)
            self._detector = TurnDetector(setup.detection.turn)
        self.log(f"setup {setup.model}, {setup.modality}, "
                 f"{'automatic' if self._detector else 'manual'} activity detection")

    # -- realtime input ---------------------------------------------------------------

    def _realtime_input(self, body: JsonDict) -> None:
        for name in body:
            if name not in REALTIME_FIELDS:
                raise messages.unknown_field(name, "realtime_input")
        if "mediaChunks" in body:
            raise Refusal(INVALID_ARGUMENT, "realtime_input.media_chunks is deprecated. Use "
                          "audio, video or text instead.")
        manual = self._detector is None
        if ("activityStart" in body or "activityEnd" in body) and not manual:
            raise Refusal(INVALID_ARGUMENT, "Explicit activity control is not supported when "
                          "automatic activity detection is enabled.")
        if "activityStart" in body:
            self._activity_ms = 0.0
            self._user_activity()
        if "audio" in body:
            self._audio(body["audio"])
        if "text" in body:
            if not manual:
                self._user_activity()
            self._user_turn(Entry("user", text=str(body["text"])))
        if "activityEnd" in body and self._activity_ms is not None:
            heard, self._activity_ms = self._activity_ms, None
            if heard > 0:
                self._user_turn(Entry("user", audio_ms=heard))
        if "audioStreamEnd" in body and self._speech_from is not None:
            self._speech_ended(self.session.input_ms if self.session else 0.0, 0.0)

    def _audio(self, blob: Any) -> None:
        assert self.session is not None
        if not isinstance(blob, dict):
            raise Refusal(INVALID_ARGUMENT, "Invalid value at 'realtime_input.audio'.")
        rate = input_rate(blob.get("mimeType"))
        try:
            pcm = base64.b64decode(str(blob.get("data", "")), validate=True)
        except binascii.Error:
            raise Refusal(INVALID_ARGUMENT, "Invalid value at 'realtime_input.audio.data' "
                          "(TYPE_BYTES), Base64 decoding failed.") from None
        if len(pcm) % 2:
            raise Refusal(INVALID_ARGUMENT, "Audio must be whole 16-bit samples.")
        pcm = self._resampler.to_24k(pcm, rate)
        self.session.input_ms += bytes_to_ms(len(pcm))
        if self._activity_ms is not None:
            self._activity_ms += bytes_to_ms(len(pcm))
        if self._probe is None or self._detector is None:
            return
        for start, end, prob in self._probe.score(pcm):
            event = self._detector.on_window(start, end, prob)
            if isinstance(event, SpeechStarted):
                self._pending_start = start
            elif event is not None:
                if self._speech_from is not None:
                    assert self.setup is not None and self.setup.detection.turn is not None
                    self._speech_ended(float(event.audio_end_ms),
                                       self.setup.detection.turn.silence_duration_ms)
                self._pending_start = None
            if self._pending_start is not None and self._detector.speaking and (
                    end - self._pending_start >= self.setup_prefix_ms):
                self._speech_from, self._pending_start = self._pending_start, None
                self.log(f"speech from {self._speech_from / 1000:.2f} s")
                self._user_activity()

    @property
    def setup_prefix_ms(self) -> int:
        return self.setup.detection.prefix_ms if self.setup is not None else 0

    def _speech_ended(self, end_ms: float, trailing_silence_ms: float) -> None:
        """The user's turn is over at `end_ms`, the last `trailing_silence_ms` being silence."""
        start, self._speech_from = self._speech_from or 0.0, None
        if self._detector is not None:
            self._detector.reset()
        speech_ms = max(0.0, end_ms - trailing_silence_ms - start)
        self.log(f"speech ended, {speech_ms / 1000:.2f} s")
        self._user_turn(Entry("user", audio_ms=speech_ms, speech=True))

    def _user_activity(self) -> None:
        """The user started speaking (or typed): a barge-in when the model is answering."""
        assert self.setup is not None and self.session is not None
        if not self.setup.interrupts:
            return
        if self.turn is not None:
            self.log("barge-in interrupts the model turn")
            self.turn.interrupt()
        self._cancel_pending_calls()

    def _cancel_pending_calls(self) -> None:
        """The user moved on before the calls' outputs came: the model drops them, and their
        outputs, if they still come, are ignored."""
        assert self.session is not None
        if self.session.pending_calls:
            ids = list(self.session.pending_calls)
            self.session.pending_calls.clear()
            self.log(f"cancelled pending call(s) {', '.join(ids)}")
            self.outbox.emit(messages.tool_call_cancellation(ids))

    def _user_turn(self, entry: Entry) -> None:
        assert self.session is not None and self.setup is not None
        self.session.history.append(entry)
        if self.setup.input_transcription and entry.audio_ms > 0:
            what = "speech" if entry.speech else "audio"
            self.outbox.emit(messages.content(
                inputTranscription={"text": f"[{what}, {entry.audio_ms / 1000:.1f} s]"}))
        self._answer()

    # -- client content and tool responses ---------------------------------------------

    def _client_content(self, body: JsonDict) -> None:
        assert self.session is not None
        for name in body:
            if name not in ("turns", "turnComplete"):
                raise messages.unknown_field(name, "client_content")
        for turn in body.get("turns", []):
            role = turn.get("role") if isinstance(turn, dict) else None
            if role not in ("user", "model"):
                raise Refusal(INVALID_ARGUMENT, "Please use a valid role: user, model.")
            for part in turn.get("parts", []):
                if "functionCall" in part:
                    self.session.history.append(Entry("model", call=part["functionCall"]))
                elif "functionResponse" in part:
                    self.session.history.append(Entry("user", response=part["functionResponse"]))
                else:
                    self.session.history.append(Entry(role, text=str(part.get("text", ""))))
        if body.get("turnComplete") is True:
            if self.turn is not None:
                self.turn.interrupt()
            self._cancel_pending_calls()
            self._answer()

    def _tool_response(self, body: JsonDict) -> None:
        assert self.session is not None
        answered = False
        for response in body.get("functionResponses", []):
            call_id = str(response.get("id", ""))
            name = self.session.pending_calls.pop(call_id, None)
            if name is None:
                self.log(f"toolResponse for {call_id!r}, which is not pending: ignored")
                continue
            self.session.history.append(Entry("user", response={**response, "name": name}))
            answered = True
        if answered and not self.session.pending_calls:
            self._answer()

    # -- model turns ------------------------------------------------------------------

    def _answer(self) -> None:
        assert self.session is not None and self.setup is not None
        if self.turn is not None:
            self._owed = True
            return
        session, setup = self.session, self.setup
        source = session.latest_input()
        tool = choose_tool(setup.tools, "auto", self.options.tool_call, source)
        session.turns += 1
        plans = session.writer.outputs_for(session.turns, source, tool, setup.tools)
        self.turn = ModelTurn(self._host, session, setup, plans)
        self.turn.start()

    def _turn_finished(self, turn: ModelTurn) -> None:
        if self.turn is turn:
            self.turn = None
        what = f"{turn.audio_ms / 1000:.1f} s audio, \"{turn.transcript}\""
        if turn.calls:
            what += ", called " + ", ".join(str(c["name"]) for c in turn.calls)
        self.log(f"turn {self.turns} {turn.status}: {what}")
        if self._owed:
            self._owed = False
            self._answer()
