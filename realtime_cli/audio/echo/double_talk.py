"""Speech over the echo: is it the user, or echo the canceller got wrong?

The residual gate sees only energies, and three kinds of echo look like a user to it. Each check
below came from real-device recordings (`RT_ECHO_RECORD`, scripts/echo_replay.py) or from
scripts/echo_sim.py:

- a slip: the canceller's output is louder than its input. It subtracts echo that is not there
  (a playback or capture glitch the stamps did not show, or a filter the last double talk bent),
  so what comes through is echo. The residual gate goes back to the raw echo level. A slight
  slip (up to 2 dB) at a speech onset only mutes its block: a user's first syllable over the
  echo bends the filter that much (0.6 dB recorded), and sending the gate back to the raw echo
  level then taught it his voice as echo. A second one within 100 ms is echo, and so is speech
  within 100 ms of a clear slip (over 2 dB) on any block, unless the user talked in the last
  0.5 s (his voice bends the filter, which then slips on the echo in his pauses): at the start
  of an answer on a moved echo path, the canceller slipped on the noise before the echo arrived,
  then barely cut it.
- a half-learned echo: the canceller cut the block by more than `ONSET_MAX_CUT_DB`. A user over
  the echo dominates the block, so the canceller cuts it little; a deep cut means mostly echo.
  The block is muted without raising the gate's level: a user under the echo is heard a block
  or two later, once his voice dominates.
- a changed echo path: the output is a delayed copy of the far audio (`correlates_with_far`).
  Not when the raw microphone is louder than the echo path makes the far audio (`aec` asks
  first): a filter that has not found a new answer's path yet leaves the far audio in its
  output under a user's voice too.

And the reverse, `DoubtTracker`: a block the canceller cuts much less than usual holds a voice
the far audio does not explain, a user under the gate's margin. While in doubt the residual gate
may not raise its echo level, or a user quieter than the echo would teach it his own voice and
lock himself out (in echo_sim, most missed barge-ins were that).
"""

from __future__ import annotations

import enum

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.echo.energy import energy_at
from realtime_cli.audio.echo.timeline import Reference

SLIP_DB = 0.5  # canceller output this much louder than its input at speech onset: a slip
ONSET_MAX_CUT_DB = 9.0  # a user over the echo dominates the block: the canceller cuts it less
ECHO_CORRELATION = 0.5  # measured: user voice <= 0.55, echo after a path change 0.5-0.8
DEPTH_STEP_DB = 0.3  # the depth tracker's step: a median that follows in seconds, not blocks
DOUBT_DB = 9.0  # a block the canceller cuts this much less than usual may hold a second voice
DOUBT_FLOOR_DBFS = -45.0  # quieter blocks are room noise, which no canceller removes
SLIP_MEMORY_S = 0.5  # a canceller that added energy this recently explains nothing


class Onset(enum.Enum):
    """Why speech that appeared over the echo is echo after all."""

    SLIPPED = "slipped"
    HALF_LEARNED = "half-learned"


def judge_onset(gain_db: float) -> Onset | None:
    """Speech appears over the echo where the raw gate heard none, and the canceller's gain over
    the frames it just ran was `gain_db`: echo it slipped on, echo it half-learned, or (None)
    nothing these two checks can tell from the user."""
    if gain_db > SLIP_DB:
        return Onset.SLIPPED
    if gain_db < -ONSET_MAX_CUT_DB:
        return Onset.HALF_LEARNED
    return None


def correlates_with_far(recent: npt.NDArray[np.int16], ref: Reference, stop: int, lookback: int) -> bool:
    """Is `recent` (the canceller's linear output, ending at sample `stop`) a delayed copy of the
    far audio, echo, rather than a second voice?

    Energy alone cannot tell a changed echo path from a user as loud as the echo; the shape
    can: normalised cross-correlation of the linear output (before the non-linear suppressor,
    which distorts the residual) with the far audio over every lag the echo can have
    (`lookback` samples). Costs two FFTs: run it only when the energies disagree.
    """
    return far_correlation(recent, ref, stop, lookback) >= ECHO_CORRELATION


def far_correlation(recent: npt.NDArray[np.int16], ref: Reference, stop: int, lookback: int) -> float:
    e = recent.astype(np.float64)
    f = ref.read(stop - len(e) - lookback, stop).astype(np.float64)
    size = 1 << (len(f) + len(e) - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(f, size) * np.conj(np.fft.rfft(e, size)), size)[: len(f) - len(e) + 1]
    power = np.concatenate([[0.0], np.cumsum(f * f)])
    window = power[len(e):] - power[: len(f) - len(e) + 1]
    norm = np.sqrt(window * float(np.dot(e, e))) + 1.0
    return float(np.max(np.abs(xc) / norm))


class DoubtTracker:
    """May a block hold a second voice? A converged canceller cuts echo-only blocks by `depth_db`
    (a running median of its gain while the far end plays); one it cuts by `DOUBT_DB` less holds
    sound the far audio does not explain. Not when the canceller itself slipped lately (it added
    energy: its output is echo it got wrong), nor in room noise."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.depth_db = 0.0
        self.slipped_at = -(1 << 62)  # end of the last block the canceller added energy to
        self.floor = energy_at(DOUBT_FLOOR_DBFS)

    def doubt(self, near_energy: float, gain_db: float, stop: int) -> bool:
        """For the microphone block ending at `stop` (raw energy `near_energy`, the canceller's
        gain `gain_db`). Call once per block over far audio: it also moves the median and the
        slip memory."""
        if near_energy < self.floor:
            return False
        if gain_db > SLIP_DB:
            self.slipped_at = stop
        doubt = gain_db > self.depth_db + DOUBT_DB and stop - self.slipped_at > SLIP_MEMORY_S * self.rate
        self.depth_db += DEPTH_STEP_DB * (0.5 if gain_db > self.depth_db else -0.5)
        return doubt
