"""A small Gemini Live client for `rt serve --protocol gemini` over a real loopback socket.

Every message it sends is checked against `google.genai.types.LiveClientMessage` first, and
every message it receives against `LiveServerMessage` (`tests/gemini_conformance.py`), unless
sent with `send_unchecked` (messages the service refuses on purpose). Server messages must come
as binary frames, as the service sends them. Waits are bounded: `wait_for` fails after
`within` seconds instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import soxr
from gemini_conformance import validate_client_message, validate_server_message
from websockets.asyncio.client import ClientConnection, connect

from realtime_cli.audio.pcm import SAMPLE_RATE
from realtime_cli.protocol.audio_format import b64encode_pcm

Message = dict[str, Any]
TIMEOUT = 10.0
MIC_RATE = 16_000
MODEL = "models/gemini-2.5-flash-native-audio-preview-12-2025"
BASE_SETUP: Message = {"model": MODEL, "generationConfig": {"responseModalities": ["AUDIO"]},
                       "inputAudioTranscription": {}, "outputAudioTranscription": {},
                       "sessionResumption": {}}


def at(message: Message, path: str) -> Any:
    """The value at a dotted path (`serverContent.turnComplete`), None when absent."""
    value: Any = message
    for name in path.split("."):
        if not isinstance(value, dict) or name not in value:
            return None
        value = value[name]
    return value


def to_rate(pcm: bytes, rate: int) -> bytes:
    """24 kHz PCM16 test speech at the rate a microphone client would send."""
    samples = np.frombuffer(pcm, dtype="<i2")
    return bytes(np.asarray(soxr.resample(samples, SAMPLE_RATE, rate), dtype="<i2").tobytes())


class GeminiClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[Message] = []

    async def send(self, message: Message) -> None:
        validate_client_message(message)
        await self.ws.send(json.dumps(message))

    async def send_unchecked(self, message: Message) -> None:
        await self.ws.send(json.dumps(message))

    async def send_audio(self, pcm24k: bytes, rate: int = MIC_RATE, chunk_ms: int = 100) -> None:
        pcm = to_rate(pcm24k, rate) if rate != SAMPLE_RATE else pcm24k
        step = chunk_ms * rate // 1000 * 2
        for start in range(0, len(pcm), step):
            await self.send({"realtimeInput": {"audio": {
                "data": b64encode_pcm(pcm[start:start + step]),
                "mimeType": f"audio/pcm;rate={rate}"}}})

    async def say(self, text: str) -> None:
        """A typed user turn, answered at once."""
        await self.send({"clientContent": {"turns": [{"role": "user", "parts": [{"text": text}]}],
                                           "turnComplete": True}})

    async def recv(self, within: float = TIMEOUT) -> Message:
        frame = await asyncio.wait_for(self.ws.recv(), within)
        assert isinstance(frame, bytes), f"server messages come as binary frames: {frame!r:.80}"
        message: Message = json.loads(frame)
        validate_server_message(message)
        self.received.append(message)
        return message

    async def wait_for(self, path: str, *, within: float = TIMEOUT,
                       where: Callable[[Message], bool] = lambda m: True) -> Message:
        """Read until a message with a value at `path` (matching `where`); earlier ones are kept."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            left = deadline - loop.time()
            if left <= 0:
                seen = [list(m) + list(m.get("serverContent", {})) for m in self.received[-10:]]
                raise AssertionError(f"no {path} within {within} s; last messages: {seen}")
            message = await self.recv(left)
            if at(message, path) is not None and where(message):
                return message

    async def turn(self, *, within: float = TIMEOUT) -> list[Message]:
        """The messages from now up to and including the next `turnComplete`."""
        start = len(self.received)
        await self.wait_for("serverContent.turnComplete", within=within)
        return self.received[start:]


def said(messages: list[Message]) -> str:
    return "".join(at(m, "serverContent.outputTranscription.text") or "" for m in messages).strip()


def audio_bytes(messages: list[Message]) -> int:
    import base64

    return sum(len(base64.b64decode(part["inlineData"]["data"]))
               for m in messages for part in at(m, "serverContent.modelTurn.parts") or []
               if "inlineData" in part)


@asynccontextmanager
async def gemini_client(url: str, *, key: str | None = "test-key", setup: Message | None = None,
                        headers: dict[str, str] | None = None,
                        ready: bool = True) -> AsyncIterator[GeminiClient]:
    """Connect with `?key=` (none when `key` is None) and, if `ready`, send `setup` (the
    base setup by default) and read `setupComplete`."""
    full = f"{url}?key={key}" if key is not None else url
    async with connect(full, additional_headers=headers, max_size=None, compression=None) as ws:
        client = GeminiClient(ws)
        if ready:
            await client.send({"setup": setup if setup is not None else BASE_SETUP})
            await client.wait_for("setupComplete")
        yield client
