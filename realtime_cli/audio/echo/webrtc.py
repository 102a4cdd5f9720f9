"""WebRTC's AEC3 (the canceller in Chrome and every WebRTC client), through `pywebrtc-audio`.

An optional dependency (`pip install pywebrtc-audio`): a 440 KB wheel with the audio processing
module compiled in, wheels for Linux (x86_64, aarch64), macOS and Windows. Its `AudioProcessor`
takes 24 kHz directly (it resamples to its internal rate itself) and releases the GIL while it
runs. Chosen over the audio processing module of `livekit` (the same AEC3, an 11.9 MB wheel that
starts a Rust runtime and passes each 10 ms frame through protobuf): on scripts/echo_sim.py both
cancel alike, and livekit costs more per block (README, echo section).

AEC3 brings its own delay estimator and residual echo suppressor; `Aec3Canceller` runs it on
whole 10 ms frames, like `canceller.FramedCanceller` runs speexdsp, so the same pipeline
(`aec.CancellingAec`) puts either behind the residual gate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.echo.energy import db, energy
from realtime_cli.errors import AudioDeviceError

FRAME_S = 0.01  # AEC3's frame: a shorter tail would be zero-padded by the binding
RECENT_S = 0.1  # output kept for `double_talk.correlates_with_far`
INSTALL_HINT = "WebRTC echo cancelling needs pywebrtc-audio: run `pip install pywebrtc-audio`"


def module() -> Any:
    """The `pywebrtc_audio` module; `AudioDeviceError` with the install hint when missing."""
    try:
        import pywebrtc_audio
    except ImportError:
        raise AudioDeviceError(INSTALL_HINT) from None
    return pywebrtc_audio


def available() -> bool:
    try:
        module()
    except AudioDeviceError:
        return False
    return True


class Aec3Canceller:
    """AEC3 with its suppressor, fed whole frames; the readings `canceller.FramedCanceller`
    gives (`gain_db`, `recent`, `pending`) so the residual gate's checks run on it unchanged.
    AEC3 exposes no linear output, so `recent` is its final output."""

    def __init__(self, rate: int) -> None:
        self.frame = round(FRAME_S * rate)
        self._apm = module().AudioProcessor(sample_rate=rate, num_channels=1, echo_cancellation=True)
        self._pending_near = np.zeros(0, dtype=np.int16)
        self._pending_ref = np.zeros(0, dtype=np.int16)
        self._out = np.zeros(0, dtype=np.int16)
        self._recent_len = round(RECENT_S * rate)
        self.recent = np.zeros(0, dtype=np.int16)
        self.gain_db = 0.0

    @property
    def pending(self) -> int:
        return len(self._pending_near)

    def run(self, pcm: npt.NDArray[np.int16], ref: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """Cancel `ref` (the far audio aligned with `pcm`, as long) out of `pcm`; as long as `pcm`.
        Blocks of whole frames pass straight through without buffering."""
        near = np.concatenate([self._pending_near, pcm]) if len(self._pending_near) else pcm
        far = np.concatenate([self._pending_ref, ref]) if len(self._pending_ref) else ref
        whole = len(near) // self.frame * self.frame
        if whole:
            ran = np.asarray(self._apm.process(np.ascontiguousarray(near[:whole], dtype=np.int16),
                                               np.ascontiguousarray(far[:whole], dtype=np.int16)),
                             dtype=np.int16)
            self.recent = np.concatenate([self.recent, ran])[-self._recent_len:]
            self.gain_db = db((energy(ran) + 1.0) / (energy(near[:whole]) + 1.0))
            self._out = np.concatenate([self._out, ran]) if len(self._out) else ran
        self._pending_near, self._pending_ref = near[whole:], far[whole:]
        n = len(pcm)
        if len(self._out) < n:  # only until the lag settles: less than one frame, once
            self._out = np.concatenate([np.zeros(n - len(self._out), dtype=np.int16), self._out])
        out, self._out = self._out[:n], self._out[n:]
        return out

    def reset(self) -> None:
        """Forget the learned echo path (it moved)."""
        self._apm.reset()

    def close(self) -> None:
        """Nothing native to free by hand: the binding's object owns its state."""
