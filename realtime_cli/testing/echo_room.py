"""A simulated room on the test sound server: rt's speaker leaks into rt's microphone.

`EchoRoom` captures what rt's speaker plays (rt_sink48's monitor), passes it through a
loudspeaker-to-microphone path (delay, gain, a reverberation tail, noise) and plays the result
into rt_sink, whose monitor is rt's microphone. A person talking in the room is `paplay -d rt_sink`
on top: PulseAudio mixes the two, as the air would.

One duplex PortAudio stream on the ALSA `pulse` device does both ends (capture routed to the
monitor with $PULSE_SOURCE, playback to rt_sink with $PULSE_SINK), so input and output blocks
come in the same callback. The stream itself adds about 62 ms (measured with a noise burst:
61-68 ms); the delay line adds the rest, so `delay_ms` is the whole path from rt's DAC to its ADC.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.devices import open_error, resolve_device, sounddevice

RATE = 24_000
BLOCK = 240  # 10 ms
STREAM_DELAY_MS = 62.0  # the duplex stream's own latency on `pulse`, measured (61-68 ms)
_env_lock = threading.Lock()


def reverb_tail(ms: float, rng: np.random.Generator, decay_db: float = 60.0) -> npt.NDArray[np.float64]:
    """An impulse response: the direct sound, then exponentially decaying noise (a small room)."""
    n = max(1, int(ms * RATE / 1000))
    t = np.arange(n) / n
    tail = rng.standard_normal(n) * 10 ** (-decay_db * t / 20) * 0.3
    tail[0] = 1.0
    return np.asarray(tail / np.sqrt(np.sum(tail**2)), dtype=np.float64)


class EchoRoom:
    def __init__(self, *, delay_ms: float = 80.0, gain: float = 0.5, reverb_ms: float = 50.0,
                 noise_dbfs: float = -60.0, seed: int = 0,
                 speaker: str = "rt_sink48.monitor", microphone: str = "rt_sink") -> None:
        if delay_ms < STREAM_DELAY_MS:
            raise ValueError(f"the path cannot be shorter than the stream's {STREAM_DELAY_MS:g} ms")
        rng = np.random.default_rng(seed)
        self.delay_ms = delay_ms
        self.gain = gain
        self._ir = reverb_tail(reverb_ms, rng)
        self._noise = 32768 * 10 ** (noise_dbfs / 20)
        self._rng = rng
        self._line = np.zeros(int((delay_ms - STREAM_DELAY_MS) * RATE / 1000), dtype=np.float64)
        self._tail = np.zeros(len(self._ir) - 1, dtype=np.float64)
        self._speaker, self._microphone = speaker, microphone
        self._stream: Any = None
        self.blocks = 0

    def start(self) -> EchoRoom:
        sd = sounddevice()
        info = resolve_device("pulse", "output")
        with _env_lock:
            saved = {k: os.environ.get(k) for k in ("PULSE_SOURCE", "PULSE_SINK")}
            os.environ["PULSE_SOURCE"], os.environ["PULSE_SINK"] = self._speaker, self._microphone
            try:
                self._stream = sd.Stream(device=(info.index, info.index), samplerate=RATE, channels=1,
                                         dtype="int16", blocksize=BLOCK, callback=self._callback)
            except (sd.PortAudioError, ValueError) as exc:
                raise open_error(exc, info, "output", RATE, 1) from None
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        self._stream.start()
        return self

    def _callback(self, indata: npt.NDArray[np.int16], outdata: npt.NDArray[np.int16], frames: int,
                  time: Any, status: Any) -> None:
        x = indata[:, 0].astype(np.float64)
        if self._line.size:  # the delay line: this block goes in, the oldest comes out
            joined = np.concatenate([self._line, x])
            x, self._line = joined[:frames], joined[frames:]
        wet = np.convolve(x, self._ir)
        wet[: self._tail.size] += self._tail
        self._tail = wet[frames:].copy()
        y = wet[:frames] * self.gain + self._rng.standard_normal(frames) * self._noise
        outdata[:, 0] = np.clip(np.round(y), -32768, 32767).astype(np.int16)
        self.blocks += 1

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close(ignore_errors=True)

    def __enter__(self) -> EchoRoom:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
