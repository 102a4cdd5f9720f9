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

from realtime_cli.audio.echo.canceller import FRAME_S, WholeFrames
from realtime_cli.errors import AudioDeviceError

INSTALL_HINT = "WebRTC echo cancelling needs pywebrtc-audio: run `pip install pywebrtc-audio`"


def module() -> Any:
    """The `pywebrtc_audio` module; `AudioDeviceError` with the install hint when missing."""
    try:
        import pywebrtc_audio
    except ImportError:
        raise AudioDeviceError(INSTALL_HINT) from None
    return pywebrtc_audio


class Aec3Canceller(WholeFrames):
    """AEC3 with its suppressor on whole frames (a shorter tail would be zero-padded by the
    binding). AEC3 exposes no linear output, so `recent` is its final output."""

    def __init__(self, rate: int) -> None:
        super().__init__(rate, round(FRAME_S * rate))
        self._apm = module().AudioProcessor(sample_rate=rate, num_channels=1, echo_cancellation=True)

    def _cancel(self, near: npt.NDArray[np.int16], ref: npt.NDArray[np.int16],
                ) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int16]]:
        out = np.asarray(self._apm.process(np.ascontiguousarray(near), np.ascontiguousarray(ref)),
                         dtype=np.int16)
        return out, out

    def reset(self) -> None:
        self._apm.reset()
