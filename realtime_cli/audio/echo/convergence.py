"""How much echo the canceller removes (ERLE), for the dashboard's `converged`/`warming_up`.

Measured on echo-only blocks (mic input energy over output energy): double talk would read as
the canceller failing. A canceller that still diverges reads low. The muting decision is the
residual gate's, not this.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.echo.energy import db, energy


class ConvergenceMeter:
    CONVERGED_DB = 12.0  # ERLE to report convergence
    DIVERGED_DB = 6.0  # ERLE to report warming up again (the room or the device changed)
    ERLE_TAU_S = 0.5  # smooths over a few syllables: one word does not flip the dashboard
    MIN_LEARN_S = 0.5  # echo-only audio needed before the ERLE estimate means anything

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._in_energy = 0.0  # smoothed over echo-only blocks
        self._out_energy = 0.0
        self._learned = 0
        self.converged = False

    def learn(self, rec: npt.NDArray[np.int16], out: npt.NDArray[np.int16]) -> None:
        """An echo-only block: `rec` from the microphone, `out` what the canceller made of it."""
        alpha = min(1.0, len(rec) / (self.ERLE_TAU_S * self.rate))
        self._in_energy += alpha * (energy(rec) - self._in_energy)
        self._out_energy += alpha * (energy(out) - self._out_energy)
        self._learned += len(rec)
        if self._learned < self.MIN_LEARN_S * self.rate:
            return
        erle = self.erle_db()
        if erle >= self.CONVERGED_DB:
            self.converged = True
        elif erle < self.DIVERGED_DB:
            self.converged = False

    def erle_db(self) -> float:
        if self._learned == 0:
            return 0.0
        return db((self._in_energy + 1.0) / (self._out_energy + 1.0))
