"""Reply audio: real speech from espeak-ng, or a clearly synthetic voice-like signal.

espeak-ng writes a 22050 Hz WAV on stdout (`espeak-ng -v en-us -s 160 --stdout TEXT`); it is
resampled to 24 kHz PCM16 with soxr. Its header carries a bogus data length when streaming, so
the parser takes everything after the `data` chunk id. Each API voice maps to an espeak variant
so voices sound different; `speed` (0.25-1.5) scales the 160 words-per-minute rate.

Without espeak-ng the engine says so once on stderr and falls back to `synthetic_voice`: one
buzz per syllable (a 110-220 Hz pulse train shaped by two vowel formants), short gaps between
syllables, longer ones between words: speech-like for VAD and playback, never mistaken for words.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.pcm import SAMPLE_RATE
from realtime_cli.errors import AudioDeviceError

ESPEAK_WPM = 160
VOICE_VARIANTS = {
    "alloy": "en-us",
    "ash": "en-us+m3",
    "ballad": "en-gb+m2",
    "coral": "en-us+f3",
    "echo": "en-us+m2",
    "sage": "en-us+f2",
    "shimmer": "en-us+f4",
    "verse": "en-us+m4",
    "marin": "en-us+f5",
    "cedar": "en-us+m1",
}


def espeak_wav_to_pcm(data: bytes) -> bytes:
    """espeak-ng's streamed WAV (any rate) as 24 kHz mono PCM16 bytes."""
    from realtime_cli.audio.wavdev import wav_bytes_to_api_audio

    return wav_bytes_to_api_audio(data, "espeak-ng output").astype("<i2").tobytes()


_VOWELS = re.compile(r"[aeiouy]+", re.IGNORECASE)
_FORMANTS = ((730, 1090), (270, 2290), (530, 1840), (570, 840), (300, 870), (660, 1720))


def _syllable(
    duration_s: float, f0: float, formants: tuple[int, int]
) -> npt.NDArray[np.float64]:
    n = int(duration_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    pitch = f0 * (1.0 + 0.08 * np.sin(2 * np.pi * 3.0 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    signal = np.zeros(n)
    for harmonic in range(1, 30):
        freq = harmonic * f0
        gain = sum(1.0 / (1.0 + ((freq - f) / 90.0) ** 2) for f in formants) / harmonic**0.5
        signal += gain * np.sin(harmonic * phase)
    envelope = np.minimum(1.0, np.minimum(t / 0.03, (duration_s - t) / 0.05).clip(0))
    peak = float(np.max(np.abs(signal))) or 1.0
    return np.asarray(0.5 * signal / peak * envelope, dtype=np.float64)


def synthetic_voice(text: str, speed: float = 1.0) -> bytes:
    """A voice-like but wordless signal: one formant buzz per syllable of `text`."""
    pieces: list[npt.NDArray[np.float64]] = []

    def gap(seconds: float) -> npt.NDArray[np.float64]:
        return np.zeros(int(seconds / speed * SAMPLE_RATE))

    for index, word in enumerate(text.split()):
        syllables = max(1, len(_VOWELS.findall(word)))
        for s in range(syllables):
            f0 = 120.0 + 40.0 * ((index + s) % 3)
            formants = _FORMANTS[(index * 7 + s) % len(_FORMANTS)]
            pieces.append(_syllable(0.16 / speed, f0, formants))
            pieces.append(gap(0.04))
        pieces.append(gap(0.35 if word[-1] in ".,;:!?" else 0.1))
    if not pieces:
        pieces.append(gap(0.2))
    audio = np.concatenate(pieces)
    return bytes(np.round(audio * 32767.0).astype("<i2").tobytes())


class SpeechEngine:
    """Text to 24 kHz PCM16. `engine`: "auto" (espeak-ng if installed), "espeak" or "synthetic"."""

    def __init__(self, engine: str = "auto", warn: Callable[[str], None] | None = None) -> None:
        self._espeak = shutil.which("espeak-ng") if engine != "synthetic" else None
        self._warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
        self._warned = False
        if engine == "espeak" and self._espeak is None:
            from realtime_cli.errors import ConfigError

            raise ConfigError("--voice-engine espeak: espeak-ng is not installed")
        if engine == "auto" and self._espeak is None:
            self._warn_once()

    @property
    def name(self) -> str:
        return "espeak-ng" if self._espeak else "synthetic"

    def _warn_once(self) -> None:
        if not self._warned:
            self._warned = True
            self._warn(
                "rt serve: espeak-ng not found; replies use a synthetic voice-like signal "
                "(install espeak-ng for real speech)"
            )

    async def synthesize(self, text: str, voice: str = "alloy", speed: float = 1.0) -> bytes:
        if self._espeak is not None:
            try:
                return await self._run_espeak(text, voice, speed)
            except (OSError, ValueError, AudioDeviceError) as exc:  # not a usable WAV
                self._espeak = None
                self._warn(f"rt serve: espeak-ng failed ({exc}); using the synthetic voice")
                self._warned = True
        return synthetic_voice(text, speed)

    async def _run_espeak(self, text: str, voice: str, speed: float) -> bytes:
        assert self._espeak is not None
        variant = VOICE_VARIANTS.get(voice, "en-us")
        wpm = str(int(round(ESPEAK_WPM * speed)))
        proc = await asyncio.create_subprocess_exec(
            self._espeak, "-v", variant, "-s", wpm, "--stdout", "--", text,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise OSError(err.decode(errors="replace").strip() or f"exit {proc.returncode}")
        return espeak_wav_to_pcm(out)
