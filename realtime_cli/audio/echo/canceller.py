"""speexdsp's echo canceller and residual echo suppressor, run on whole 10 ms frames
(`WholeFrames` does the framing, for AEC3 too: `webrtc`).

Microphone blocks of any length go in; whole frames run through the canceller and then the
preprocessor (speexdsp's residual echo suppressor, fed by the canceller's state). The output
lags the input by one 10 ms frame (the preprocessor's overlap-add), plus, for blocks that are
not whole 10 ms frames, a constant < 10 ms of buffering set by the first block; output length
always equals input length.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.echo.energy import db, energy
from realtime_cli.audio.echo.speexdsp import EchoCanceller, Preprocessor

FRAME_S = 0.01  # speexdsp's frame, and AEC3's
FILTER_S = 0.12  # reverb tail + slack around the pre-shift (`delay`); short filters re-converge fast
RECENT_S = 0.1  # linear output kept for `double_talk.correlates_with_far`


class WholeFrames:
    """A canceller run on whole frames of `frame` samples: the partial frame waiting for its
    rest, the output queue, and two readings of the frames it last ran: `gain_db` (output over
    input energy: > 0 dB means it added energy) and `recent`, its linear output before any
    non-linear suppressor distorts it. Subclasses cancel in `_cancel`."""

    def __init__(self, rate: int, frame: int) -> None:
        self.frame = frame
        self._pending_near = np.zeros(0, dtype=np.int16)
        self._pending_ref = np.zeros(0, dtype=np.int16)
        self._out = np.zeros(0, dtype=np.int16)
        self._recent_len = round(RECENT_S * rate)
        self.recent = np.zeros(0, dtype=np.int16)
        self.gain_db = 0.0

    @property
    def pending(self) -> int:
        """Microphone samples waiting for a whole frame: the linear output ends this far back."""
        return len(self._pending_near)

    def _cancel(self, near: npt.NDArray[np.int16], ref: npt.NDArray[np.int16],
                ) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int16]]:
        """Whole frames in: (linear output, final output), each as long as `near`."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the learned echo path (it moved)."""
        raise NotImplementedError

    def close(self) -> None:
        """Free the native state, if any; not used afterwards."""

    def run(self, pcm: npt.NDArray[np.int16], ref: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """Cancel `ref` (the far audio aligned with `pcm`, as long) out of `pcm`; as long as `pcm`."""
        if len(self._pending_near):
            near = np.concatenate([self._pending_near, pcm])
            refs = np.concatenate([self._pending_ref, ref])
        else:  # blocks of whole frames (the microphone's 20 ms): nothing waits, nothing to join
            near, refs = pcm, ref
        whole = len(near) // self.frame * self.frame
        if whole:
            linear, out = self._cancel(near[:whole], refs[:whole])
            self.recent = np.concatenate([self.recent, linear])[-self._recent_len:]
            self.gain_db = db((energy(linear) + 1.0) / (energy(near[:whole]) + 1.0))
            self._out = np.concatenate([self._out, out]) if len(self._out) else out
        self._pending_near, self._pending_ref = near[whole:].copy(), refs[whole:].copy()
        n = len(pcm)
        if len(self._out) < n:  # only until the lag settles: at most one frame, once
            self._out = np.concatenate([np.zeros(n - len(self._out), dtype=np.int16), self._out])
        out, self._out = self._out[:n], self._out[n:]
        return out


class FramedCanceller(WholeFrames):
    """speexdsp's canceller and then its preprocessor, frame by frame."""

    def __init__(self, rate: int, *, filter_s: float, echo_suppress_db: int,
                 echo_suppress_active_db: int) -> None:
        super().__init__(rate, round(FRAME_S * rate))
        self._aec = EchoCanceller(self.frame, round(filter_s * rate), rate)
        self._pre = Preprocessor(self.frame, rate, echo=self._aec, echo_suppress_db=echo_suppress_db,
                                 echo_suppress_active_db=echo_suppress_active_db)

    def _cancel(self, near: npt.NDArray[np.int16], ref: npt.NDArray[np.int16],
                ) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int16]]:
        f = self.frame
        linear = np.empty(len(near), dtype=np.int16)
        out = np.empty(len(near), dtype=np.int16)
        for i in range(0, len(near), f):  # all frames through the canceller, then through the
            linear[i:i + f] = self._aec.cancel(near[i:i + f], ref[i:i + f])
        for i in range(0, len(near), f):  # preprocessor, which reads the canceller's state
            out[i:i + f] = self._pre.run(linear[i:i + f])
        return linear, out

    def reset(self) -> None:
        self._aec.reset()

    def close(self) -> None:
        """Free the native state; the preprocessor first, as it points into the canceller."""
        self._pre.close()
        self._aec.close()
