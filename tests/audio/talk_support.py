"""Analysis helpers for the device tests of `rt talk` (the rig itself, an in-process `rt serve`
and `rt talk` on the null sinks, is `realtime_cli.testing.talk`): speech the server will say,
alignment, silence and levels."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from realtime_cli.testing.monitor import MonitorRecorder
from realtime_cli.testing.talk import RATE

# One long sentence without commas or full stops: espeak-ng leaves no long pause inside it,
# so the first long silence after the barge-in is the flush, not a pause in the answer.
LONG_ANSWER = ("the weather today is sunny and warm with a light breeze from the west and "
               "it should stay that way through the afternoon and well into the evening hours")
SHORT_ANSWER = "all right I will wait"
ANSWER = "The weather is sunny and warm today."
SILENT = 64  # |sample| below this (-54 dBFS) counts as silence; the null sink's silence is 0


# ------------------------------------------------------------------ helpers


def server_speech(text: str, voice: str) -> npt.NDArray[np.int16]:
    """The exact 24 kHz audio `rt serve` streams for `text` in `voice` (espeak-ng is
    deterministic)."""
    from realtime_cli.server.speech import SpeechEngine

    pcm = asyncio.run(SpeechEngine("espeak").synthesize(text, voice))
    return np.frombuffer(pcm, dtype="<i2").copy()


def to_24k(signal: npt.NDArray[np.int16], rate: int) -> npt.NDArray[np.float64]:
    import soxr

    return np.asarray(soxr.resample(signal.astype(np.float64), rate, RATE), dtype=np.float64)


def align(haystack: npt.NDArray[np.float64], needle: npt.NDArray[np.float64]) -> tuple[int, float]:
    """(lag, normalised correlation) of `needle` in `haystack` at the best lag."""
    size = 1 << int(np.ceil(np.log2(len(haystack) + len(needle))))
    corr = np.fft.irfft(np.fft.rfft(haystack, size) * np.conj(np.fft.rfft(needle, size)), size)
    lag = int(np.argmax(corr[: max(1, len(haystack) - len(needle) + 1)]))
    part = haystack[lag : lag + len(needle)]
    denom = float(np.linalg.norm(part) * np.linalg.norm(needle[: len(part)])) or 1.0
    return lag, float(np.dot(part, needle[: len(part)]) / denom)


def voiced_extent(x: npt.NDArray[np.floating] | npt.NDArray[np.int16]) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(np.asarray(x, dtype=np.float64)) >= SILENT)
    assert loud.size, "no sound at all"
    return int(loud[0]), int(loud[-1]) + 1


def rms(x: npt.NDArray[np.floating] | npt.NDArray[np.int16]) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(np.mean(x**2))) if x.size else 0.0


def sample_at(rec: MonitorRecorder, when: float) -> int:
    """Index in `rec.signal()` of the sample whose ADC time is `when`."""
    start = 0
    for adc, block in list(rec._blocks):
        if when < adc + len(block) / rec.rate:
            return start + max(0, int((when - adc) * rec.rate))
        start += len(block)
    return start


STAMP_SLACK_S = 0.01
"""How far past `when` the recorder must be before it surely holds what the speaker played by
`when`: the output stream's DAC stamp and the monitor's ADC stamp of one sample disagree, by
0.1 ms typically but up to 2.7 ms with a core kept busy (400 short plays: p99 0.8 ms, extremes
-1.9 and +2.7 ms). Reading at exactly `when` once cut the last 1.5 ms of a short item."""


def recorded_through(rec: MonitorRecorder, when: float) -> bool:
    """Whether `rec` holds what the speaker played by `when` (its DAC clock): the monitor
    delivers a sample some 60 ms after the DAC played it, later on a busy machine, so a test
    that reads what was played by `when` waits on this rather than sleeping."""
    blocks = list(rec._blocks)
    return bool(blocks) and blocks[-1][0] + len(blocks[-1][1]) / rec.rate > when + STAMP_SLACK_S


def until(predicate: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        time.sleep(0.01)


