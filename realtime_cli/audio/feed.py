"""The one shared object between the event loop and whatever consumes playback blocks.

`PlaybackFeed` wraps the pure `JitterBuffer` and `PlayTimeline` behind one lock. The loop calls
`play`, `end_of_item`, `flush` and `status`; the consumer (the PortAudio callback thread for a
speaker, the clock task for a WAV sink) calls `pull`. The lock is held only for the queue and
timeline bookkeeping, never for resampling, level math or device I/O, so the audio thread never
waits on more than a few microseconds of work.

Assistant audio arrives as 24 kHz mono PCM16 and is resampled to the consumer's rate here, on the
loop thread, as it is queued (one streaming resampler per item): the callback only copies.
Positions are kept in consumer frames and reported in 24 kHz samples.
"""

from __future__ import annotations

import threading

import numpy as np

from realtime_cli.audio.convert import Int16Array, Resampler
from realtime_cli.audio.interfaces import SinkStatus
from realtime_cli.audio.jitter import FADE_MS, JitterBuffer, PlayTimeline
from realtime_cli.audio.pcm import SAMPLE_RATE, SILENCE_DBFS, as_int16, level_dbfs


class PlaybackFeed:
    def __init__(self, rate: int, *, prebuffer_ms: float, fade_ms: float = FADE_MS) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._jitter = JitterBuffer(rate, prebuffer_ms=prebuffer_ms, fade_ms=fade_ms)
        self._timeline = PlayTimeline(rate)
        self._resampling: tuple[str, Resampler] | None = None  # loop thread only
        self._last_block: Int16Array | None = None  # the last pulled block with audio, or None
        self.device_underruns = 0  # incremented by the consumer (PortAudio output underflow)
        self._paused = False  # the session is paused: hand out silence, keep the queue

    # --- loop side -------------------------------------------------------------------------

    def play(self, item_id: str, pcm: bytes) -> None:
        samples = self._convert(item_id, as_int16(pcm))
        with self._lock:
            self._jitter.push(item_id, samples)

    def end_of_item(self, item_id: str) -> None:
        tail = self._finish_item() if self._resampling and self._resampling[0] == item_id else None
        with self._lock:
            if tail is not None:
                self._jitter.push(item_id, tail)
            self._jitter.end_item(item_id)

    def flush(self, dropped_at: float | None = None) -> None:
        """Barge-in: drop the queue, keep a faded tail of the item being heard. `dropped_at`:
        the consumer also dropped, at that time, every block it had pulled but not yet played
        (a device buffer): the listener heard up to there, and no tail follows."""
        if self._resampling is not None:
            self._resampling[1].reset()
            self._resampling = None
        with self._lock:
            if dropped_at is None:
                self._jitter.flush()
                return
            self._timeline.cut(dropped_at)
            self._jitter.flush(tail=False)

    def pause(self) -> None:
        """Hold playback where it is: the consumer gets silence, the queue and the played
        positions stay (what the device already holds still plays out)."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def status(self, now: float) -> SinkStatus:
        with self._lock:
            item_id, frames = self._timeline.position(now)
            queued = self._jitter.queued_frames
            underruns = self._jitter.underruns + self.device_underruns
            idle = queued == 0 and not self._timeline.pending()
        return SinkStatus(
            item_id=item_id,
            played_samples=self.to_api_samples(frames),
            buffered_ms=queued * 1000.0 / self.rate,
            level_dbfs=self._output_level(),
            underruns=underruns,
            idle=idle,
        )

    def _output_level(self) -> float:
        """Level of the last block handed out, computed here when asked (a few dozen times a
        second) rather than in the audio callback for every block."""
        block = self._last_block
        return SILENCE_DBFS if block is None else level_dbfs(block)

    def to_api_samples(self, frames: int) -> int:
        return frames if self.rate == SAMPLE_RATE else round(frames * SAMPLE_RATE / self.rate)

    def _convert(self, item_id: str, samples: Int16Array) -> Int16Array:
        if self.rate == SAMPLE_RATE:
            return samples
        if self._resampling is None or self._resampling[0] != item_id:
            if self._resampling is not None:
                previous = self._resampling[0]
                tail = self._finish_item()
                with self._lock:
                    self._jitter.push(previous, tail)
            self._resampling = (item_id, Resampler(SAMPLE_RATE, self.rate))
        return self._resampling[1].feed(samples)

    def _finish_item(self) -> Int16Array:
        assert self._resampling is not None
        tail = self._resampling[1].finish()
        self._resampling = None
        return tail

    # --- consumer side ---------------------------------------------------------------------

    def pull(self, frames: int, start: float) -> Int16Array:
        """The next block; `start` is when its first frame reaches the listener (seconds)."""
        with self._lock:
            if self._paused:
                self._last_block = None
                return np.zeros(frames, dtype=np.int16)
            pulled = self._jitter.pull(frames)
            if pulled.spans:
                self._timeline.record(start, pulled.spans)
        self._last_block = pulled.block if pulled.spans else None  # never written after this
        return pulled.block

    def stopped(self, when: float) -> None:
        """The consumer stopped at `when`: nothing recorded for later was heard."""
        with self._lock:
            self._timeline.discard_after(when)
