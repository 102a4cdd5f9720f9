"""Block energy and decibels, the one measure every stage compares levels by.

Energies are mean squares in int16 units squared; thresholds are written in dBFS and converted
with `energy_at`, so a full-scale square wave reads 0 dBFS.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

EPS = 1e-9  # a ratio's floor before its log: silence over silence reads -90 dB, not an error


def energy(pcm: npt.NDArray[np.int16]) -> float:
    """Mean square of the block (float32 products: fast, and precise enough to compare levels)."""
    x = pcm.astype(np.float32)
    return float(np.dot(x, x)) / max(1, len(x))


def db(ratio: float) -> float:
    """An energy ratio in dB."""
    return 10.0 * math.log10(max(ratio, EPS))


def energy_at(dbfs: float) -> float:
    """The `energy` of a signal at `dbfs`: thresholds in dBFS, compared in int16 units."""
    return 32768.0**2 * 10 ** (dbfs / 10)
