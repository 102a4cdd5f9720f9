"""Ground truth for tests and benchmarks: what reached a (null) sink, and when.

`MonitorRecorder` records a PulseAudio monitor raw (no resampling) with each block's ADC time on
the PortAudio clock, the clock `SpeakerSink` stamps its blocks with. On the null sink the monitor
is bit-exact at the sink's format, and a sample's ADC time on the monitor matched its DAC time on
the output within 0.2 ms on a quiet machine and within 3 ms with a core kept busy (measured), so
"sample i of the capture reached the device at `time_of(i)`" is what the tests compare
`SpeakerSink.status()` against.

Not used by rt itself. The recorder keeps blocks in a list from PortAudio's thread (list append
is atomic); read `signal()` after `stop()` or while it runs, for a prefix.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.devices import open_error, resolve_device, routed, sounddevice


class MonitorRecorder:
    def __init__(self, spec: str, *, rate: int = 24_000, channels: int = 1, block_ms: float = 10) -> None:
        self.spec = spec
        self.rate = rate
        self.channels = channels
        self._block = round(rate * block_ms / 1000)
        self._blocks: list[tuple[float, npt.NDArray[np.int16]]] = []
        self.input_delays: list[float] = []  # per block: callback time - ADC time, seconds
        self._stream: Any = None
        self.first_block = threading.Event()
        self.overflows = 0  # blocks flagged input overflow: the recorder lost audio, not the sink

    def start(self) -> MonitorRecorder:
        sd = sounddevice()
        info = resolve_device(self.spec, "input")
        try:
            with routed(info, "input"):
                self._stream = sd.InputStream(
                    device=info.index,
                    samplerate=self.rate,
                    channels=self.channels,
                    dtype="int16",
                    blocksize=self._block,
                    callback=self._callback,
                )
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise open_error(exc, info, "input", self.rate, self.channels) from None
        return self

    def _callback(self, indata: npt.NDArray[np.int16], frames: int, time: Any, status: Any) -> None:
        if status.input_overflow:
            self.overflows += 1
        self._blocks.append((float(time.inputBufferAdcTime), indata[:, 0].copy()))
        self.input_delays.append(float(time.currentTime - time.inputBufferAdcTime))
        self.first_block.set()

    def check_timing(self, limit_s: float = 0.1) -> None:
        """Fail loudly when the ADC times cannot be trusted (a capture opened in the first
        seconds of a fresh PulseAudio got estimates 0.2-0.55 s off, see sound-server.sh)."""
        worst = max(self.input_delays, default=0.0)
        if worst > limit_s:
            raise AssertionError(
                f"monitor ADC times unreliable: input delay {worst * 1000:.0f} ms "
                f"(> {limit_s * 1000:.0f} ms); ground truth unusable for timing"
            )

    def stop(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def __enter__(self) -> MonitorRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def signal(self) -> npt.NDArray[np.int16]:
        """Channel 0 of everything recorded so far."""
        blocks = list(self._blocks)
        if not blocks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([b for _, b in blocks])

    def time_of(self, index: int) -> float:
        """ADC time (PortAudio clock) of sample `index` of `signal()`, with single-block stamp
        jitter removed (under load a block's stamp alone was seen 2.4 ms off)."""
        times = _steady_times(list(self._blocks), self.rate)
        if not 0 <= index < len(times):
            raise IndexError(f"sample {index} not recorded yet")
        return float(times[index])


def locate(haystack: npt.NDArray[np.int16], needle: npt.NDArray[np.int16]) -> int:
    """Index in `haystack` where `needle` (a distinctive signal, e.g. noise) starts."""
    h = haystack.astype(np.float64)
    n = needle.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(h) + len(n))))
    corr = np.fft.irfft(np.fft.rfft(h, size) * np.conj(np.fft.rfft(n, size)), size)
    return int(np.argmax(corr[: len(h)]))


class Trace:
    """Where a known item was, sample by sample, in a recording: robust to gaps and repeats.

    The recording is cut into 10 ms chunks and each chunk with sound is located in `reference`
    (the item at the recorder's rate) by cross-correlation. `heard_at(t)` is then how much of the
    item had reached the device by time `t`, in 24 kHz samples: the item position of the last
    recorded sample whose ADC time is <= t. A device that stalled, or a monitor that dropped or
    repeated audio, does not fool it the way "start time + elapsed" would.
    """

    def __init__(self, rec: MonitorRecorder, reference: npt.NDArray[np.int16], *, since: int = 0) -> None:
        self.rate = rec.rate
        self.length = len(reference)
        sig = rec.signal().astype(np.float64)
        self._times = _steady_times(list(rec._blocks), rec.rate)
        self._chunk = chunk = rec.rate // 100
        ref = np.concatenate([np.zeros(chunk), reference.astype(np.float64), np.zeros(chunk)])
        size = 1 << int(np.ceil(np.log2(len(ref) + chunk)))
        spectrum = np.fft.rfft(ref, size)
        energy = np.concatenate([[0.0], np.cumsum(ref**2)])
        self._points: list[tuple[int, int]] = []  # (recording index, item index) per chunk
        for c in range(since, len(sig) - chunk + 1, chunk):
            x = sig[c : c + chunk]
            norm_x = float(np.sqrt(np.dot(x, x)))
            if norm_x < 1.0:
                continue
            corr = np.fft.irfft(spectrum * np.conj(np.fft.rfft(x, size)), size)[: len(ref) - chunk]
            window = np.sqrt(np.maximum(energy[chunk:] - energy[:-chunk], 1e-9))[: len(corr)]
            score = corr / (norm_x * window)
            j = int(np.argmax(score))
            if score[j] > 0.9:
                self._points.append((c, j - chunk))

    def time_of(self, index: int) -> float:
        """Smoothed ADC time of recording sample `index`."""
        return float(self._times[index])

    def heard_at(self, when: float) -> float:
        """24 kHz samples of the item that had reached the device by `when` (PortAudio clock)."""
        i = int(np.searchsorted(self._times, when, side="right")) - 1
        pos = 0
        for c, j in self._points:
            if c > i:
                break
            pos = max(pos, j + min(i - c + 1, self._chunk))
        return float(np.clip(pos, 0, self.length)) * 24_000 / self.rate


def _steady_times(blocks: list[tuple[float, npt.NDArray[np.int16]]], rate: int) -> npt.NDArray[np.float64]:
    """Per-sample ADC times with single-block jitter removed.

    Each block's ADC time, minus its sample index / rate, is the recording's clock offset; it is
    constant while nothing is dropped. A running median over 9 blocks ignores a block stamped a
    few ms off (seen under load) but follows a real step (an overflow that dropped audio).
    """
    if not blocks:
        return np.zeros(0)
    sizes = np.array([len(b) for _, b in blocks])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    offsets = np.array([adc for adc, _ in blocks]) - starts / rate
    padded = np.pad(offsets, 4, mode="edge")
    smooth = np.array([np.median(padded[k : k + 9]) for k in range(len(offsets))])
    return np.concatenate([smooth[k] + (starts[k] + np.arange(sizes[k])) / rate for k in range(len(blocks))])
