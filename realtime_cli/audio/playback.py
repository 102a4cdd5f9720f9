"""SpeakerSink: a PortAudio output stream fed from the jitter buffer, as an AudioSink.

Threads: the loop queues audio (`play`, resampled there to the device rate), flushes and reads
`status()`; PortAudio's thread runs `_callback`, which pulls one block from the shared
`PlaybackFeed` under its short lock and copies it out. The callback stamps each block with the
time its first frame reaches the DAC (`outputBufferDacTime`, measured on the PulseAudio null
sink to match the monitor's capture time within 0.2 ms, 3 ms under load), and `status()` reads
the stream clock, so `played_samples` is what has been heard, output latency already subtracted.

A device lost mid-stream (the stream finishes without `close`) makes `play` and `end_of_item`
raise AudioDeviceError with one line; `status()` keeps answering.
"""

from __future__ import annotations

import time as _time
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.devices import DeviceInfo, open_stream, resolve_device, stream_format
from realtime_cli.audio.feed import PlaybackFeed
from realtime_cli.audio.interfaces import SinkStatus
from realtime_cli.audio.jitter import FADE_MS
from realtime_cli.audio.options import OUTPUT_BLOCK, PREBUFFER
from realtime_cli.errors import AudioDeviceError

if TYPE_CHECKING:
    from realtime_cli.audio.echo.link import EchoLink

OUTPUT_BLOCK_MS = OUTPUT_BLOCK.default  # why 20 ms: realtime_cli/audio/options.py
OUTPUT_LATENCY_S = 0.12
"""The device buffer asked for: what rt's callbacks may be late by before the listener hears a
gap. Measured over 10 minutes of playback with another process keeping a core busy, the longest
wait between callbacks was 66-100 ms, and a callback waited up to 72 ms for the interpreter after
PortAudio woke on time: 40 ms and 80 ms both underran. It costs barge-in nothing (a flush drops
what the device holds) and delays the start of each answer by as much.
"""


