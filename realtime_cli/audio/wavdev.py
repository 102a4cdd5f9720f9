"""WAV files standing in for a microphone and a speaker (headless runs, demos, tests).

`WavSource(path)` reads a WAV of any rate and channel count (8/16/24/32-bit PCM, 32/64-bit
float), converts it to 24 kHz mono PCM16 and hands it out in real time: `read()` sleeps until
the next block is due on its clock (deadline t0 + k * block, not accumulated sleeps), like
a microphone would. After the file it feeds silence forever; `exhausted` turns True with the
last real block.

`WavSink(path)` plays into a file: a task takes one 20 ms block every 20 ms of its clock from the
same jitter buffer a speaker uses (silence when empty) and appends it to a 24 kHz mono 16-bit WAV.
What is written is what was "heard", so `played_samples` is exact (no latency to subtract). The
header is rewritten after every block and the file flushed every second, so an interrupted run
leaves a valid file.

Reading uses the stdlib `wave` module; Python 3.11's `wave` refuses WAVE_FORMAT_EXTENSIBLE
(what sox writes for 24-bit or multichannel files) and float WAVs, so those go through a small
RIFF reader here.

Both take the clock they pace themselves by (the system's unless given), so a test moves time
itself and checks the pacing exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import wave
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import soxr

from realtime_cli.audio.feed import PlaybackFeed
from realtime_cli.audio.interfaces import SinkStatus, SourceLevels
from realtime_cli.audio.jitter import FADE_MS
from realtime_cli.audio.levels import LevelTracker
from realtime_cli.audio.options import PREBUFFER
from realtime_cli.audio.pcm import SAMPLE_RATE, SAMPLE_WIDTH, to_mono_int16
from realtime_cli.clock import Clock, SystemClock
from realtime_cli.errors import AudioDeviceError

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def load_wav(path: str | Path) -> npt.NDArray[np.int16]:
    """The whole file as 24 kHz mono int16; AudioDeviceError (one line) if it cannot be used."""
    return to_api_audio(*_read(Path(path)))


def wav_bytes_to_api_audio(data: bytes, where: str) -> npt.NDArray[np.int16]:
    """A WAV held in memory (e.g. espeak-ng's stdout) as 24 kHz mono int16."""
    return to_api_audio(*decode_riff(data, where))


def to_api_audio(rate: int, frames: npt.NDArray[np.generic]) -> npt.NDArray[np.int16]:
    """Whole (frames, channels) audio at any rate -> 24 kHz mono int16 (one-shot soxr, HQ)."""
    mono = to_mono_int16(frames)
    if rate == SAMPLE_RATE or mono.size == 0:
        return mono
    return np.asarray(soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ"), dtype=np.int16)


def _read(path: Path) -> tuple[int, npt.NDArray[np.generic]]:
    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
        return rate, _decode(raw, _PCM, width, channels, path)
    except FileNotFoundError:
        raise AudioDeviceError(f"WAV file not found: {path}") from None
    except IsADirectoryError:
        raise AudioDeviceError(f"not a WAV file (a directory): {path}") from None
    except OSError as exc:
        raise AudioDeviceError(f"cannot read WAV file {path}: {exc.strerror or exc}") from None
    except (wave.Error, EOFError) as exc:
        if "unknown format" in str(exc):
            return decode_riff(path.read_bytes(), str(path))
        why = str(exc) or "too short: the file ends inside its header"
        raise AudioDeviceError(f"not a usable WAV file: {path} ({why})") from None


def decode_riff(data: bytes, path: str) -> tuple[int, npt.NDArray[np.generic]]:
    """WAVs the 3.11 `wave` module refuses (float, WAVE_FORMAT_EXTENSIBLE) or that are not in a
    file. A streamed WAV's oversized data length just means "to the end"."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioDeviceError(f"not a WAV file: {path}")
    fmt: tuple[int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt " and len(body) >= 16:
            tag, channels, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]  # first two bytes of the sub-format
            fmt = (tag, channels, rate, bits)
        elif cid == b"data" and fmt is not None:
            tag, channels, rate, bits = fmt
            return rate, _decode(body, tag, (bits + 7) // 8, channels, path)
        pos += 8 + size + (size & 1)
    raise AudioDeviceError(f"not a usable WAV file: {path} (no fmt/data chunk)")


def _decode(raw: bytes, tag: int, width: int, channels: int, path: Path | str
            ) -> npt.NDArray[np.generic]:
    """Interleaved frames -> (frames, channels): int16 for 16-bit, float in [-1, 1] otherwise."""
    if channels < 1 or width < 1:
        raise AudioDeviceError(f"not a usable WAV file: {path} ({channels} ch, {width} bytes)")
    usable = len(raw) - len(raw) % (width * channels)
    raw = raw[:usable]
    samples: npt.NDArray[np.generic]
    if tag == _FLOAT and width in (4, 8):
        samples = np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8").astype(np.float32)
    elif tag != _PCM:
        raise AudioDeviceError(f"unsupported WAV encoding (format tag {tag:#x}): {path}")
    elif width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(raw, dtype="<i2")
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        samples = value.astype(np.float32) / float(1 << 23)
    elif width == 4:
        samples = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2.0**31).astype(np.float32)
    else:
        raise AudioDeviceError(f"unsupported WAV sample width ({width * 8} bits): {path}")
    return samples.reshape(-1, channels)


class WavSource:
    def __init__(self, path: str | Path, *, block_ms: float = 20.0, realtime: bool = True,
                 clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or SystemClock()
        self._pcm = load_wav(self.path)
        self._block = round(SAMPLE_RATE * block_ms / 1000)
        self._block_s = block_ms / 1000
        self._block_ms = block_ms
        self._realtime = realtime
        self._blocks = 0
        self._t0: float | None = None
        self._exhausted = False
        self._levels = LevelTracker()

    @property
    def duration_ms(self) -> float:
        return self._pcm.size * 1000.0 / SAMPLE_RATE

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    async def start(self) -> None:
        self._t0 = self._clock.monotonic()

    async def read(self) -> bytes:
        if self._t0 is None:
            raise AudioDeviceError(f"WAV source {self.path} not started")
        if self._realtime:
            delay = self._t0 + (self._blocks + 1) * self._block_s - self._clock.monotonic()
            if delay > 0:
                await self._clock.sleep(delay)
        start = self._blocks * self._block
        block = self._pcm[start : start + self._block]
        if block.size < self._block:
            block = np.concatenate([block, np.zeros(self._block - block.size, dtype=np.int16)])
        self._blocks += 1
        if start + self._block >= self._pcm.size:
            self._exhausted = True
        self._levels.update(block, self._block_ms)
        return block.tobytes()

    def levels(self) -> SourceLevels:
        return self._levels.snapshot()

    async def close(self) -> None:
        return None


class WavSink:
    def __init__(
        self,
        path: str | Path,
        *,
        prebuffer_ms: float = PREBUFFER.default,
        block_ms: float = 20.0,
        fade_ms: float = FADE_MS,
        sync_every_s: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.path = Path(path)
        self._clock = clock or SystemClock()
        self._feed = PlaybackFeed(SAMPLE_RATE, prebuffer_ms=prebuffer_ms, fade_ms=fade_ms)
        self._block = round(SAMPLE_RATE * block_ms / 1000)
        self._block_s = block_ms / 1000
        self._sync_every = max(1, round(sync_every_s / self._block_s))
        self._file: BinaryIO | None = None
        self._wav: wave.Wave_write | None = None
        self._task: asyncio.Task[None] | None = None
        self._written = 0  # frames written: the sink's clock, in frames
        self._error: str | None = None

    async def start(self) -> None:
        try:
            self._file = open(self.path, "wb")  # noqa: ASYNC230, SIM115 - a local file, closed in close()
        except OSError as exc:
            raise AudioDeviceError(f"cannot write WAV file {self.path}: {exc.strerror}") from None
        self._wav = wave.open(self._file, "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(SAMPLE_WIDTH)
        self._wav.setframerate(SAMPLE_RATE)
        self._wav.writeframes(b"")  # a valid, empty file from the start
        self._task = asyncio.create_task(self._run(), name=f"wav-sink {self.path.name}")

    async def _run(self) -> None:
        t0 = self._clock.monotonic()
        blocks = 0
        while True:
            delay = t0 + (blocks + 1) * self._block_s - self._clock.monotonic()
            if delay > 0:
                await self._clock.sleep(delay)
            self._write(self._feed.pull(self._block, self._written / SAMPLE_RATE))
            blocks += 1
            if blocks % self._sync_every == 0 and self._file is not None:
                self._file.flush()

    def _write(self, block: npt.NDArray[np.int16]) -> None:
        assert self._wav is not None
        try:
            self._wav.writeframes(block.tobytes())  # also rewrites the header's lengths
        except OSError as exc:
            self._error = f"cannot write WAV file {self.path}: {exc.strerror or exc}"
            raise
        self._written += block.size

    def play(self, item_id: str, pcm: bytes) -> None:
        self._check()
        self._feed.play(item_id, pcm)

    def end_of_item(self, item_id: str) -> None:
        """All audio of `item_id` is queued: it may start below the prebuffer, ends cleanly."""
        self._check()
        self._feed.end_of_item(item_id)

    def flush(self) -> None:
        self._feed.flush()

    def stop(self) -> None:
        self._feed.flush()

    def pause(self) -> None:
        self._feed.pause()

    def resume(self) -> None:
        self._feed.resume()

    def status(self) -> SinkStatus:
        return self._feed.status(self._written / SAMPLE_RATE)

    def _check(self) -> None:
        if self._error is not None:
            raise AudioDeviceError(self._error)
        if self._task is not None and self._task.done() and not self._task.cancelled():
            raise AudioDeviceError(f"WAV sink {self.path} stopped")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        wav, self._wav = self._wav, None
        if wav is not None:
            with contextlib.suppress(OSError):
                wav.close()
        file, self._file = self._file, None
        if file is not None:
            file.close()
