"""One response of the model stand-in: the GA event sequence, paced, cancellable at any point.

Audio reply (in this order; docs/protocol.md#responses-and-output-audio):
`response.created` -> `rate_limits.updated` -> `response.output_item.added` (assistant message,
in_progress) -> `conversation.item.added` -> `response.content_part.added` (part type "audio")
-> `response.output_audio_transcript.delta` / `response.output_audio.delta` interleaved (each
chunk `chunk_ms` long; the words of a chunk go just before it) -> `response.output_audio.done`
-> `response.output_audio_transcript.done` -> `response.content_part.done` ->
`conversation.item.done` -> `response.output_item.done` -> `response.done`.
Text replies use `response.output_text.delta/.done` and part type "text". A tool call streams
`response.function_call_arguments.delta/.done` instead of content parts.

`finish()` emits every pending `.done` event synchronously, so a cancel (barge-in, client
cancel) or a completion always closes the sequence; nothing is sent for that response after
`response.done`. Out-of-band responses (`conversation:"none"`) skip the `conversation.item.*`
events and are not stored.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from realtime_cli.audio.pcm import SAMPLE_WIDTH, SAMPLES_PER_MS, bytes_to_ms
from realtime_cli.protocol.audio_format import b64encode_pcm
from realtime_cli.server.item_store import ItemStore, StoredItem
from realtime_cli.server.speech import SpeechEngine
from realtime_cli.server.usage import Tokens, UsageLedger, audio_tokens, text_tokens, usage_dict
from realtime_cli.server.wire import JsonDict, new_id


@dataclass(slots=True)
class ResponseSpec:
    """Everything decided before the response starts (see `Connection.start_response`)."""

    modalities: list[str]
    voice: Any
    speed: float
    audio_format: JsonDict
    max_output_tokens: Any
    metadata: Any
    in_conversation: bool
    instructions: str
    context: list[StoredItem]
    text: str = ""
    tool: JsonDict | None = None
    arguments: str = ""


@dataclass(slots=True)
class ResponseHost:
    """What a response needs from its connection."""

    emit: Callable[[JsonDict], JsonDict]
    item_store: ItemStore
    ledger: UsageLedger
    speech: SpeechEngine
    pace: float
    chunk_ms: int
    on_finished: Callable[[ResponseRun], None]
    on_first_audio: Callable[[], None] = field(default=lambda: None)


def _obfuscation(delta: str) -> str:
    """Random padding like the service's `obfuscation` key (hides the delta's length)."""
    return secrets.token_urlsafe(max(2, 12 - len(delta)))[: max(1, 16 - len(delta))]


class ResponseRun:
    def __init__(self, host: ResponseHost, spec: ResponseSpec) -> None:
        self.host = host
        self.spec = spec
        self.id = new_id("resp")
        self.status = "in_progress"
        self.finished = False
        self.task: asyncio.Task[None] | None = None
        self.item: StoredItem | None = None
        self._audio = "audio" in spec.modalities
        self._words_sent: list[str] = []
        self._audio_sent = bytearray()
        self._arguments_sent = ""
        self._part_open = False
        self.first_audio_at: float | None = None
        self._input = Tokens()
        self._cached = Tokens()
        self._failure = ""

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Emit `response.created` and `rate_limits.updated` now; stream in a task."""
        loop = asyncio.get_running_loop()
        self._input, self._cached = self.host.ledger.input_usage(
            self.spec.instructions, self.spec.context
        )
        self.host.emit({"type": "response.created", "response": self.snapshot()})
        self.host.emit(
            {"type": "rate_limits.updated",
             "rate_limits": [self.host.ledger.rate_limits(loop.time())]}
        )
        self.task = loop.create_task(self._run(), name=f"rt-serve {self.id}")

    def cancel(self, reason: str) -> None:
        """Stop now with `status:"cancelled"` (`turn_detected` or `client_cancelled`)."""
        if not self.finished:
            self._stop_task()
            self.finish("cancelled", reason)

    def abort(self) -> None:
        """Stop silently (the socket is closing)."""
        self.finished = True
        self._stop_task()

    def _stop_task(self) -> None:
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    async def _run(self) -> None:
        try:
            await self._produce()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must end the response, not the connection
            if not self.finished:
                self._failure = f"{type(exc).__name__}: {exc}"
                self.finish("failed")

    async def _produce(self) -> None:
        if self.spec.tool is not None:
            self._function_call()
            self.finish("completed")
            return
        pcm = b""
        if self._audio:
            pcm = await self.host.speech.synthesize(
                self.spec.text, str(self.spec.voice) if isinstance(self.spec.voice, str)
                else "alloy", self.spec.speed,
            )
        self._open_message()
        if await self._stream(self.spec.text.split(), pcm):
            self.finish("completed")

    # -- streaming --------------------------------------------------------------------

    def _base(self) -> JsonDict:
        assert self.item is not None
        return {"response_id": self.id, "item_id": self.item.id, "output_index": 0}

    def _add_item(self, item: JsonDict) -> None:
        self.item = StoredItem(item)
        self.host.emit({"type": "response.output_item.added", "response_id": self.id,
                        "output_index": 0, "item": self.item.public()})
        if self.spec.in_conversation:
            previous = self.host.item_store.insert(self.item)
            self.host.emit({"type": "conversation.item.added", "previous_item_id": previous,
                            "item": self.item.public()})

    def _open_message(self) -> None:
        self._add_item({"id": new_id("item"), "object": "realtime.item", "type": "message",
                        "status": "in_progress", "role": "assistant", "content": []})
        part = {"type": "audio", "transcript": ""} if self._audio else {"type": "text", "text": ""}
        self.host.emit({"type": "response.content_part.added", **self._base(),
                        "content_index": 0, "part": part})
        self._part_open = True

    async def _stream(self, words: list[str], pcm: bytes) -> bool:
        """Send words (and audio chunks); False when stopped by `max_output_tokens`."""
        chunk = self.host.chunk_ms * SAMPLES_PER_MS * SAMPLE_WIDTH
        chunks = [pcm[i : i + chunk] for i in range(0, len(pcm), chunk)] if pcm else []
        steps = max(len(chunks), len(words), 1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for step in range(steps):
            due_words = math.ceil((step + 1) * len(words) / steps)
            while len(self._words_sent) < due_words:
                self._send_word(words[len(self._words_sent)])
            if step < len(chunks):
                self._send_audio(chunks[step], loop.time())
            if self._over_budget():
                self.finish("incomplete", "max_output_tokens")
                return False
            await self._pace(loop, started, step + 1, bool(chunks))
        return True

    async def _pace(self, loop: asyncio.AbstractEventLoop, started: float, done: int,
                    audio: bool) -> None:
        if self.host.pace <= 0:
            await asyncio.sleep(0)
            return
        step_s = (self.host.chunk_ms if audio else 50) / 1000.0
        await asyncio.sleep(max(0.0, started + done * step_s / self.host.pace - loop.time()))

    def _send_word(self, word: str) -> None:
        delta = word if not self._words_sent else " " + word
        self._words_sent.append(word)
        kind = "response.output_audio_transcript.delta" if self._audio else (
            "response.output_text.delta")
        self.host.emit({"type": kind, **self._base(), "content_index": 0, "delta": delta,
                        "obfuscation": _obfuscation(delta)})

    def _send_audio(self, chunk: bytes, now: float) -> None:
        if self.first_audio_at is None:
            self.first_audio_at = now
            self.host.on_first_audio()
        self._audio_sent += chunk
        self.host.emit({"type": "response.output_audio.delta", **self._base(),
                        "content_index": 0, "delta": b64encode_pcm(chunk)})

    def _over_budget(self) -> bool:
        limit = self.spec.max_output_tokens
        return isinstance(limit, int) and self._output_tokens().total >= limit

    def _function_call(self) -> None:
        tool = self.spec.tool
        assert tool is not None
        call_id = new_id("call", 16)
        self._add_item({"id": new_id("item"), "object": "realtime.item",
                        "type": "function_call", "status": "in_progress",
                        "name": tool["name"], "call_id": call_id, "arguments": ""})
        args = self.spec.arguments
        step = max(1, math.ceil(len(args) / 3))
        for start in range(0, len(args), step):
            delta = args[start : start + step]
            self._arguments_sent += delta
            self.host.emit({"type": "response.function_call_arguments.delta", **self._base(),
                            "call_id": call_id, "delta": delta})
        self.host.emit({"type": "response.function_call_arguments.done", **self._base(),
                        "call_id": call_id, "name": tool["name"], "arguments": args})

    # -- the end ----------------------------------------------------------------------

    def _output_tokens(self) -> Tokens:
        if self.spec.tool is not None:
            return Tokens(text=text_tokens(str(self.spec.tool["name"]) + self._arguments_sent))
        text = text_tokens(" ".join(self._words_sent))
        return Tokens(text=text, audio=audio_tokens(bytes_to_ms(len(self._audio_sent))))

    def finish(self, status: str, reason: str | None = None) -> None:
        """Emit every pending `.done` event and `response.done`; idempotent."""
        if self.finished:
            return
        self.finished = True
        self.status = status
        if self.item is not None:
            self._close_item(status)
        usage = usage_dict(self._input, self._cached, self._output_tokens())
        self.host.ledger.spend(asyncio.get_running_loop().time(),
                               self._input.total + self._output_tokens().total)
        details: JsonDict | None = None
        if status == "failed":
            details = {"type": "failed", "error": {"type": "server_error", "code": None,
                                                   "message": self._failure or "failed"}}
        elif status != "completed":
            details = {"type": status, "reason": reason}
        self.host.emit({"type": "response.done",
                        "response": self.snapshot(status=status, details=details, usage=usage)})
        self.host.on_finished(self)

    def _close_item(self, status: str) -> None:
        assert self.item is not None
        item = self.item.item
        base = self._base()
        if self._part_open:
            transcript = " ".join(self._words_sent)
            if self._audio:
                self.host.emit({"type": "response.output_audio.done", **base, "content_index": 0})
                self.host.emit({"type": "response.output_audio_transcript.done", **base,
                                "content_index": 0, "transcript": transcript})
                part: JsonDict = {"type": "audio", "transcript": transcript}
                item["content"] = [{"type": "output_audio", "transcript": transcript}]
                self.item.audio[0] = bytes(self._audio_sent)
            else:
                self.host.emit({"type": "response.output_text.done", **base,
                                "content_index": 0, "text": transcript})
                part = {"type": "text", "text": transcript}
                item["content"] = [{"type": "output_text", "text": transcript}]
            self.host.emit({"type": "response.content_part.done", **base, "content_index": 0,
                            "part": part})
        else:
            item["arguments"] = self._arguments_sent
        item["status"] = "completed" if status == "completed" else "incomplete"
        self.host.ledger.bill_output(self.item)
        stored = self.host.item_store.get(self.item.id) if self.spec.in_conversation else None
        if stored is not None:
            self.host.emit({"type": "conversation.item.done",
                            "previous_item_id": self.host.item_store.previous_id(stored.id),
                            "item": stored.public()})
        self.host.emit({"type": "response.output_item.done", "response_id": self.id,
                        "output_index": 0, "item": self.item.public()})

    @property
    def audio_ms(self) -> float:
        return bytes_to_ms(len(self._audio_sent))

    @property
    def transcript(self) -> str:
        return " ".join(self._words_sent)

    def snapshot(
        self, *, status: str = "in_progress", details: JsonDict | None = None,
        usage: JsonDict | None = None,
    ) -> JsonDict:
        spec = self.spec
        voice = spec.voice if isinstance(spec.voice, str) else str(spec.voice.get("id"))
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": details,
            "output": [self.item.public()] if self.item is not None and self.finished else [],
            "conversation_id": self.host.item_store.id if spec.in_conversation else None,
            "output_modalities": list(spec.modalities),
            "max_output_tokens": spec.max_output_tokens,
            "audio": {"output": {"format": spec.audio_format, "voice": voice}},
            "usage": usage,
            "metadata": spec.metadata,
        }