class SpeakerSink:
    def __init__(
        self,
        device: str | int | None = None,
        *,
        samplerate: int | None = None,
        channels: int | None = None,
        prebuffer_ms: float = PREBUFFER.default,
        block_ms: float = OUTPUT_BLOCK_MS,
        fade_ms: float = FADE_MS,
        echo: EchoLink | None = None,
    ) -> None:
        self._spec = device
        self._want_rate = samplerate
        self._want_channels = channels
        self._prebuffer_ms = prebuffer_ms
        self._block_ms = block_ms
        self._fade_ms = fade_ms
        self._echo = echo
        self._feed: PlaybackFeed | None = None
        self._stream: Any = None
        self._latency = 0.0
        self._closing = False
        self._restarting = False  # a flush stops and starts the stream: not a lost device
        self._stopped = False  # `stop` ended playback for good
        self._dropped_at: float | None = None  # stream clock when a flush's abort dropped the buffer
        self._closed_at: float | None = None  # stream clock when closed; status() stops there
        self._error: str | None = None
        self.device: DeviceInfo | None = None
        self.rate = 0
        self.channels = 0

    async def start(self) -> None:
        info = resolve_device(self._spec, "output")
        rate, channels = stream_format(info, "output", self._want_rate, self._want_channels)
        self.device, self.rate, self.channels = info, rate, channels
        self._feed = PlaybackFeed(rate, prebuffer_ms=self._prebuffer_ms, fade_ms=self._fade_ms)
        if self._echo is not None:
            self._echo.output_rate(rate)
        try:
            self._stream = open_stream(info, "output", rate, channels, self._block_ms,
                                       self._callback, self._finished, latency=OUTPUT_LATENCY_S)
        except AudioDeviceError:
            await self.close()
            raise
        self._latency = float(self._stream.latency)

    # --- event loop ------------------------------------------------------------------------

    def play(self, item_id: str, pcm: bytes) -> None:
        self._feed_or_raise().play(item_id, pcm)

    def end_of_item(self, item_id: str) -> None:
        """All audio of `item_id` is queued: it may start below the prebuffer, ends cleanly."""
        self._feed_or_raise().end_of_item(item_id)

    def pause(self) -> None:
        self._feed_or_raise().pause()

    def resume(self) -> None:
        self._feed_or_raise().resume()

    def flush(self) -> None:
        """Barge-in: stop the stream, which drops what the device still holds, let the feed
        count as heard what had reached the DAC by then, tell the echo link where the played
        audio stopped, and start the stream again. The caller waits for the callback to return (the abort), so
        it must not hold a lock the callback takes."""
        self._drop(restart=True)

    def stop(self) -> None:
        """The session's end: the same drop as a barge-in, without the restart. Restarting a
        device that has just gone away (its loss not yet reported) is what preceded PortAudio
        aborting the process in the close that followed (SIGABRT on a busy machine)."""
        self._drop(restart=False)

    def _drop(self, *, restart: bool) -> None:
        feed = self._feed
        if feed is None:
            return
        stream = self._stream
        if stream is None or self._error is not None or self._stopped:
            feed.flush()
            return
        self._restarting = True
        self._dropped_at = None
        try:
            stream.abort()
            # The drop's own moment, stamped in `_finished` right after it: `abort` returns
            # later than that when the loop thread is slow to wake on a busy machine.
            dropped_at = self._dropped_at or self._now()
            feed.flush(dropped_at=dropped_at)
            if self._echo is not None:  # the blocks it was handed for later never played
                self._echo.dropped(dropped_at)
            if restart:
                stream.start()
            else:
                self._stopped = True
        except Exception as exc:  # noqa: BLE001 - PortAudioError, or a lost device's own error
            name = self.device.label if self.device else "?"
            what = "restart after a flush" if restart else "stop"
            self._error = f"output device {name} failed to {what}: {exc}"
            feed.stopped(self._now())
        finally:
            self._restarting = False

    def status(self) -> SinkStatus:
        if self._feed is None:
            return SinkStatus(None, 0, 0.0, -120.0, 0, True)
        return self._feed.status(self._now())

    def clock(self) -> float:
        """Now on the stream clock, the one `status()` positions are computed against."""
        return self._now()

    @property
    def error(self) -> str | None:
        """Why the device stopped, once it has; None while it plays."""
        return self._error

    async def close(self) -> None:
        self._closing = True
        if self._stream is None:
            return
        self._closed_at = self._now()
        stream, self._stream = self._stream, None
        try:
            stream.close(ignore_errors=True)
        except Exception:  # noqa: BLE001 - a lost device may fail to close; nothing to do
            pass
        if self._feed is not None:
            self._feed.stopped(self._closed_at)

    def _feed_or_raise(self) -> PlaybackFeed:
        if self._error is not None:
            raise AudioDeviceError(self._error)
        if self._feed is None:
            raise AudioDeviceError("output device not started")
        return self._feed

    def _now(self) -> float:
        """The stream clock (the one the callback's DAC times use)."""
        if self._closed_at is not None:
            return self._closed_at
        try:
            t = float(self._stream.time)
        except Exception:  # noqa: BLE001 - a lost stream may have no clock any more
            t = 0.0
        return t or _time.monotonic()

    # --- PortAudio thread ------------------------------------------------------------------

    def _callback(self, outdata: npt.NDArray[np.int16], frames: int, time: Any, status: Any) -> None:
        feed = self._feed
        assert feed is not None
        if status and status.output_underflow:  # no flag set: no property lookup
            feed.device_underruns += 1
        start = time.outputBufferDacTime or ((time.currentTime or _time.monotonic()) + self._latency)
        block = feed.pull(frames, start)
        for channel in range(outdata.shape[1]):  # a column at a time: 4x cheaper than broadcasting
            outdata[:, channel] = block
        if self._echo is not None:
            self._echo.played(block, start)

    def _finished(self) -> None:
        """PortAudio thread, once the stream has stopped (after the host dropped its buffer)."""
        if self._restarting:
            self._dropped_at = self._now()
            return
        if not self._closing and self._error is None:
            name = self.device.label if self.device else "?"
            self._error = f"output device {name} stopped playing (disconnected?)"
            if self._feed is not None and self._stream is not None:
                self._feed.stopped(self._now())
