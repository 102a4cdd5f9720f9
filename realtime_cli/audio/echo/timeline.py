"""One sample timeline for both streams, and the far audio kept by sample.

`far` gives the DAC time of its first sample and `near` the ADC time of its first sample, both
on the stream clock. `Anchor` turns those stamps into absolute sample indices and `Reference`
keeps the far audio by index, so the reference for a microphone frame is what the DAC played
at that same instant, and the acoustic delay lies inside the canceller's filter span (causal).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

HISTORY_S = 2.0  # far audio kept: the echo hangover + a block + the canceller's pending frame, with room


class Anchor:
    """Maps a block's timestamp to its first sample index, keeping blocks contiguous.

    The sample count is exact and the timestamps are not: measured on PulseAudio, capture stamps
    wander by up to 8 ms over seconds and single ones are 12 ms off, while no sample is lost.
    Any step in this mapping is a step in the echo path the canceller sees: a single 5 ms step
    (re-anchoring on a lasting 5 ms disagreement) was measured to undo convergence on real
    devices and let the echo through mid-answer. So the anchor moves at once only for a real
    skip (a stalled, overflowed or restarted stream: stamps off by more than `JUMP_S` for
    `JUMP_BLOCKS` blocks in a row), and otherwise follows only a lasting clock drift between two
    devices: a slow mean of the disagreement, beyond `DRIFT_DEADBAND_S`, moves it by one sample
    per `DRIFT_SLIDE_S` of audio (10 samples/s, four times a 100 ppm drift), which the canceller
    tracks without noticing.

    A stream that restarts (`cut`: the speaker's buffer dropped at a barge-in) is not contiguous:
    its next block is placed by its own stamp, with the mapping the anchor had, and that is not a
    skip. Counted on, it would carry the dropped audio's length plus the restart's own delay as a
    step in the echo path.
    """

    JUMP_S = 0.02  # beyond the 12 ms outliers measured, within what a stalled stream skips
    JUMP_BLOCKS = 2  # one wild stamp is an outlier; two in a row are a skip
    DRIFT_TAU_S = 10.0  # slow enough to average the seconds-long wander away
    DRIFT_DEADBAND_S = 0.01  # above the measured 8 ms wander: only a real drift moves the anchor
    DRIFT_SLIDE_S = 0.1

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.jump = round(self.JUMP_S * rate)
        self.tau = self.DRIFT_TAU_S * rate
        self.deadband = self.DRIFT_DEADBAND_S * rate
        self.slide_every = round(self.DRIFT_SLIDE_S * rate)
        self.next: int | None = None
        self.reanchors = 0
        self.slid = 0  # samples the anchor moved to follow drift
        self.drift = 0.0  # slow mean of (stamp - count), samples
        self._strikes = 0
        self._since_slide = 0
        self._restarted = False  # `cut` was called: the next block is placed by its stamp

    def place(self, t: float, n: int) -> int:
        stamped = round(t * self.rate)
        if self.next is None:
            self.next = stamped
        elif self._restarted:
            self.next, self._strikes = stamped - round(self.drift), 0
            self._restarted = False
        else:
            off = stamped - self.next
            self._strikes = self._strikes + 1 if abs(off) > self.jump else 0
            if self._strikes >= self.JUMP_BLOCKS:
                self.reanchors += 1
                self.next, self._strikes, self.drift = stamped, 0, 0.0
            elif self._strikes == 0:  # an outlier stamp says nothing about drift
                self._follow_drift(off, n)
        start = self.next
        self.next = start + n
        return start

    def cut(self, t: float) -> int:
        """The stream stopped at stream time `t`, and its next block starts anew: the sample at `t`."""
        self._restarted = self.next is not None
        return round(t * self.rate) - round(self.drift)

    def _follow_drift(self, off: int, n: int) -> None:
        assert self.next is not None
        self.drift += (off - self.drift) * min(1.0, n / self.tau)
        self._since_slide = min(self._since_slide + n, self.slide_every)
        if abs(self.drift) > self.deadband and self._since_slide >= self.slide_every:
            step = 1 if self.drift > 0 else -1
            self.next += step
            self.drift -= step
            self.slid += step
            self._since_slide = 0


class Reference:
    """A bounded ring of samples indexed by absolute sample; unknown samples read as zeros.

    `sound_end` bounds where the last non-zero sample was written, so a reader can tell that a
    span holds only silence without reading it (`silent`): with the far end quiet, or echo
    handling off (nothing is ever written), the gate and the delay estimator skip their work."""

    def __init__(self, rate: int) -> None:
        self.size = round(HISTORY_S * rate)
        self.ring = np.zeros(self.size, dtype=np.int16)
        self.end: int | None = None  # one past the newest sample written
        self.sound_end: int | None = None  # one past the end of the newest block with sound

    def write(self, start: int, pcm: npt.NDArray[np.int16]) -> None:
        if len(pcm) > self.size:
            start, pcm = start + len(pcm) - self.size, pcm[-self.size:]
        if self.end is not None and start > self.end:  # a gap: what played meanwhile is silence
            gap = min(start - self.end, self.size)
            self._put(start - gap, np.zeros(gap, dtype=np.int16))
        self._put(start, pcm)
        self.end = start + len(pcm)
        if pcm.any() and (self.sound_end is None or self.end > self.sound_end):
            self.sound_end = self.end

    def cut(self, at: int) -> None:
        """Nothing written from sample `at` on was played after all: silence there, and the next
        write may start anywhere after it."""
        if self.end is None or at >= self.end:
            return
        lo = max(at, self.end - self.size)
        self._put(lo, np.zeros(self.end - lo, dtype=np.int16))
        self.end = at
        if self.sound_end is not None:
            self.sound_end = min(self.sound_end, at)

    def silent(self, start: int) -> bool:
        """Whether every sample from `start` on reads as zero (nothing but silence written there)."""
        return self.sound_end is None or self.sound_end <= start

    def _put(self, start: int, pcm: npt.NDArray[np.int16]) -> None:
        """Write at absolute `start` with at most two slice copies (runs 50-250 times a second)."""
        i = start % self.size
        first = min(len(pcm), self.size - i)
        self.ring[i : i + first] = pcm[:first]
        self.ring[: len(pcm) - first] = pcm[first:]

    def read(self, start: int, stop: int) -> npt.NDArray[np.int16]:
        out = np.zeros(stop - start, dtype=np.int16)
        if self.end is None:
            return out
        lo, hi = max(start, self.end - self.size), min(stop, self.end)  # what the ring still holds
        if lo >= hi:
            return out
        i, n = lo % self.size, hi - lo
        first = min(n, self.size - i)
        out[lo - start : lo - start + first] = self.ring[i : i + first]
        out[lo - start + first : hi - start] = self.ring[: n - first]
        return out
