"""Input level and the local speech indicator shown on the dashboard (not the API's VAD).

Pure: fed one block at a time with its level, no clock. Energy based: a block is "loud" when it
is above an absolute floor and clearly above the tracked noise floor; the indicator stays on for
a hangover after the last loud block so it does not flicker between words.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.interfaces import SourceLevels
from realtime_cli.audio.pcm import SILENCE_DBFS, level_dbfs


class SpeechIndicator:
    def __init__(
        self,
        *,
        threshold_dbfs: float = -50.0,
        margin_db: float = 10.0,
        hangover_ms: float = 300.0,
    ) -> None:
        self._threshold = threshold_dbfs
        self._margin = margin_db
        self._hangover_ms = hangover_ms
        self._floor: float | None = None  # set by the first block
        self._since_loud_ms = float("inf")

    def update(self, level: float, block_ms: float) -> bool:
        """Feed one block's level; return whether speech is indicated after it."""
        floor = level if self._floor is None else self._floor
        loud = level > self._threshold and level > floor + self._margin
        # The floor follows quiet levels at once and rises slowly (about 3 dB/s), so speech
        # does not lift it much but a louder room does, eventually.
        self._floor = level if level < floor else min(level, floor + 3.0 * block_ms / 1000.0)
        self._since_loud_ms = 0.0 if loud else self._since_loud_ms + block_ms
        return self._since_loud_ms <= self._hangover_ms


class LevelTracker:
    """What `AudioSource.levels()` returns, updated per block of 24 kHz mono PCM16."""

    def __init__(self, indicator: SpeechIndicator | None = None) -> None:
        self._indicator = indicator or SpeechIndicator()
        self._level = SILENCE_DBFS
        self._speech = False
        self.overflows = 0

    def update(self, block: npt.NDArray[np.int16], block_ms: float) -> None:
        self._level = level_dbfs(block)
        self._speech = self._indicator.update(self._level, block_ms)

    def snapshot(self) -> SourceLevels:
        return SourceLevels(level_dbfs=self._level, speech=self._speech, overflows=self.overflows)
