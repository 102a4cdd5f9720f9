"""One response of the model stand-in: the GA event sequence, paced, cancellable at any point.

Audio reply (in this order; docs/protocol.md#responses-and-output-audio):
`response.created` -> per output item: `response.output_item.added` (assistant message,
in_progress) -> `conversation.item.added` -> `response.content_part.added` (part type "audio")
-> `response.output_audio_transcript.delta` / `response.output_audio.delta` interleaved (each
chunk `chunk_ms` long; the transcript runs `TRANSCRIPT_LEAD_MS` ahead of the audio) ->
`response.output_audio.done` -> `response.output_audio_transcript.done` ->
`response.content_part.done` -> `conversation.item.done` -> `response.output_item.done`; then
`response.done` -> `rate_limits.updated`.
Text replies use `response.output_text.delta/.done` and part type "text". A function call item
streams `response.function_call_arguments.delta/.done` instead of content parts. A response may
hold several items (a preamble, then the answer or a call); with a reasoning model
(`gpt-realtime-2...`) each message carries `phase`: "commentary" when other items follow it,
else "final_answer".

Audio goes out in a burst: the first `burst_ms` of the response's audio as fast as the socket
takes it, the rest paced at `pace` times real time. Audio deltas and transcript deltas carry an
`obfuscation` string, as the service's do.

`finish()` emits every pending `.done` event synchronously, so a cancel (barge-in, client
cancel) or a completion always closes the sequence; nothing is sent for that response after
`response.done`. Out-of-band responses (`conversation:"none"`) skip the `conversation.item.*`
events and are not stored.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from realtime_cli.audio.pcm import SAMPLE_WIDTH, SAMPLES_PER_MS, bytes_to_ms
from realtime_cli.protocol.audio_format import b64encode_pcm
from realtime_cli.server.item_store import ItemStore, StoredItem
from realtime_cli.server.replies import Call, OutputPlan
from realtime_cli.server.response_faults import FAILURES, ResponseFault
from realtime_cli.server.speech import SpeechEngine
from realtime_cli.server.usage import Tokens, UsageLedger, audio_tokens, text_tokens, usage_dict
from realtime_cli.server.wire import JsonDict, new_id, padding

TRANSCRIPT_LEAD_MS = 400
REASONING_MODEL_PREFIX = "gpt-realtime-2"


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
    outputs: list[OutputPlan] = field(default_factory=list)
    phases: bool = False  # a reasoning model: messages carry `phase`
    fault: ResponseFault | None = None


@dataclass(slots=True)
class ResponseHost:
    """What a response needs from its connection."""

    emit: Callable[[JsonDict], JsonDict]
    item_store: ItemStore
    ledger: UsageLedger
    speech: SpeechEngine
    pace: float
    chunk_ms: int
    burst_ms: int
    first_audio_delay_ms: float
    on_finished: Callable[[ResponseRun], None]
    on_first_audio: Callable[[], None] = field(default=lambda: None)


def _obfuscation(delta: str) -> str:
    """Random padding like the service's `obfuscation` key (hides the delta's length)."""
    return padding(max(1, 16 - len(delta)))


class ResponseRun:
    def __init__(self, host: ResponseHost, spec: ResponseSpec) -> None:
        self.host = host
        self.spec = spec
        self.id = new_id("resp")
        self.status = "in_progress"
        self.finished = False
        self.task: asyncio.Task[None] | None = None
        self.items: list[StoredItem] = []  # every output item so far, in order
        self.item: StoredItem | None = None  # the item being streamed
        self.first_audio_at: float | None = None
        self._audio = "audio" in spec.modalities
        self._words_sent: list[str] = []
        self._audio_sent = bytearray()
        self._arguments_sent = ""
        self._part_open = False
        self._said: list[str] = []  # transcripts of the closed messages
        self._output = Tokens()  # output tokens of the closed items
        self._streamed_ms = 0.0  # audio sent by this response, all items
        self._text_steps = 0
        self._started = 0.0
        self._input = Tokens()
        self._cached = Tokens()
        self._failure: JsonDict | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Emit `response.created` now; stream in a task."""
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        self._input, self._cached = self.host.ledger.input_usage(
            self.spec.instructions, self.spec.context
        )
        self.host.emit({"type": "response.created", "response": self.snapshot()})
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
                self._failure = {"type": "server_error", "code": None,
                                 "message": f"{type(exc).__name__}: {exc}"}
                self.finish("failed")

    async def _produce(self) -> None:
        fault = self.spec.fault
        if fault is not None and fault.failed:
            self._failure = dict(FAILURES[fault.kind])
            self.finish("failed")
            return
        plans = self.spec.outputs
        for index, plan in enumerate(plans):
            cut = fault.kind if fault is not None and index == len(plans) - 1 else None
            if isinstance(plan, Call):
                self._function_call(plan)
                self._close_item("completed")
                continue
            pcm = b""
            if self._audio:
                voice = self.spec.voice
                pcm = await self.host.speech.synthesize(
                    plan.text, voice if isinstance(voice, str) else "alloy", self.spec.speed)
            self._open_message(self._phase(index))
            if not await self._stream(plan.text.split(), pcm, cut):
                return
            self._close_item("completed")
        self.finish("completed")

    def _phase(self, index: int) -> str | None:
        """A reasoning model marks a message that other items follow as a preamble."""
        if not self.spec.phases:
            return None
        return "commentary" if index < len(self.spec.outputs) - 1 else "final_answer"

    # -- streaming --------------------------------------------------------------------

    def _base(self) -> JsonDict:
        assert self.item is not None
        return {"response_id": self.id, "item_id": self.item.id,
                "output_index": len(self.items) - 1}

    def _add_item(self, item: JsonDict) -> None:
        self.item = StoredItem(item)
        self.items.append(self.item)
        self.host.emit({"type": "response.output_item.added", "response_id": self.id,
                        "output_index": len(self.items) - 1, "item": self.item.public()})
        if self.spec.in_conversation:
            previous = self.host.item_store.insert(self.item)
            self.host.emit({"type": "conversation.item.added", "previous_item_id": previous,
                            "item": self.item.public()})

    def _open_message(self, phase: str | None) -> None:
        item: JsonDict = {"id": new_id("item"), "object": "realtime.item", "type": "message",
                          "status": "in_progress", "role": "assistant", "content": []}
        if phase is not None:
            item["phase"] = phase
        self._add_item(item)
        part = {"type": "audio", "transcript": ""} if self._audio else {"type": "text", "text": ""}
        self.host.emit({"type": "response.content_part.added", **self._base(),
                        "content_index": 0, "part": part})
        self._part_open = True
        if self._audio:  # stored from now on, so a truncate can cut what was sent so far
            item["content"] = [{"type": "output_audio", "transcript": None}]

    async def _stream(self, words: list[str], pcm: bytes, cut: str | None) -> bool:
        """Send words (and audio chunks); False when the response ended early (incomplete)."""
        chunk = self.host.chunk_ms * SAMPLES_PER_MS * SAMPLE_WIDTH
        chunks = [pcm[i : i + chunk] for i in range(0, len(pcm), chunk)] if pcm else []
        if cut is not None:  # the answer stops half way: what was sent so far stays
            chunks = chunks[: max(1, len(chunks) // 2)]
            words = words[: max(1, len(words) // 2)]
        steps = max(len(chunks), len(words), 1)
        lead = math.ceil(TRANSCRIPT_LEAD_MS / self.host.chunk_ms) if chunks else 0
        loop = asyncio.get_running_loop()
        for step in range(steps):
            due_words = min(len(words), math.ceil((step + 1 + lead) * len(words) / steps))
            while len(self._words_sent) < due_words:
                self._send_word(words[len(self._words_sent)])
            if step < len(chunks):
                if self.first_audio_at is None and self.host.first_audio_delay_ms > 0:
                    await asyncio.sleep(self.host.first_audio_delay_ms / 1000)
                self._send_audio(chunks[step], loop.time())
            if self._over_budget():
                self.finish("incomplete", "max_output_tokens")
                return False
            await self._pace(loop, bool(chunks))
        if cut is not None:
            self.finish("incomplete", cut)
            return False
        return True

    async def _pace(self, loop: asyncio.AbstractEventLoop, audio: bool) -> None:
        """Audio: the first `burst_ms` at once, then `pace` times real time; text: a word per
        50 ms of real time over `pace`."""
        if self.host.pace <= 0:
            await asyncio.sleep(0)
            return
        if audio:
            assert self.first_audio_at is not None
            paced_ms = max(0.0, self._streamed_ms - self.host.burst_ms)
            due = self.first_audio_at + paced_ms / 1000.0 / self.host.pace
        else:
            self._text_steps += 1
            due = self._started + self._text_steps * 0.05 / self.host.pace
        await asyncio.sleep(max(0.0, due - loop.time()))

    def _send_word(self, word: str) -> None:
        delta = word if not self._words_sent else " " + word
        self._words_sent.append(word)
        kind = "response.output_audio_transcript.delta" if self._audio else (
            "response.output_text.delta")
        self.host.emit({"type": kind, **self._base(), "content_index": 0, "delta": delta,
                        "obfuscation": _obfuscation(delta)})

    def _send_audio(self, chunk: bytes, now: float) -> None:
        assert self.item is not None
        if self.first_audio_at is None:
            self.first_audio_at = now
            self.host.on_first_audio()
        self._audio_sent += chunk
        self._streamed_ms += bytes_to_ms(len(chunk))
        if not self.item.truncated:
            self.item.audio[0] = bytes(self._audio_sent)
        delta = b64encode_pcm(chunk)
        self.host.emit({"type": "response.output_audio.delta", **self._base(),
                        "content_index": 0, "delta": delta, "obfuscation": _obfuscation(delta)})

    def _over_budget(self) -> bool:
        limit = self.spec.max_output_tokens
        return isinstance(limit, int) and (self._output + self._item_tokens()).total >= limit

    def _function_call(self, plan: Call) -> None:
        name = str(plan.tool["name"])
        call_id = new_id("call", 16)
        self._add_item({"id": new_id("item"), "object": "realtime.item",
                        "type": "function_call", "status": "in_progress",
                        "name": name, "call_id": call_id, "arguments": ""})
        args = plan.arguments
        step = max(1, math.ceil(len(args) / 3))
        for start in range(0, len(args), step):
            delta = args[start : start + step]
            self._arguments_sent += delta
            self.host.emit({"type": "response.function_call_arguments.delta", **self._base(),
                            "call_id": call_id, "delta": delta})
        self.host.emit({"type": "response.function_call_arguments.done", **self._base(),
                        "call_id": call_id, "name": name, "arguments": args})

    # -- the end ----------------------------------------------------------------------

    def _item_tokens(self) -> Tokens:
        """Output tokens of the item being streamed."""
        if self.item is None:
            return Tokens()
        if self.item.item["type"] == "function_call":
            return Tokens(text=text_tokens(str(self.item.item["name"]) + self._arguments_sent))
        text = text_tokens(" ".join(self._words_sent))
        return Tokens(text=text, audio=audio_tokens(bytes_to_ms(len(self._audio_sent))))

    def finish(self, status: str, reason: str | None = None) -> None:
        """Emit every pending `.done` event, `response.done` and `rate_limits.updated`;
        idempotent."""
        if self.finished:
            return
        self.finished = True
        self.status = status
        if self.item is not None:
            self._close_item(status)
        loop = asyncio.get_running_loop()
        details: JsonDict | None = None
        usage: JsonDict | None = None
        if status == "failed":  # the model never ran: nothing billed (unverified)
            details = {"type": "failed", "error": self._failure or {
                "type": "server_error", "code": None, "message": "failed"}}
        else:
            usage = usage_dict(self._input, self._cached, self._output)
            self.host.ledger.spend(loop.time(), self._input.total + self._output.total)
            if status != "completed":
                details = {"type": status, "reason": reason}
        self.host.emit({"type": "response.done",
                        "response": self.snapshot(status=status, details=details, usage=usage)})
        limited = self.spec.fault is not None and self.spec.fault.kind == "rate_limit"
        self.host.emit({"type": "rate_limits.updated", "rate_limits": [
            self.host.ledger.rate_limits(loop.time(), exhausted=limited)]})
        self.host.on_finished(self)

    def _close_item(self, status: str) -> None:
        assert self.item is not None
        stored = self.item
        item = stored.item
        base = self._base()
        if self._part_open:
            transcript = " ".join(self._words_sent)
            self._said.append(transcript)
            if self._audio:
                self.host.emit({"type": "response.output_audio.done", **base, "content_index": 0})
                self.host.emit({"type": "response.output_audio_transcript.done", **base,
                                "content_index": 0, "transcript": transcript})
                part: JsonDict = {"type": "audio", "transcript": transcript}
                if not stored.truncated:  # a truncated item keeps its cut and loses its text
                    item["content"] = [{"type": "output_audio", "transcript": transcript}]
                    stored.audio[0] = bytes(self._audio_sent)
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
        self._output += self._item_tokens()
        self.host.ledger.bill_output(stored)
        kept = self.host.item_store.get(stored.id) if self.spec.in_conversation else None
        if kept is not None:
            self.host.emit({"type": "conversation.item.done",
                            "previous_item_id": self.host.item_store.previous_id(kept.id),
                            "item": kept.public()})
        self.host.emit({"type": "response.output_item.done", "response_id": self.id,
                        "output_index": base["output_index"], "item": stored.public()})
        self.item = None
        self._words_sent = []
        self._audio_sent = bytearray()
        self._arguments_sent = ""
        self._part_open = False

    @property
    def audio_ms(self) -> float:
        return self._streamed_ms

    @property
    def transcript(self) -> str:
        return " ".join([*self._said, *self._words_sent]).strip()

    @property
    def calls(self) -> list[str]:
        """Names of the functions this response called."""
        return [str(s.item["name"]) for s in self.items if s.item["type"] == "function_call"]

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
            "output": [s.public() for s in self.items] if self.finished else [],
            "conversation_id": self.host.item_store.id if spec.in_conversation else None,
            "output_modalities": list(spec.modalities),
            "max_output_tokens": spec.max_output_tokens,
            "audio": {"output": {"format": spec.audio_format, "voice": voice}},
            "usage": usage,
            "metadata": spec.metadata,
        }
