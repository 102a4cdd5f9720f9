"""Where the echo's direct path lies, so the canceller's reference can be pre-shifted by it.

With the reference read `delay - DELAY_MARGIN_S` earlier, a short filter (`canceller.FILTER_S`)
spans the echo and re-converges quickly. A delay that moves is a changed echo path (the room or
the device changed): the canceller restarts and the residual gate re-learns its level.
"""

from __future__ import annotations

import enum

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.echo.energy import energy_at
from realtime_cli.audio.echo.gate import CHUNK_S, FAR_FLOOR_DBFS
from realtime_cli.audio.echo.timeline import Reference

DELAY_MARGIN_S = 0.02  # the pre-shift leaves this much of the filter before the direct path
DELAY_MAX_S = 0.3  # longest echo delay the estimator searches
DELAY_WINDOW_S = 1.0  # audio the delay estimate correlates over
DELAY_EVERY_S = 0.1  # how often it re-estimates while the far end plays
DELAY_DECIMATE = 4  # 6 kHz is plenty to place a speech echo to a fraction of a millisecond


def decimate(pcm: npt.NDArray[np.int16], d: int) -> npt.NDArray[np.float64]:
    """The mean of each `d` samples in a row, as float64: the same numbers as
    `pcm.astype(float).reshape(-1, d).mean(axis=1)` (sums of int16 are exact either way), in a
    fraction of its time (numpy reduces short rows slowly; strided adds are fast)."""
    total = pcm[0::d].astype(np.int32)
    for k in range(1, d):
        total += pcm[k::d]
    return total / d


class DelayEstimator:
    """GCC-PHAT of the far audio against the microphone.

    Over the last `DELAY_WINDOW_S` (decimated), for lags 0..`DELAY_MAX_S`. PHAT whitening makes
    the peak sharp for speech and ignores a second voice, which does not correlate with the far
    audio. Only windows where the far end was audible for at least `MIN_ACTIVE` of the time
    are used, and only peaks standing well clear of the correlation floor count. About 0.35 s
    of far speech after a change is enough (measured on the echo_sim rooms).

    The microphone must have heard something for `MIN_ACTIVE` of the window too. A muted one
    delivers exact zeros (the test room's did, for minutes, in a real-device run), whose whitened
    spectrum is zero or, with a few stray samples left, noise blown up to full scale: correlated
    with the far audio that gave a "confident" delay of 0 or of the longest lag searched, and the
    canceller was restarted on it.
    """

    CONFIDENCE = 8.0  # peak over the mean |correlation|
    MIN_ACTIVE = 0.3
    NEAR_FLOOR_DBFS = -70.0  # under any real microphone's noise: a quieter chunk is digital silence

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.near = Reference(rate)
        self.window = round(DELAY_WINDOW_S * rate) // DELAY_DECIMATE * DELAY_DECIMATE
        self.max_lag = round(DELAY_MAX_S * rate) // DELAY_DECIMATE * DELAY_DECIMATE
        self.every = round(DELAY_EVERY_S * rate)
        self.due = 0
        # The lags wanted (0..max_lag) never wrap around a circular correlation as long as the
        # transform holds the far span: the smallest power of two that does, not twice that.
        self.size = 1 << ((self.window + self.max_lag) // DELAY_DECIMATE - 1).bit_length()
        self.floor = energy_at(FAR_FLOOR_DBFS)
        self.near_floor = energy_at(self.NEAR_FLOOR_DBFS)

    def estimate(self, ref: Reference, stop: int) -> int | None:
        """The echo delay in samples at `stop`, or None when not due or not confident."""
        if stop < self.due:
            return None
        self.due = stop + self.every
        if ref.silent(stop - self.window - self.max_lag):  # no far audio in the window: not active
            return None
        d = DELAY_DECIMATE
        f = decimate(ref.read(stop - self.window - self.max_lag, stop), d)
        active = self._audible(f, self.floor)
        if np.mean(active[-len(active) * self.window // (self.window + self.max_lag):]) < self.MIN_ACTIVE:
            return None
        m = decimate(self.near.read(stop - self.window, stop), d)
        if np.mean(self._audible(m, self.near_floor)) < self.MIN_ACTIVE:
            return None
        spec = np.fft.rfft(f, self.size) * np.conj(np.fft.rfft(m, self.size))
        xc = np.fft.irfft(spec / (np.abs(spec) + 1e-9), self.size)
        # near[i] = gain * far[i + max_lag - lag]: the correlation at shift max_lag - lag
        by_lag = xc[: self.max_lag // d + 1][::-1]
        peak = int(np.argmax(by_lag))
        if not by_lag[peak] > self.CONFIDENCE * float(np.mean(np.abs(by_lag))):
            return None
        return peak * d

    def _audible(self, decimated: npt.NDArray[np.float64], floor: float) -> npt.NDArray[np.bool_]:
        """Per 10 ms chunk of decimated audio: louder than `floor` (an `energy` of the full rate;
        decimating by averaging divides a noise's energy by the factor)."""
        chunk = round(CHUNK_S * self.rate) // DELAY_DECIMATE
        power: npt.NDArray[np.float64] = np.mean(decimated.reshape(-1, chunk) ** 2, axis=1)
        return power > floor / DELAY_DECIMATE


class Shift(enum.Enum):
    """How the reference's pre-shift moved."""

    PLACED = "placed"  # the first estimate: the canceller starts afresh on the shifted reference
    MOVED = "moved"  # the echo path changed: the canceller restarts and its level is re-learnt


class DelayTracker:
    """The estimated delay (`delay`) and the pre-shift it sets (`shift`), both in samples.

    An estimate within half a canceller frame of the current one is the same path. No estimate
    is taken within `DELAY_WINDOW_S` of double talk: a second voice in the window would correlate
    with the far audio by chance, giving a wrong delay and a needless reset.
    """

    def __init__(self, rate: int, frame: int) -> None:
        self.estimator = DelayEstimator(rate)
        self.tolerance = frame // 2
        self.margin = round(DELAY_MARGIN_S * rate)
        self.delay: int | None = None
        self.shift = 0  # the reference is read this many samples earlier: delay - margin
        self.path_changes = 0

    def follow(self, ref: Reference, pcm: npt.NDArray[np.int16], start: int, stop: int,
               double_talk_at: int) -> Shift | None:
        """Take the microphone block [start, stop) and re-estimate when due; `double_talk_at`
        is the end of the last block that passed as the user's. What moved, if anything."""
        self.estimator.near.write(start, pcm)
        if stop - double_talk_at < self.estimator.window:
            return None
        delay = self.estimator.estimate(ref, stop)
        if delay is None or (self.delay is not None and abs(delay - self.delay) <= self.tolerance):
            return None
        changed = self.delay is not None  # the first estimate is learning, not a change
        if changed:
            self.path_changes += 1
        self.delay = delay
        shift = max(0, delay - self.margin)
        if shift == self.shift:
            return None
        self.shift = shift
        return Shift.MOVED if changed else Shift.PLACED
