"""Play a short test signal through the speaker and record the microphone meanwhile, with the
stream timestamps the echo processors need (what `rt doctor` measures the room from).

Two PortAudio streams, opened as rt talk opens them (`devices.open_stream`: the same device
resolution and PulseAudio routing, the speaker with rt's block and device buffer), each at the
format `stream_format` picks.
The signal is made at 24 kHz and converted to the speaker's rate; the recording is brought back
to 24 kHz, so the analysis sees what rt's echo processors would.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

RATE = 24_000
LEAD_S = 0.6  # silence first: the microphone's noise floor, before anything plays
SIGNAL_S = 3.0  # long enough for speexdsp to converge (about 2 s) and be measured after
TAIL_S = 0.5  # the echo's tail and a slow device
LEVEL_DBFS = -18.0  # the signal's RMS: a loud voice, so a weak echo path still shows
BLOCK_MS = 20.0  # the microphone's block, as rt talk's
DEVICE_BUFFER_S = 0.1  # the microphone's: ample, a starved device would blur the echo path
PRIMING_S = 0.2  # underflows while the stream starts say nothing about steady playback
LATE_S = 2.0  # a speaker this far behind the signal is reported, not waited for (rt doctor: < 15 s)


def probe_signal(seed: int = 0) -> npt.NDArray[np.int16]:
    """Silence, then noise shaped like speech (a 2-4 kHz-wide spectrum with syllables at about
    4 Hz: it drives a canceller as a voice does), then silence; 24 kHz mono."""
    rng = np.random.default_rng(seed)
    n = round(SIGNAL_S * RATE)
    noise = rng.standard_normal(n)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum *= (freqs > 100) / np.sqrt(1 + (freqs / 1000) ** 2)  # speech-like slope, no rumble
    shaped = np.fft.irfft(spectrum, n)
    t = np.arange(n) / RATE
    envelope = 0.35 + 0.65 * np.abs(np.sin(2 * np.pi * 2.1 * t + rng.uniform(0, np.pi)))
    shaped *= envelope
    shaped *= 32768 * 10 ** (LEVEL_DBFS / 20) / np.sqrt(np.mean(shaped**2))
    body = np.clip(np.round(shaped), -32768, 32767).astype(np.int16)
    return np.concatenate([np.zeros(round(LEAD_S * RATE), dtype=np.int16), body,
                           np.zeros(round(TAIL_S * RATE), dtype=np.int16)])


@dataclass
class Recording:
    """What was played and heard, both at 24 kHz, with the stream time of each first sample."""

    far: npt.NDArray[np.int16]
    far_t0: float  # DAC time of far[0]
    near: npt.NDArray[np.int16]
    near_t0: float  # ADC time of near[0]
    output_rate: int
    input_rate: int
    output_latency_s: float  # what PortAudio reports for the opened output stream
    input_latency_s: float
    underflows: int = 0  # output blocks PortAudio flagged as underflowed
    overflows: int = 0
    notes: list[str] = field(default_factory=list)


class _Capture:
    def __init__(self) -> None:
        self.blocks: list[npt.NDArray[np.int16]] = []
        self.t0: float | None = None
        self.overflows = 0

    def callback(self, indata: npt.NDArray[np.int16], frames: int, time_info: Any, status: Any) -> None:
        if self.t0 is None:
            self.t0 = float(time_info.inputBufferAdcTime)
        if status.input_overflow:
            self.overflows += 1
        self.blocks.append(indata[:, 0].copy())


class _Player:
    def __init__(self, pcm: npt.NDArray[np.int16], channels: int, rate: int) -> None:
        self.pcm, self.channels, self.pos = pcm, channels, 0
        self.priming = round(PRIMING_S * rate)
        self.t0: float | None = None
        self.underflows = 0
        self.done = threading.Event()

    def callback(self, outdata: npt.NDArray[np.int16], frames: int, time_info: Any, status: Any) -> None:
        if self.t0 is None:
            self.t0 = float(time_info.outputBufferDacTime)
        if status.output_underflow and self.pos >= self.priming:
            self.underflows += 1
        part = self.pcm[self.pos:self.pos + frames]
        outdata[:] = 0
        outdata[: len(part)] = part[:, None]
        self.pos += frames
        if self.pos >= len(self.pcm):
            self.done.set()


def play_and_record(input_device: str | None, output_device: str | None, *, block_ms: float,
                    signal: npt.NDArray[np.int16] | None = None) -> Recording:
    """Record while the signal plays through speaker blocks of `block_ms` (rt talk's
    `audio.output_block_ms`, so its underflows are the ones rt talk would have);
    `AudioDeviceError` (one line) when a device cannot open."""
    import soxr

    from realtime_cli.audio.devices import open_stream, resolve_device, stream_format
    from realtime_cli.audio.playback import OUTPUT_LATENCY_S

    far = probe_signal() if signal is None else signal
    out_info = resolve_device(output_device, "output")
    in_info = resolve_device(input_device, "input")
    out_rate, out_ch = stream_format(out_info, "output", None, None)
    in_rate, in_ch = stream_format(in_info, "input", None, None)
    played = far if out_rate == RATE else soxr.resample(far, RATE, out_rate)
    capture, player = _Capture(), _Player(np.asarray(played, dtype=np.int16), out_ch, out_rate)
    mic = open_stream(in_info, "input", in_rate, in_ch, BLOCK_MS, capture.callback, lambda: None,
                      latency=DEVICE_BUFFER_S)
    try:
        time.sleep(0.1)  # the microphone runs first: the recording must hold the signal's start
        speaker = open_stream(out_info, "output", out_rate, out_ch, block_ms, player.callback, lambda: None,
                              latency=OUTPUT_LATENCY_S)
        try:
            player.done.wait(len(far) / RATE + LATE_S)
            time.sleep(float(speaker.latency) + 0.05)  # what the device still holds
            out_latency = float(speaker.latency)
        finally:
            speaker.close(ignore_errors=True)
        in_latency = float(mic.latency)
    finally:
        mic.close(ignore_errors=True)
    recording = Recording(far=far, far_t0=player.t0 or 0.0, near=np.zeros(0, dtype=np.int16),
                          near_t0=capture.t0 or 0.0, output_rate=out_rate, input_rate=in_rate,
                          output_latency_s=out_latency, input_latency_s=in_latency,
                          underflows=player.underflows, overflows=capture.overflows)
    heard = np.concatenate(capture.blocks) if capture.blocks else np.zeros(0, dtype=np.int16)
    if in_rate != RATE and heard.size:
        heard = np.clip(np.round(soxr.resample(heard.astype(np.float32), in_rate, RATE)),
                        -32768, 32767).astype(np.int16)
    recording.near = heard.astype(np.int16)
    if not player.done.is_set():
        recording.notes.append("the speaker did not play the whole signal in time")
    return recording
