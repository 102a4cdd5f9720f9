"""One client connection: session config, input buffer + VAD, conversation, responses.

`Connection.handle(frame)` processes client frames one at a time, in order. Every outcome is
a list of server events queued on the `Outbox`; a refused event becomes one `error` event and
changes nothing (docs/protocol.md#errors). Responses stream in their own task (`ResponseRun`), so a VAD
`speech_started` or a `response.cancel` can cut them short (docs/protocol.md#truncation); a
truncate does not. The input transcription runs apart from the response, as on the service: its
deltas and `completed` come `transcription_delay_ms` after the commit, after `response.created`
(docs/protocol.md#input-audio-and-vad).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any

from realtime_cli.protocol.audio_format import b64decode_pcm
from realtime_cli.server.input_buffer import InputBuffer
from realtime_cli.server.item_store import ItemStore, StoredItem, item_from_client
from realtime_cli.server.options import ServerOptions
from realtime_cli.server.outbox import Outbox
from realtime_cli.server.replies import ReplyWriter, choose_tool, latest_input
from realtime_cli.server.response_faults import fault_for
from realtime_cli.server.responses import REASONING_MODEL_PREFIX, ResponseHost, ResponseRun, ResponseSpec
from realtime_cli.server.session_config import (
    TurnSettings,
    default_session,
    merge_update,
    turn_settings,
)
from realtime_cli.server.speech import SpeechEngine
from realtime_cli.server.usage import UsageLedger, transcription_usage
from realtime_cli.server.vad import SileroProbe, SpeechStarted, TurnDetector, VadEvent
from realtime_cli.server.validation import decode_frame, validate_event
from realtime_cli.server.wire import ClientError, JsonDict, error_event, new_id

MIN_COMMIT_MS = 100
Handler = Callable[[JsonDict], None]


class Connection:
    def __init__(
        self,
        index: int,
        *,
        options: ServerOptions,
        outbox: Outbox,
        speech: SpeechEngine,
        model: str,
        record: Callable[[JsonDict], None] = lambda event: None,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.index = index
        self.options = options
        self.outbox = outbox
        self.record = record
        self._log = log
        self.session = default_session(
            session_id=new_id("sess"),
            model=model,
            expires_at=int(time.time() + options.expire_after),
        )
        self.item_store = ItemStore()
        self.buffer = InputBuffer()
        self.ledger = UsageLedger()
        self.writer = ReplyWriter(options.script, options.preamble)
        self.active: ResponseRun | None = None
        self.turn = 0
        self.voice_locked = False
        self._probe: SileroProbe | None = None
        self._settings: TurnSettings | None = None
        self._detector: TurnDetector | None = None
        self._speech_item: str | None = None
        self._speech_start_ms = 0
        self._speech_detected_ms = 0.0
        self._idle: asyncio.TimerHandle | None = None
        self._transcriptions: dict[str, asyncio.TimerHandle] = {}  # by item id
        self._host = ResponseHost(
            emit=outbox.emit,
            item_store=self.item_store,
            ledger=self.ledger,
            speech=speech,
            pace=options.pace,
            chunk_ms=options.chunk_ms,
            burst_ms=options.burst_ms,
            first_audio_delay_ms=options.first_audio_delay_ms,
            on_finished=self._response_finished,
            on_first_audio=self._lock_voice,
        )
        self._handlers: dict[str, Handler] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.retrieve": self._item_retrieve,
            "conversation.item.truncate": self._item_truncate,
            "conversation.item.delete": self._item_delete,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
            "output_audio_buffer.clear": self._output_clear,
        }

    def log(self, line: str) -> None:
        self._log(f"conn {self.index}: {line}")

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Send `session.created` (the full default config) and arm turn detection."""
        self.outbox.emit({"type": "session.created", "session": copy.deepcopy(self.session)})
        self._configure_vad()

    def stop(self) -> None:
        """The socket is gone or closing: stop every task without sending anything."""
        if self.active is not None:
            self.active.abort()
            self.active = None
        self._cancel_idle()
        for handle in self._transcriptions.values():
            handle.cancel()
        self._transcriptions.clear()

    def expire(self, error: JsonDict, reason: str) -> None:
        self.stop()
        self.outbox.emit(error)
        self.outbox.close(1001, reason)

    def handle(self, frame: str | bytes) -> None:
        """Process one client frame; refusals become `error` events."""
        if isinstance(frame, bytes):
            self._refuse(ClientError("invalid_json", "Binary frames are not supported; send "
                                     "JSON events as text frames.", echo_event_id=False), None)
            return
        try:
            event = decode_frame(frame)
        except ClientError as err:
            self._refuse(err, None)
            return
        self.record(event)
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        try:
            validate_event(event)
            self._handlers[event["type"]](event)
        except ClientError as err:
            self._refuse(err, event_id)

    def _refuse(self, err: ClientError, event_id: str | None) -> None:
        self.outbox.emit(error_event(err, event_id))
        self.log(f"error {err.code}: {err.message}")

    # -- session ----------------------------------------------------------------------

    def _session_update(self, event: JsonDict) -> None:
        self.session = merge_update(self.session, event["session"], voice_locked=self.voice_locked)
        self._configure_vad()
        self.outbox.emit({"type": "session.updated", "session": copy.deepcopy(self.session)})

    def _configure_vad(self) -> None:
        settings = turn_settings(self.session)
        if settings == self._settings:
            return
        was_on = self._settings is not None
        self._settings = settings
        self._cancel_idle()
        if settings is None:
            self._detector = None
            return
        if self._probe is None or not was_on:
            # The probe's clock only runs while it is fed: restart it where the input is now.
            self._probe = SileroProbe(offset_ms=self.buffer.end_ms)
        self._detector = TurnDetector(settings)
        self._speech_item = None

    def _lock_voice(self) -> None:
        self.voice_locked = True

    # -- input audio ------------------------------------------------------------------

    def _append(self, event: JsonDict) -> None:
        pcm = b64decode_pcm(event["audio"])
        if pcm is None:
            raise ClientError(
                "invalid_value",
                "Invalid 'audio': expected base64-encoded PCM16 audio (whole 16-bit samples).",
                "audio",
            )
        self.buffer.append(pcm)
        if self._detector is None or self._probe is None:
            return
        for start, end, prob in self._probe.score(pcm):
            vad_event = self._detector.on_window(start, end, prob)
            if vad_event is not None:
                self._on_vad(vad_event, start)
        if not self._detector.speaking:
            self.buffer.trim()

    def _on_vad(self, event: VadEvent, window_start: float) -> None:
        settings = self._settings
        assert settings is not None
        if isinstance(event, SpeechStarted):
            self._cancel_idle()
            self._speech_item = new_id("item")
            self._speech_start_ms = max(event.audio_start_ms, int(self.buffer.start_ms))
            self._speech_detected_ms = window_start
            self.outbox.emit({"type": "input_audio_buffer.speech_started",
                              "audio_start_ms": self._speech_start_ms,
                              "item_id": self._speech_item})
            if settings.interrupt_response and self.active is not None:
                self.log(f"barge-in at {window_start / 1000:.2f} s cancels {self.active.id}")
                self.active.cancel("turn_detected")
            return
        item_id = self._speech_item or new_id("item")
        self._speech_item = None
        self.outbox.emit({"type": "input_audio_buffer.speech_stopped",
                          "audio_end_ms": event.audio_end_ms, "item_id": item_id})
        pcm = self.buffer.take(self._speech_start_ms, event.audio_end_ms)
        speech_ms = event.audio_end_ms - settings.silence_duration_ms - self._speech_detected_ms
        self._commit_audio(item_id, pcm, speech_ms=max(0.0, speech_ms))
        if settings.create_response:
            if self.active is None:
                self.start_response({})
            else:
                self.log(f"turn detected while {self.active.id} runs; no new response")

    def _commit(self, event: JsonDict) -> None:
        have = self.buffer.duration_ms
        if have < MIN_COMMIT_MS:
            raise ClientError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {have:.2f}ms of audio.",
            )
        item_id = self._speech_item or new_id("item")
        self._speech_item = None
        if self._detector is not None:
            self._detector.reset()
        self._commit_audio(item_id, self.buffer.take_all(), speech_ms=None)

    def _clear(self, event: JsonDict) -> None:
        self.buffer.clear()
        self._speech_item = None
        if self._detector is not None:
            self._detector.reset()
        self.outbox.emit({"type": "input_audio_buffer.cleared"})

    def _commit_audio(self, item_id: str, pcm: bytes, *, speech_ms: float | None) -> None:
        item = {"id": item_id, "object": "realtime.item", "type": "message",
                "status": "completed", "role": "user",
                "content": [{"type": "input_audio", "transcript": None}]}
        stored = StoredItem(item, {0: pcm}, speech_ms=speech_ms)
        previous = self.item_store.insert(stored)
        self.outbox.emit({"type": "input_audio_buffer.committed", "item_id": item_id,
                          "previous_item_id": previous})
        self.outbox.emit({"type": "conversation.item.added", "previous_item_id": previous,
                          "item": stored.public()})
        self.outbox.emit({"type": "conversation.item.done", "previous_item_id": previous,
                          "item": stored.public()})
        self.log(f"committed {item_id}: {stored.audio_ms() / 1000:.2f} s of audio")
        transcription = self.session["audio"]["input"]["transcription"]
        if transcription is not None:
            # Scheduled now, run later: the response this commit starts is created first.
            self._transcriptions[item_id] = asyncio.get_running_loop().call_later(
                self.options.transcription_delay_ms / 1000, self._transcribe, stored,
                str(transcription.get("model") or ""))

    def _transcribe(self, stored: StoredItem, model: str) -> None:
        """No recognizer offline: say what the audio is, never invent words."""
        self._transcriptions.pop(stored.id, None)
        if self.item_store.get(stored.id) is None:
            return  # deleted meanwhile
        seconds = (stored.speech_ms if stored.speech_ms is not None else stored.audio_ms()) / 1000
        what = "speech" if stored.speech_ms is not None else "audio"
        transcript = f"[{what}, {seconds:.1f} s]"
        for index, word in enumerate(transcript.split()):
            self.outbox.emit({"type": "conversation.item.input_audio_transcription.delta",
                              "item_id": stored.id, "content_index": 0,
                              "delta": word if index == 0 else " " + word})
        stored.item["content"][0]["transcript"] = transcript
        self.outbox.emit({
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": stored.id, "content_index": 0, "transcript": transcript,
            "usage": transcription_usage(model, stored.audio_ms(), transcript),
        })

    # -- idle timeout (server_vad idle_timeout_ms; docs/protocol.md#input-audio-and-vad) --

    def _arm_idle(self, run: ResponseRun) -> None:
        settings = self._settings
        if settings is None or settings.idle_timeout_ms is None:
            return
        loop = asyncio.get_running_loop()
        playing = 0.0
        if run.first_audio_at is not None:
            playing = max(0.0, run.first_audio_at + run.audio_ms / 1000 - loop.time())
        self._cancel_idle()
        self._idle = loop.call_later(playing + settings.idle_timeout_ms / 1000, self._idle_fired)

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _idle_fired(self) -> None:
        self._idle = None
        settings = self._settings
        speaking = self._detector is not None and self._detector.speaking
        if settings is None or settings.idle_timeout_ms is None or speaking or self.active:
            return
        item_id = new_id("item")
        self.outbox.emit({"type": "input_audio_buffer.timeout_triggered",
                          "audio_start_ms": int(self.buffer.start_ms),
                          "audio_end_ms": int(self.buffer.end_ms), "item_id": item_id})
        self._commit_audio(item_id, self.buffer.take_all(), speech_ms=None)
        if settings.create_response:
            self.start_response({}, idle_seconds=settings.idle_timeout_ms / 1000)

    # -- conversation items -------------------------------------------------------------

    def _item_create(self, event: JsonDict) -> None:
        raw = event["item"]
        if str(raw["type"]).startswith("mcp_"):
            raise ClientError("invalid_value", f"rt serve does not support '{raw['type']}' items.",
                              "item.type")
        stored = item_from_client(raw)
        previous = self.item_store.insert(stored, event.get("previous_item_id"))
        for kind in ("conversation.item.added", "conversation.item.done"):
            self.outbox.emit({"type": kind, "previous_item_id": previous, "item": stored.public()})

    def _item_retrieve(self, event: JsonDict) -> None:
        stored = self.item_store.require(event["item_id"])
        self.outbox.emit({"type": "conversation.item.retrieved",
                          "item": stored.public(with_audio=True)})

    def _item_delete(self, event: JsonDict) -> None:
        self.item_store.delete(event["item_id"])
        self.outbox.emit({"type": "conversation.item.deleted", "item_id": event["item_id"]})

    def _item_truncate(self, event: JsonDict) -> None:
        item_id = event["item_id"]
        if item_id == "" or self.item_store.get(item_id) is None:
            raise ClientError("item_not_found",
                              f"Item with item_id '{item_id}' not found in the conversation.",
                              "item_id", echo_event_id=False)
        self.item_store.truncate(item_id, event["content_index"], event["audio_end_ms"])
        self.log(f"truncated {item_id} at {event['audio_end_ms']} ms")
        self.outbox.emit({"type": "conversation.item.truncated", "item_id": item_id,
                          "content_index": event["content_index"],
                          "audio_end_ms": event["audio_end_ms"]})

    # -- responses ----------------------------------------------------------------------

    def _response_create(self, event: JsonDict) -> None:
        if self.active is not None:
            raise ClientError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self.active.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        self.start_response(event.get("response", {}))

    def _response_cancel(self, event: JsonDict) -> None:
        wanted = event.get("response_id")
        if self.active is None or (wanted is not None and wanted != self.active.id):
            raise ClientError("response_cancel_not_active",
                              "Cancellation failed: no active response found")
        self.active.cancel("client_cancelled")

    def _output_clear(self, event: JsonDict) -> None:
        raise ClientError(
            "invalid_value",
            "output_audio_buffer.clear is only supported on WebRTC and SIP connections; over "
            "a WebSocket the client owns playback.",
            "type",
        )

    def _context(self, params: JsonDict) -> list[StoredItem]:
        if "input" not in params:
            return list(self.item_store.items)
        items: list[StoredItem] = []
        for index, raw in enumerate(params["input"]):
            if raw["type"] == "item_reference":
                found = self.item_store.get(raw["id"])
                if found is None:
                    raise ClientError("invalid_value", f"Item with id '{raw['id']}' not found.",
                                      f"response.input[{index}].id")
                items.append(found)
            else:
                items.append(item_from_client(raw))
        return items

    def start_response(self, params: JsonDict, *, idle_seconds: float | None = None) -> None:
        """Decide the reply (text or tool call) and start streaming it."""
        context = self._context(params)
        session = self.session

        def pick(key: str, fallback: Any) -> Any:
            return params[key] if key in params else fallback

        output: JsonDict = pick("audio", {}).get("output", {})
        source = latest_input(context, idle_seconds)
        tools = list(pick("tools", session["tools"]))
        tool = choose_tool(tools, pick("tool_choice", session["tool_choice"]),
                           self.options.tool_call, source)
        self.turn += 1
        self._cancel_idle()
        spec = ResponseSpec(
            modalities=list(pick("output_modalities", session["output_modalities"])),
            voice=output.get("voice", session["audio"]["output"]["voice"]),
            speed=float(session["audio"]["output"]["speed"]),
            audio_format=output.get("format", session["audio"]["output"]["format"]),
            max_output_tokens=pick("max_output_tokens", session["max_output_tokens"]),
            metadata=params.get("metadata"),
            in_conversation=pick("conversation", "auto") == "auto",
            instructions=str(pick("instructions", session["instructions"])),
            context=context,
            outputs=self.writer.outputs_for(self.turn, source, tool, tools),
            phases=str(session["model"]).startswith(REASONING_MODEL_PREFIX),
            fault=fault_for(self.options.fail, self.turn),
        )
        self.active = ResponseRun(self._host, spec)
        self.active.start()

    def _response_finished(self, run: ResponseRun) -> None:
        if self.active is run:
            self.active = None
        what = f"{run.audio_ms / 1000:.1f} s audio, \"{run.transcript}\""
        if run.calls:
            what += f", called {', '.join(run.calls)}"
        self.log(f"turn {self.turn}: {run.id} {run.status}, {what}")
        self._arm_idle(run)
