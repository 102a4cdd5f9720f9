"""The processors without a canceller: `half-duplex` mutes echo, `off` only watches.

`TimelineProcessor` is what every mode shares: both streams on one timeline, the far audio by
sample, and the gate's view of it (so even `off` reports when the far end is audible).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.echo.energy import energy
from realtime_cli.audio.echo.gate import EchoGate
from realtime_cli.audio.echo.interface import EchoStats
from realtime_cli.audio.echo.timeline import Anchor, Reference


class TimelineProcessor:
    """The shared timeline and gate; subclasses decide what a microphone block becomes."""

    mode = "off"

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._far_anchor = Anchor(rate)
        self._near_anchor = Anchor(rate)
        self._ref = Reference(rate)
        self._gate = EchoGate(rate)
        self.gated_blocks = 0
        self._far_peak = 0.0
        self._near_energy = 0.0  # of the last microphone block classified

    def far(self, pcm: npt.NDArray[np.int16], t: float) -> None:
        """Record what reaches the DAC at `t`; call for silence too, so gaps are known."""
        self._ref.write(self._far_anchor.place(t, len(pcm)), np.asarray(pcm, dtype=np.int16))

    def dropped(self, t: float) -> None:
        self._ref.cut(self._far_anchor.cut(t))

    def near(self, pcm: npt.NDArray[np.int16], t: float) -> npt.NDArray[np.int16]:
        pcm = np.asarray(pcm, dtype=np.int16)
        start = self._near_anchor.place(t, len(pcm))
        return self._process(pcm, start, start + len(pcm))

    def _process(self, pcm: npt.NDArray[np.int16], start: int, stop: int) -> npt.NDArray[np.int16]:
        self._gate.active = self._gate.far_peak(self._ref, start, stop) > self._gate.floor
        return pcm

    def _classify(self, pcm: npt.NDArray[np.int16], start: int, stop: int) -> str:
        self._far_peak = self._gate.far_peak(self._ref, start, stop)
        self._near_energy = energy(pcm)
        return self._gate.classify(self._near_energy, self._far_peak, start, stop)

    def stats(self) -> EchoStats:
        return EchoStats(mode=self.mode, active=self._gate.active, converged=False, warming_up=False,
                         echo_return_loss_db=0.0, gated_blocks=self.gated_blocks)

    def close(self) -> None:
        """Release native state, if any."""


class PassThrough(TimelineProcessor):
    mode = "off"


class HalfDuplex(TimelineProcessor):
    mode = "half-duplex"

    def _process(self, pcm: npt.NDArray[np.int16], start: int, stop: int) -> npt.NDArray[np.int16]:
        if self._classify(pcm, start, stop) == "echo":
            self.gated_blocks += 1
            return np.zeros_like(pcm)
        return pcm
