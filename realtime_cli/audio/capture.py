"""MicSource: a PortAudio input stream as an AudioSource of 24 kHz mono PCM16 blocks.

Threads: PortAudio calls `_callback` (and `_finished`) on its own thread. Both only copy what
they got and cross into the event loop in one place, `_cross`: the block goes into an inbox
and, when the loop has something to do with it, `call_soon_threadsafe` wakes the loop to drain
it. Everything else (downmix, resampling, echo handling, levels, the queue) runs on the loop.
The callback touches no NumPy: the stream is raw, the block is copied as bytes, and the sound
check reads its high bytes. It runs 50 times a second on a thread whose caches are cold each
time, and there NumPy's call overhead dominated: 100 us of CPU a block for a copy and two
reductions that take 2 us in a warm loop (measured in `rt talk` on this project's test machine).

The device delivers 20 ms blocks; `read()` returns chunks, each one `input_audio_buffer.append`.
Around speech they are 40 ms: the server's VAD hears the user's first word and the end of his turn
at most 20 ms later than with every block sent on its own, for half the JSON, base64, socket and
event-loop work. While the microphone is quiet (no sample as loud as `SOUND_PEAK` for `hold_s`)
they are 100 ms: nothing waits on them, and the messages and wake-ups fall from 25 a second to 10
(the CPU saved while the user listens is small: playing the answer costs more). A block with sound
in it wakes the loop at once and the pending audio goes out in 40 ms chunks from there, so the
user's first word is sent as soon as before; `hold_s` (the turn detector's silence plus a
margin) keeps the short chunks until his turn's end has been heard.

The loop is woken only for the block that completes a chunk (and for the first block, a lost
device and, while quiet, a block with sound), not for every block: after each drain it works out
how many more device frames the next chunk needs, a millisecond short so that a chunk is never
late, and the callback wakes it once that many have come. Blocks are processed in the same order
with the same stamps, so the chunks are the same and go out as soon as if each block woke it.

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

from realtime_cli.audio.convert import CaptureConverter
from realtime_cli.audio.devices import DeviceInfo, open_stream, resolve_device, stream_format
from realtime_cli.audio.interfaces import SourceLevels
from realtime_cli.audio.levels import LevelTracker
from realtime_cli.audio.pcm import SAMPLE_RATE, SAMPLE_WIDTH, bytes_to_ms, ms_to_samples
from realtime_cli.errors import AudioDeviceError

if TYPE_CHECKING:
    from realtime_cli.audio.echo.link import EchoLink

_LOST = None  # queued when the device is gone
CHUNK_MS = 40.0  # around speech
QUIET_CHUNK_MS = 100.0  # while the microphone is quiet
SOUND_PEAK = 256  # a block with a sample this loud (-42 dBFS) may be speech: short chunks
HOLD_MARGIN_S = 0.3  # ... until the turn detector's silence and this much more have passed
HOLD_S = 0.5 + HOLD_MARGIN_S  # (the default server VAD's 500 ms silence)


def has_sound(block: bytes) -> bool:
    """Little-endian PCM16 with a sample of `SOUND_PEAK` or more, or -257 or less: one whose high
    byte is neither 0x00 (0..255) nor 0xFF (-256..-1). Two passes in C over the bytes, cheap even
    in the callback."""
    return bool(block[1::2].translate(None, b"\x00\xff"))


class MicSource:
    def __init__(
        self,
        device: str | int | None = None,
        *,
        samplerate: int | None = None,
        channels: int | None = None,
        block_ms: float = 20.0,
        chunk_ms: float = CHUNK_MS,
        quiet_chunk_ms: float = QUIET_CHUNK_MS,
        hold_s: float = HOLD_S,
        max_queued_ms: float = 2000.0,
        stall_timeout_s: float = 3.0,
        echo: EchoLink | None = None,
    ) -> None:
        self._spec = device
        self._want_rate = samplerate
        self._want_channels = channels
        self._block_ms = block_ms
        self._chunk_bytes = ms_to_samples(chunk_ms) * SAMPLE_WIDTH
        self._quiet_bytes = ms_to_samples(quiet_chunk_ms) * SAMPLE_WIDTH
        self._out_bytes = self._quiet_bytes  # the chunk due now: quiet until a block has sound
        self._hold_s = hold_s
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
        self._inbox: deque[tuple[bytes | None, bool, float]] = deque()
        self._frame_bytes = SAMPLE_WIDTH  # bytes of one device frame (all its channels)
        self._frames_in = 0  # device frames the callback has put in the inbox (its thread only)
        self._frames_done = 0  # ... and the loop has taken out (loop only)
        self._wake_at = 0  # wake the loop once `_frames_in` reaches this (set by the loop)
        self._slack = 0  # device frames the wake-up comes early by
        self._hold = 0  # device frames the short chunks last after a block with sound
        self._sound_until = 0  # short chunks until `_frames_done` reaches this (loop only)
        self._wake_on_sound = True  # quiet: a block with sound wakes the loop (set by the loop)

    @property
    def exhausted(self) -> bool:
        return False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        info = resolve_device(self._spec, "input")
        rate, channels = stream_format(info, "input", self._want_rate, self._want_channels)
        self.device = info
        self._use_format(rate, channels)
        try:
            self._stream = open_stream(info, "input", rate, channels, self._block_ms,
                                       self._callback, self._finished, raw=True)
        except AudioDeviceError:
            await self.close()
            raise
        # Started means hearing: the first block comes 20-80 ms after start on PulseAudio (up
        # to 2 s on an idle null sink), and whatever is said before it is lost. So rt says
        # "ready" only once the microphone delivers. No block at all: read() reports the stall.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.first_block.wait(), self._stall_timeout)

    def _use_format(self, rate: int, channels: int) -> None:
        """What depends on the device's own rate and channels."""
        self.rate, self.channels = rate, channels
        self._frame_bytes = channels * SAMPLE_WIDTH
        self._converter = CaptureConverter(rate, channels)
        self._slack = max(1, rate // 1000)
        self._hold = round(rate * self._hold_s)

    # --- PortAudio thread ------------------------------------------------------------------

    def _callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        overflow = bool(status) and status.input_overflow  # no flag set: no property lookup
        self._cross(bytes(indata), overflow, time.inputBufferAdcTime or time.currentTime)

    def _finished(self) -> None:
        self._cross(None, False, 0.0)

    def _cross(self, block: bytes | None, overflow: bool, adc_time: float) -> None:
        """The one place where audio leaves PortAudio's thread for the event loop: `block` is
        interleaved PCM16 at the device's rate and channels."""
        loop = self._loop
        if loop is None:
            return
        self._inbox.append((block, overflow, adc_time))
        if block is not None:
            before = self._frames_in
            self._frames_in = before + len(block) // self._frame_bytes
            # the first block at once (start() waits for it), then the one that completes a chunk,
            # and while quiet one with sound: the user's first word goes out without waiting
            if before and self._frames_in < self._wake_at and \
                    not (self._wake_on_sound and has_sound(block)):
                return
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:
            pass  # the loop is closed: nobody reads any more

    # --- event loop ------------------------------------------------------------------------

    def _drain(self) -> None:
        inbox = self._inbox
        while inbox:
            self._on_block(*inbox.popleft())
        # The next chunk needs this many more 24 kHz samples: wake when about that much has come.
        need = (self._out_bytes - len(self._pending)) // SAMPLE_WIDTH
        self._wake_on_sound = self._out_bytes == self._quiet_bytes
        self._wake_at = self._frames_done + max(0, need * self.rate // SAMPLE_RATE - self._slack)

    def _on_block(self, raw: bytes | None, overflow: bool, adc_time: float) -> None:
        if raw is None:
            if not self._closing and self._error is None:
                name = self.device.label if self.device else "?"
                self._error = f"input device {name} stopped delivering audio (disconnected?)"
                self._queue.put_nowait(_LOST)
            return
        block = np.frombuffer(raw, dtype=np.int16).reshape(-1, self.channels)
        self.blocks_received += 1
        self._frames_done += len(block)
        self.first_block.set()
        if overflow:
            self._levels.overflows += 1
        if has_sound(raw):
            self._sound_until = self._frames_done + self._hold
        sound = self._frames_done < self._sound_until
        self._out_bytes = self._chunk_bytes if sound else self._quiet_bytes
        assert self._converter is not None
        pcm = self._converter.feed(block)
        if self._echo is not None and pcm.size:
            pcm = self._echo.clean(pcm, adc_time)
        self._pending += pcm.tobytes()
        while len(self._pending) >= self._out_bytes:
            out = bytes(self._pending[: self._out_bytes])
            del self._pending[: self._out_bytes]
            self._levels.update(np.frombuffer(out, dtype="<i2"), bytes_to_ms(len(out)))
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
