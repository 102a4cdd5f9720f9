"""A small test client for `rt serve` over a real loopback socket.

Every JSON event it receives is checked against the `openai` package's models (and the
unknown-key check of `tests/conformance.py`) unless `conformance=False` (garbage mode).
Waits are bounded: `wait_for` fails after `within` seconds instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from conformance import validate_server_event
from websockets.asyncio.client import ClientConnection, connect

from realtime_cli.audio.pcm import silence
from realtime_cli.protocol.audio_format import b64encode_pcm
from realtime_cli.server.speech import espeak_wav_to_pcm, synthetic_voice

Event = dict[str, Any]
TIMEOUT = 10.0


def speech_pcm(text: str) -> bytes:
    """Real speech at 24 kHz: espeak-ng (22050 Hz WAV) resampled with soxr."""
    exe = shutil.which("espeak-ng")
    if exe is None:  # keeps the suite usable without espeak-ng; Silero hears it as speech too
        return synthetic_voice(text)
    wav = subprocess.run(
        [exe, "-v", "en-us", "-s", "160", "--stdout", text], capture_output=True, check=True
    ).stdout
    return espeak_wav_to_pcm(wav)


def utterance(text: str = "Hello there, this is a test of the voice detector.",
              trailing_silence_ms: float = 800) -> bytes:
    return silence(300) + speech_pcm(text) + silence(trailing_silence_ms)


class RtClient:
    def __init__(self, ws: ClientConnection, *, conformance: bool = True) -> None:
        self.ws = ws
        self.conformance = conformance
        self.events: list[Event] = []
        self.junk: list[str | bytes] = []
        self._sent = 0

    async def send(self, event: Event) -> str:
        """Send one event with a fresh `event_id` unless it has one; returns the id."""
        self._sent += 1
        event = {"event_id": f"evt_test_{self._sent}", **event}
        await self.ws.send(json.dumps(event))
        return str(event["event_id"])

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def append_audio(self, pcm: bytes, chunk_ms: int = 100) -> None:
        step = chunk_ms * 48
        for start in range(0, len(pcm), step):
            await self.send({"type": "input_audio_buffer.append",
                             "audio": b64encode_pcm(pcm[start : start + step])})

    async def recv(self, within: float = TIMEOUT) -> Event:
        """The next JSON event (junk frames are kept in `self.junk` and skipped)."""
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), within)
            try:
                event: Event = json.loads(frame)
            except (ValueError, TypeError):
                if self.conformance:
                    raise AssertionError(f"server sent a non-JSON frame: {frame!r:.80}") from None
                self.junk.append(frame)
                continue
            if self.conformance:
                validate_server_event(event)
            elif event.get("type") == "rt_serve.garbage":
                self.junk.append(frame)
                continue
            self.events.append(event)
            return event

    async def wait_for(
        self, type_: str, *, within: float = TIMEOUT,
        where: Callable[[Event], bool] = lambda e: True,
    ) -> Event:
        """Read until an event of `type_` (matching `where`) arrives; earlier ones are kept."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            left = deadline - loop.time()
            if left <= 0:
                seen = [e["type"] for e in self.events[-15:]]
                raise AssertionError(f"no {type_} within {within} s; last events: {seen}")
            event = await self.recv(left)
            if event["type"] == type_ and where(event):
                return event

    async def find(self, type_: str, *, within: float = TIMEOUT,
                   where: Callable[[Event], bool] = lambda e: True) -> Event:
        """The first event of `type_` (matching `where`) received so far, else the next one."""
        for event in self.events:
            if event["type"] == type_ and where(event):
                return event
        return await self.wait_for(type_, within=within, where=where)

    async def collect_until(self, type_: str, *, within: float = TIMEOUT) -> list[Event]:
        """All events read from now up to and including the next `type_`."""
        start = len(self.events)
        await self.wait_for(type_, within=within)
        return self.events[start:]

    async def error(self, within: float = TIMEOUT) -> Event:
        return (await self.wait_for("error", within=within))["error"]  # type: ignore[no-any-return]

    def types(self, since: int = 0) -> list[str]:
        return [e["type"] for e in self.events[since:]]


@asynccontextmanager
async def client(url: str, *, conformance: bool = True, headers: dict[str, str] | None = None,
                 ready: bool = True) -> AsyncIterator[RtClient]:
    """Connect (with a key, as real clients do) and, if `ready`, read `session.created`."""
    async with connect(
        url, additional_headers={"Authorization": "Bearer sk-test-secret", **(headers or {})},
        max_size=None, compression=None,
    ) as ws:
        rt = RtClient(ws, conformance=conformance)
        if ready:
            await rt.wait_for("session.created")
        yield rt
