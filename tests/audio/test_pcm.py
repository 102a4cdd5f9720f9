"""The per-block helpers on the microphone path (downmix, level) against plain float math."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_cli.audio.pcm import SILENCE_DBFS, level_dbfs, to_mono_int16


def test_int16_downmix_is_the_channel_average_without_overflow() -> None:
    block = np.array([[32767, 32767], [-32768, -32768], [1000, -1000], [3, 4]], dtype=np.int16)
    assert to_mono_int16(block).tolist() == [32767, -32768, 0, 3]
    assert to_mono_int16(block).dtype == np.int16
    assert to_mono_int16(block[:, :1]).tolist() == [32767, -32768, 1000, 3]


def test_float_input_is_scaled_and_clipped() -> None:
    block = np.array([[1.5, 1.5], [-0.5, -0.5], [0.25, 0.75]], dtype=np.float32)
    assert to_mono_int16(block).tolist() == [32767, -16384, 16384]


@pytest.mark.parametrize("amplitude", [1, 300, 3000, 32767])
def test_level_matches_float64_rms(amplitude: int) -> None:
    rng = np.random.default_rng(amplitude)
    block = np.clip(rng.standard_normal(480) * amplitude, -32768, 32767).astype(np.int16)
    rms = float(np.sqrt(np.mean(block.astype(np.float64) ** 2)))
    assert level_dbfs(block) == pytest.approx(20 * np.log10(rms / 32768), abs=1e-3)
    assert level_dbfs(block.tobytes()) == level_dbfs(block)


def test_silence_and_empty_are_the_floor() -> None:
    assert level_dbfs(np.zeros(480, np.int16)) == SILENCE_DBFS
    assert level_dbfs(b"") == SILENCE_DBFS
