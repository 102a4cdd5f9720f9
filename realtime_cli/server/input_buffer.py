"""The input audio buffer of one connection, on the connection's input timeline.

Positions are samples since the first appended sample of the connection (the timeline of
`audio_start_ms`/`audio_end_ms`). The buffer holds what was appended since the last commit or
clear; VAD commits take a [start, end) slice and keep what follows `end`.
"""

from __future__ import annotations

from realtime_cli.audio.pcm import SAMPLE_WIDTH, SAMPLES_PER_MS, ms_to_samples, samples_to_ms

MAX_IDLE_BUFFER_MS = 30_000  # while VAD hears no speech, older audio is dropped


class InputBuffer:
    def __init__(self) -> None:
        self._data = bytearray()
        self._start = 0  # timeline sample of _data[0]

    @property
    def start_ms(self) -> float:
        return samples_to_ms(self._start)

    @property
    def end_ms(self) -> float:
        return samples_to_ms(self._start + len(self._data) // SAMPLE_WIDTH)

    @property
    def duration_ms(self) -> float:
        return samples_to_ms(len(self._data) // SAMPLE_WIDTH)

    def append(self, pcm: bytes) -> None:
        self._data += pcm

    def take(self, start_ms: float, end_ms: float) -> bytes:
        """Audio between two timeline points; everything before `end_ms` leaves the buffer."""
        lo = max(0, ms_to_samples(start_ms) - self._start) * SAMPLE_WIDTH
        hi = max(0, ms_to_samples(end_ms) - self._start) * SAMPLE_WIDTH
        hi = min(hi, len(self._data))
        out = bytes(self._data[min(lo, hi) : hi])
        del self._data[:hi]
        self._start += hi // SAMPLE_WIDTH
        return out

    def take_all(self) -> bytes:
        return self.take(self.start_ms, self.end_ms)

    def clear(self) -> None:
        self.take_all()

    def trim(self, keep_ms: float = MAX_IDLE_BUFFER_MS) -> None:
        excess = len(self._data) - int(keep_ms * SAMPLES_PER_MS) * SAMPLE_WIDTH
        if excess > 0:
            del self._data[:excess]
            self._start += excess // SAMPLE_WIDTH
