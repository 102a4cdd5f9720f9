"""MicSource: a PortAudio input stream as an AudioSource of 24 kHz mono PCM16 blocks.

Threads: PortAudio calls `_callback` (and `_finished`) on its own thread. Both only copy what
they got and cross into the event loop in one place, `_cross`: the block goes into an inbox
and, when the loop has something to do with it, `call_soon_threadsafe` wakes the loop to drain
it. Everything else (downmix, resampling, echo handling, levels, the queue) runs on the loop.

The device delivers 20 ms blocks; `read()` returns 40 ms chunks, each one
`input_audio_buffer.append`. Half as many appends halve the JSON, base64 and socket work that
dominates rt's own CPU while talking, and cost the server's VAD at most 20 ms more to hear speech.
For the same reason the loop is woken only for the block that completes a chunk (and for the
first block, and a lost device), not for every block: after each drain it works out how many
more device frames the next chunk needs, a millisecond short so that a chunk is never late, and
the callback wakes it once that many have come. Blocks are processed in the same order with
the same stamps, so the chunks are the same and go out as soon as before.

Losing the device (the stream finishes while we did not close it, or no block arrives for
`stall_timeout_s`) makes `read()` raise AudioDeviceError with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.convert import CaptureConverter
from realtime_cli.audio.devices import DeviceInfo, open_stream, resolve_device, stream_format
from realtime_cli.audio.interfaces import SourceLevels
from realtime_cli.audio.levels import LevelTracker
from realtime_cli.audio.pcm import SAMPLE_RATE, SAMPLE_WIDTH
from realtime_cli.errors import AudioDeviceError

if TYPE_CHECKING:
    from realtime_cli.audio.echo.link import EchoLink

_LOST = None  # queued when the device is gone


class MicSource:
    def __init__(
        self,
        device: str | int | None = None,
        *,
        samplerate: int | None = None,
        channels: int | None = None,
        block_ms: float = 20.0,
        chunk_ms: float = 40.0,
        max_queued_ms: float = 2000.0,
        stall_timeout_s: float = 3.0,
        echo: EchoLink | None = None,
    ) -> None:
        self._spec = device
        self._want_rate = samplerate
        self._want_channels = channels
        self._block_ms = block_ms
        self._chunk_ms = chunk_ms
        self._out_bytes = round(SAMPLE_RATE * chunk_ms / 1000) * SAMPLE_WIDTH
        self._max_blocks = max(1, int(max_queued_ms / chunk_ms))
        self._stall_timeout = stall_timeout_s
        self._echo = echo
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._pending = bytearray()
        self._levels = LevelTracker()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None
        self._converter: CaptureConverter | None = None
        self._closing = False
        self._error: str | None = None
        self.device: DeviceInfo | None = None
        self.rate = 0
        self.channels = 0
        self.blocks_received = 0  # device callbacks seen (tests wait on the first)
        self.first_block = asyncio.Event()
        # PortAudio thread -> loop: blocks waiting to be processed, and when to wake the loop
        self._inbox: deque[tuple[npt.NDArray[np.int16] | None, bool, float]] = deque()
        self._frames_in = 0  # device frames the callback has put in the inbox (its thread only)
        self._frames_done = 0  # ... and the loop has taken out (loop only)
        self._wake_at = 0  # wake the loop once `_frames_in` reaches this (set by the loop)
        self._slack = 0  # device frames the wake-up comes early by

    @property
    def exhausted(self) -> bool:
        return False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        info = resolve_device(self._spec, "input")
        rate, channels = stream_format(info, "input", self._want_rate, self._want_channels)
        self.device, self.rate, self.channels = info, rate, channels
        self._converter = CaptureConverter(rate, channels)
        self._slack = max(1, rate // 1000)
        try:
            self._stream = open_stream(info, "input", rate, channels, self._block_ms,
                                       self._callback, self._finished)
        except AudioDeviceError:
            await self.close()
            raise
        # Started means hearing: the first block comes 20-80 ms after start on PulseAudio (up
        # to 2 s on an idle null sink), and whatever is said before it is lost. So rt says
        # "ready" only once the microphone delivers. No block at all: read() reports the stall.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.first_block.wait(), self._stall_timeout)

    # --- PortAudio thread ------------------------------------------------------------------

    def _callback(self, indata: npt.NDArray[np.int16], frames: int, time: Any, status: Any) -> None:
        self._cross(indata.copy(), bool(status.input_overflow), time.inputBufferAdcTime or time.currentTime)

    def _finished(self) -> None:
        self._cross(None, False, 0.0)

    def _cross(self, block: npt.NDArray[np.int16] | None, overflow: bool, adc_time: float) -> None:
        """The one place where audio leaves PortAudio's thread for the event loop."""
        loop = self._loop
        if loop is None:
            return
        self._inbox.append((block, overflow, adc_time))
        if block is not None:
            before = self._frames_in
            self._frames_in = before + len(block)
            # the first block at once (start() waits for it), then the one that completes a chunk
            if before and self._frames_in < self._wake_at:
                return
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:
            pass  # the loop is closed: nobody reads any more

    # --- event loop ------------------------------------------------------------------------

    def _drain(self) -> None:
        inbox = self._inbox
        while inbox:
            block, overflow, adc_time = inbox.popleft()
            if block is not None:
                self._frames_done += len(block)
            self._on_block(block, overflow, adc_time)
        # The next chunk needs this many more 24 kHz samples: wake when about that much has come.
        need = (self._out_bytes - len(self._pending)) // SAMPLE_WIDTH
        self._wake_at = self._frames_done + max(0, need * self.rate // SAMPLE_RATE - self._slack)

    def _on_block(self, block: npt.NDArray[np.int16] | None, overflow: bool, adc_time: float) -> None:
        if block is None:
            if not self._closing and self._error is None:
                name = self.device.label if self.device else "?"
                self._error = f"input device {name} stopped delivering audio (disconnected?)"
                self._queue.put_nowait(_LOST)
            return
        self.blocks_received += 1
        self.first_block.set()
        if overflow:
            self._levels.overflows += 1
        assert self._converter is not None
        pcm = self._converter.feed(block)
        if self._echo is not None and pcm.size:
            pcm = self._echo.clean(pcm, adc_time)
        self._pending += pcm.tobytes()
        while len(self._pending) >= self._out_bytes:
            out = bytes(self._pending[: self._out_bytes])
            del self._pending[: self._out_bytes]
            self._levels.update(np.frombuffer(out, dtype="<i2"), self._chunk_ms)
            if self._queue.qsize() >= self._max_blocks:
                self._queue.get_nowait()  # nobody is reading: drop the oldest, count it
                self._levels.overflows += 1
            self._queue.put_nowait(out)

    async def read(self) -> bytes:
        if self._stream is None:
            raise AudioDeviceError(self._error or "input device not started")
        try:
            async with asyncio.timeout(self._stall_timeout):
                block = await self._queue.get()
        except TimeoutError:
            name = self.device.label if self.device else "?"
            self._error = f"input device {name} delivered no audio for {self._stall_timeout:g} s"
            raise AudioDeviceError(self._error) from None
        if block is _LOST:
            self._queue.put_nowait(_LOST)  # every later read fails the same way
            raise AudioDeviceError(self._error or "input device lost")
        return block

    def levels(self) -> SourceLevels:
        levels = self._levels.snapshot()
        if self._echo is None:
            return levels
        return dataclasses.replace(levels, echo=self._echo.stats())

    async def close(self) -> None:
        self._closing = True
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close(ignore_errors=True)
            except Exception:  # noqa: BLE001 - a lost device may fail to close; nothing to do
                pass
        if self._echo is not None:  # the stream is closed: no block will need it any more
            self._echo.close()
            self._echo = None
