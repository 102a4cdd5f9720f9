"""One model turn of the Gemini twin: audio parts, transcription, tool calls, cancellable.

Audio turn, as the service sends it (docs/protocol.md#rt-serve---protocol-gemini):
`serverContent.modelTurn` messages with one 24 kHz PCM16 `inlineData` part each (`chunk_ms`
long), `serverContent.outputTranscription` words running ahead of the audio, then
`generationComplete`; `turnComplete` (with this turn's `usageMetadata` in the same message)
follows once the audio would have played, since the model waits for playback. A barge-in sends
`interrupted` then `turnComplete`, with no `generationComplete`. A turn that calls functions
ends with one `toolCall` message holding them all, then `turnComplete`. Text turns
(`responseModalities: ["TEXT"]`) send `modelTurn` text parts instead of audio.

Audio goes out as the OpenAI twin's does: the first `burst_ms` at once, the rest at `pace`
times real time (0: as fast as the socket takes it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from realtime_cli.audio.pcm import SAMPLE_WIDTH, SAMPLES_PER_MS, bytes_to_ms
from realtime_cli.server.gemini import messages
from realtime_cli.server.gemini.session import Entry, LiveSession, call_arguments, usage_metadata
from realtime_cli.server.gemini.setup import LiveSetup
from realtime_cli.server.replies import Call, OutputPlan
from realtime_cli.server.responses import TRANSCRIPT_LEAD_MS
from realtime_cli.server.speech import SpeechEngine
from realtime_cli.server.usage import text_tokens
from realtime_cli.server.wire import JsonDict, new_id

WORDS_PER_TEXT_PART = 3
TEXT_STEP_S = 0.05  # one text part per 50 ms of real time over `pace`


@dataclass(slots=True)
class TurnHost:
    """What a model turn needs from its connection."""

    send: Callable[[JsonDict], object]
    speech: SpeechEngine
    pace: float
    chunk_ms: int
    burst_ms: int
    first_audio_delay_ms: float
    on_finished: Callable[[ModelTurn], None]


class ModelTurn:
    def __init__(self, host: TurnHost, session: LiveSession, setup: LiveSetup,
                 plans: list[OutputPlan]) -> None:
        self.host = host
        self.session = session
        self.setup = setup
        self.plans = plans
        self.status = "in_progress"
        self.finished = False
        self.generation_complete = False
        self.calls: list[JsonDict] = []
        self.task: asyncio.Task[None] | None = None
        self.first_audio_at: float | None = None
        self._prompt = (0, 0)
        self._said: list[str] = []
        self._audio_ms = 0.0
        self._text_parts = 0

    @property
    def audio_ms(self) -> float:
        return self._audio_ms

    @property
    def transcript(self) -> str:
        return " ".join(self._said)

    def start(self) -> None:
        self._prompt = self.session.prompt_tokens(self.setup.instructions)
        self.task = asyncio.get_running_loop().create_task(self._run(), name="rt-serve gemini turn")

    def interrupt(self) -> None:
        """A barge-in: `interrupted`, then `turnComplete`; what was sent stays in the session."""
        if self.finished:
            return
        self._stop_task()
        self.host.send(messages.content(interrupted=True))
        self._finish("interrupted")

    def abort(self) -> None:
        """The socket is gone: stop silently, keeping what was sent in the session."""
        if not self.finished:
            self._stop_task()
            self._record()
            self.finished = True

    def _stop_task(self) -> None:
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    async def _run(self) -> None:
        audio = self.setup.modality == "AUDIO"
        calls: list[JsonDict] = []
        for plan in self.plans:
            if isinstance(plan, Call):
                calls.append({"id": new_id("call", 12), "name": str(plan.tool.get("name")),
                              "args": call_arguments(plan.arguments)})
            elif audio:
                pcm = await self.host.speech.synthesize(plan.text, self.setup.voice.lower())
                await self._stream_audio(plan.text.split(), pcm)
            else:
                await self._stream_text(plan.text.split())
        if calls:
            self.calls = calls
            self.host.send(messages.tool_call(calls))
            for call in calls:
                self.session.pending_calls[call["id"]] = call["name"]
        else:
            self.generation_complete = True
            self.host.send(messages.content(generationComplete=True))
            await self._wait_for_playback()
        self._finish("completed")

    async def _stream_audio(self, words: list[str], pcm: bytes) -> None:
        loop = asyncio.get_running_loop()
        total_ms = bytes_to_ms(len(pcm))
        step = self.host.chunk_ms * SAMPLES_PER_MS * SAMPLE_WIDTH
        sent_words = 0
        for offset in range(0, len(pcm), step):
            position_ms = bytes_to_ms(offset) + self.host.chunk_ms + TRANSCRIPT_LEAD_MS
            due_words = len(words) if total_ms <= 0 else min(
                len(words), int(len(words) * position_ms / total_ms))
            if self.setup.output_transcription and due_words > sent_words:
                text = " ".join(words[sent_words:due_words])
                self.host.send(messages.content(outputTranscription={"text": " " + text}))
            self._said.extend(words[sent_words:due_words])
            sent_words = max(sent_words, due_words)
            if self.first_audio_at is None:
                if self.host.first_audio_delay_ms > 0:
                    await asyncio.sleep(self.host.first_audio_delay_ms / 1000)
                self.first_audio_at = loop.time()
            chunk = pcm[offset:offset + step]
            self.host.send(messages.audio_part(chunk))
            self._audio_ms += bytes_to_ms(len(chunk))
            await self._pace(loop)

    async def _stream_text(self, words: list[str]) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index in range(0, len(words), WORDS_PER_TEXT_PART):
            part = words[index:index + WORDS_PER_TEXT_PART]
            self.host.send(messages.text_part((" " if index else "") + " ".join(part)))
            self._said.extend(part)
            self._text_parts += 1
            if self.host.pace <= 0:
                await asyncio.sleep(0)
            else:
                due = start + self._text_parts * TEXT_STEP_S / self.host.pace
                await asyncio.sleep(max(0.0, due - loop.time()))

    async def _pace(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.host.pace <= 0:
            await asyncio.sleep(0)
            return
        assert self.first_audio_at is not None
        paced_ms = max(0.0, self._audio_ms - self.host.burst_ms)
        due = self.first_audio_at + paced_ms / 1000.0 / self.host.pace
        await asyncio.sleep(max(0.0, due - loop.time()))

    async def _wait_for_playback(self) -> None:
        """The model waits until its audio has played (at `pace`) before `turnComplete`."""
        if self.first_audio_at is None or self.host.pace <= 0:
            return
        loop = asyncio.get_running_loop()
        due = self.first_audio_at + self._audio_ms / 1000.0 / self.host.pace
        await asyncio.sleep(max(0.0, due - loop.time()))

    def _response_tokens(self) -> tuple[int, int]:
        from realtime_cli.server.gemini.session import audio_tokens

        text = text_tokens(self.transcript) if self.setup.modality == "TEXT" else 0
        text += sum(text_tokens(str(call)) for call in self.calls)
        return text, audio_tokens(self._audio_ms)

    def _record(self) -> None:
        if self._said or self._audio_ms:
            self.session.history.append(Entry("model", text=self.transcript, audio_ms=self._audio_ms))
        self.session.history.extend(Entry("model", call=dict(call)) for call in self.calls)

    def _finish(self, status: str) -> None:
        self.finished = True
        self.status = status
        self._record()
        usage = usage_metadata(self._prompt, self._response_tokens())
        self.host.send({**messages.content(turnComplete=True), "usageMetadata": usage})
        self.host.on_finished(self)
