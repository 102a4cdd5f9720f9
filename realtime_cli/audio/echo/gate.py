"""The half-duplex decision: is this microphone block only echo of the far audio?

Used twice in `aec`: on the raw microphone (is the far end audible, and how loud is the echo
path) and on the canceller's output (the residual gate, which mutes what the canceller left).
"""

from __future__ import annotations

import numpy as np

from realtime_cli.audio.echo.energy import db, energy_at
from realtime_cli.audio.echo.timeline import Reference

HANGOVER_S = 0.3  # max echo delay (200 ms) + reverb tail: how long echo can follow far audio
FAR_FLOOR_DBFS = -50.0  # quieter far audio cannot make echo the VAD would take for speech
CHUNK_S = 0.01  # far energy is measured per 10 ms chunk, so one loud syllable counts


class EchoGate:
    """The echo estimate is the loudest 10 ms of far audio over the last `HANGOVER_S` times a
    learned echo-path gain. The gain is the running 90th percentile (a stochastic quantile
    tracker, in dB) of mic/far energy over blocks that look like echo only: a high percentile
    because the estimate must bound the echo, and a tracker that ignores blocks already far
    above it, so double talk cannot teach it that the user is echo. It starts at 0 dB (echo as
    loud as the far audio), i.e. strict, and relaxes as it learns.
    """

    QUANTILE = 0.9
    STEP_DB = 1.0
    FAST_STEP_DB = 4.0  # downward step while re-learning after a path change (upward stays STEP_DB)
    MARGIN_DB = 10.0  # user speech must beat the echo estimate by this much to pass
    OPEN_HOLD_S = 0.15  # keep passing briefly after clear user speech: syllables dip
    CONFIRM_S = 0.03  # louder than the echo estimate this long before it counts as the user

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.chunk = round(CHUNK_S * rate)
        self.lookback = round(HANGOVER_S * rate)
        self.floor = energy_at(FAR_FLOOR_DBFS)
        self.erl_db = 0.0
        self.ratio_db = 0.0
        self.open_until = -1
        self.loud_since: int | None = None
        self.confirm = round(self.CONFIRM_S * rate)
        self.active = False
        self.fast_until = -1  # until then the tracker falls by `FAST_STEP_DB` steps

    def relearn(self, until: int) -> None:
        """The echo path changed and the canceller restarted: track its level quickly for a while."""
        self.fast_until = until

    def trust(self, level_db: float) -> None:
        """The canceller has shown it cuts the echo as well as when `level_db` was learnt: that
        level again, unless the one learnt since is lower."""
        self.erl_db = min(self.erl_db, level_db)

    def distrust(self, level_db: float) -> None:
        """The canceller cannot be trusted for now (a stream skipped, or it slipped): assume
        echo as loud as `level_db` at once, and learn the level again at the usual pace."""
        self.erl_db = max(self.erl_db, level_db)
        self.fast_until = -1
        self.open_until = -1
        self.loud_since = None

    def far_peak(self, ref: Reference, start: int, stop: int) -> float:
        """Loudest 10 ms chunk energy of the far audio that can still echo in [start, stop)."""
        if ref.silent(stop - self.lookback - self.chunk):  # only silence there (or echo off)
            return 0.0
        span = ref.read(stop - self.lookback - self.chunk, stop).astype(np.float32)
        usable = len(span) // self.chunk * self.chunk
        chunks = span[len(span) - usable:].reshape(-1, self.chunk)
        return float(np.max(np.einsum("ij,ij->i", chunks, chunks))) / self.chunk

    def classify(self, near_energy: float, far_peak: float, start: int, stop: int,
                 doubt: bool = False) -> str:
        """`idle` (no far audio), `user` (clearly louder than the echo), `hold`, or `echo`.

        Only `echo` blocks teach the tracker; `hold` follows clear user speech for a moment,
        since syllables dip under the margin and double talk must not be learnt as echo.
        `doubt` says the block may hold a second voice under the margin: it may lower the
        learned level but not raise it, or a user under the margin would lock himself out.
        """
        self.active = far_peak > self.floor
        if not self.active:
            self.loud_since = None
            return "idle"
        self.ratio_db = db(near_energy / far_peak)
        if self.ratio_db >= self.erl_db + self.MARGIN_DB:
            self.loud_since = start if self.loud_since is None else self.loud_since
            if stop - self.loud_since < self.confirm:  # a lone loud block is more likely a leak
                return "echo"
            self.open_until = stop + round(self.OPEN_HOLD_S * self.rate)
            return "user"
        self.loud_since = None
        if start < self.open_until:
            return "hold"
        if self.ratio_db <= self.erl_db:
            down = self.FAST_STEP_DB if start < self.fast_until else self.STEP_DB
            self.erl_db -= down * (1 - self.QUANTILE)
        elif not doubt:
            self.erl_db += self.STEP_DB * self.QUANTILE
        return "echo"

    def overrule(self, learn: bool = True) -> None:
        """The last `user` block was echo after all: close again, and learn its level at once
        unless `learn` is False (this block only: the next ones are judged afresh)."""
        if learn:
            self.erl_db = max(self.erl_db, self.ratio_db)
        self.open_until = -1
        self.loud_since = None
