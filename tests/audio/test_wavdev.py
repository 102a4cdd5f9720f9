"""WAV stand-ins: formats, real-time pacing, exact positions, flush, files that survive a kill."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import pytest

from realtime_cli.audio.jitter import FADE_MS
from realtime_cli.audio.wavdev import WavSink, WavSource, load_wav
from realtime_cli.clock import ManualClock
from realtime_cli.errors import AudioDeviceError

ROOT = Path(__file__).resolve().parents[2]


def sine(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def write_pcm(path: Path, signal_: np.ndarray, rate: int, channels: int, width: int) -> Path:
    frames = np.repeat(signal_[:, None], channels, axis=1).reshape(-1)
    if width == 1:
        raw = np.round(frames * 127 + 128).astype(np.uint8).tobytes()
    elif width == 2:
        raw = np.round(frames * 32767).astype("<i2").tobytes()
    elif width == 3:
        v = np.round(frames * (2**23 - 1)).astype("<i4").view(np.uint8).reshape(-1, 4)
        raw = v[:, :3].tobytes()
    else:
        raw = np.round(frames * (2**31 - 1)).astype("<i4").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)
    return path


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(float) ** 2)))


@pytest.mark.parametrize(
    ("rate", "channels", "width"),
    [(24_000, 1, 2), (48_000, 2, 2), (44_100, 1, 3), (16_000, 2, 4), (8_000, 1, 1)],
)
def test_load_wav_any_rate_channels_and_width(tmp_path: Path, rate: int, channels: int, width: int) -> None:
    path = write_pcm(tmp_path / "in.wav", sine(440, 0.5, rate), rate, channels, width)
    pcm = load_wav(path)
    assert abs(len(pcm) - 12_000) <= 2
    tolerance = 0.05 if width == 1 else 0.01
    assert rms(pcm[1200:-1200]) == pytest.approx(0.5 * 32767 / np.sqrt(2), rel=tolerance)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed (make system-deps)")
@pytest.mark.parametrize("args", [["-b", "24", "-c", "2"], ["-e", "floating-point", "-b", "32"]])
def test_load_wav_extensible_and_float_from_sox(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "sox.wav"
    subprocess.run(
        ["sox", "-n", "-r", "48000", *args, str(path), "synth", "0.5", "sine", "440", "vol", "0.5"],
        check=True,
    )
    pcm = load_wav(path)
    assert abs(len(pcm) - 12_000) <= 2
    assert rms(pcm[1200:-1200]) == pytest.approx(0.5 * 32767 / np.sqrt(2), rel=0.01)


def test_bad_files_are_one_line_device_errors(tmp_path: Path) -> None:
    (tmp_path / "text.wav").write_text("hello, not audio")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "short.wav").write_bytes(b"hi\n")
    cases = {
        tmp_path / "missing.wav": "not found",
        tmp_path / "text.wav": "not a",
        tmp_path / "empty.wav": "not a usable WAV",
        tmp_path / "short.wav": "(too short: the file ends inside its header)",
        tmp_path: "directory",
    }
    for path, words in cases.items():
        with pytest.raises(AudioDeviceError) as info:
            WavSource(path)
        assert words in str(info.value) and "\n" not in str(info.value)


async def read_blocks(src: WavSource, clock: ManualClock, until: float) -> list[tuple[float, bytes]]:
    """(clock time it arrived, block) for each block `src` hands out while the clock runs to
    `until`, read by a task as a consumer would."""
    got: list[tuple[float, bytes]] = []

    async def consume() -> None:
        while True:
            block = await src.read()
            got.append((clock.monotonic(), block))

    reader = asyncio.create_task(consume())
    await clock.run_for(until - clock.monotonic())
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    return got


async def test_wav_source_is_paced_by_the_clock_then_silent_forever(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = write_pcm(tmp_path / "in.wav", sine(440, 0.21, 24_000), 24_000, 1, 2)
    src = WavSource(path, clock=clock)
    await src.start()
    t0 = clock.monotonic()
    got = await read_blocks(src, clock, t0 + 0.219)
    assert len(got) == 10 and not src.exhausted  # the 11th block is due at 220 ms, not before
    got += await read_blocks(src, clock, t0 + 0.22)
    blocks = [b for _, b in got]
    assert len(blocks) == 11 and all(len(b) == 960 for b in blocks)  # 210 ms -> 11 blocks
    assert src.exhausted and src.levels().level_dbfs > -20
    got += await read_blocks(src, clock, t0 + 0.28)
    assert [round(t - t0, 9) for t, _ in got] == [round(0.02 * k, 9) for k in range(1, 15)]
    tail = [b for _, b in got[11:]]
    assert tail == [b"\x00" * 960] * 3
    audio = np.frombuffer(b"".join(blocks), dtype="<i2")
    assert np.array_equal(audio[:5040], load_wav(path))


async def test_wav_source_deadlines_do_not_drift(tmp_path: Path, clock: ManualClock) -> None:
    """A slow reader catches up instead of drifting: deadlines, not accumulated sleeps."""
    path = write_pcm(tmp_path / "in.wav", sine(440, 1.0, 24_000), 24_000, 1, 2)
    src = WavSource(path, clock=clock)
    await src.start()
    t0 = clock.monotonic()
    times: list[float] = []

    async def consume() -> None:
        for k in range(15):
            await src.read()
            times.append(round(clock.monotonic() - t0, 9))
            if k == 3:
                await clock.sleep(0.1)  # the consumer stalls 100 ms

    reader = asyncio.create_task(consume())
    await clock.run_for(0.30)
    assert reader.done()
    await reader
    caught_up = [0.18] * 5  # blocks 5-9 were due during the stall: handed out at once
    assert times == [0.02, 0.04, 0.06, 0.08, *caught_up, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3]


async def run_until_idle(sink: WavSink, clock: ManualClock, within: float = 3.0) -> None:
    """Move the clock one 20 ms block at a time until the sink has played everything (to the
    block that made it idle, when the clock started on a block's deadline)."""
    deadline = clock.monotonic() + within
    while not sink.status().idle:
        assert clock.monotonic() < deadline, "the sink never went idle"
        await clock.run_for(0.02)


async def test_wav_sink_plays_in_real_time_with_exact_positions(
    tmp_path: Path, clock: ManualClock
) -> None:
    out = tmp_path / "out.wav"
    sink = WavSink(out, clock=clock)
    await sink.start()
    pcm = np.round(sine(300, 0.3, 24_000) * 32767).astype("<i2") + np.int16(100)  # no zeros
    t0 = clock.monotonic()
    for chunk in np.array_split(pcm, 6):
        sink.play("item1", chunk.tobytes())
    sink.end_of_item("item1")
    await clock.run_for(0.14)  # on a block's deadline: later steps of 20 ms stay on them
    mid = sink.status()
    assert mid.item_id == "item1" and 0 < mid.played_samples < len(pcm)
    assert mid.played_samples % 480 == 0  # whole blocks written so far, no latency guess
    assert mid.played_samples == 7 * 480  # the blocks due at 20, 40, ... 140 ms
    await run_until_idle(sink, clock)
    assert clock.monotonic() - t0 == pytest.approx(0.3, abs=1e-9)  # 15 blocks of 20 ms
    done = sink.status()
    assert done.played_samples == len(pcm) and done.underruns == 0 and done.buffered_ms == 0
    await sink.close()
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24_000, 1, 2)
        written = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    start = int(np.flatnonzero(written)[0])
    assert np.array_equal(written[start : start + len(pcm)], pcm)
    assert not written[start + len(pcm) :].any()


async def test_wav_sink_flush_stops_within_one_block_with_a_fade(
    tmp_path: Path, clock: ManualClock
) -> None:
    out = tmp_path / "out.wav"
    sink = WavSink(out, clock=clock)
    await sink.start()
    t0 = clock.monotonic()
    pcm = np.full(24_000, 8000, dtype="<i2")
    sink.play("a", pcm.tobytes())
    await clock.run_for(0.2)
    assert sink.status().played_samples == 4800
    sink.flush()
    at_flush = sink.status().played_samples
    await run_until_idle(sink, clock)
    final = sink.status()
    assert final.item_id == "a" and final.played_samples - at_flush <= 480
    assert final.played_samples - at_flush == round(FADE_MS * 24_000 / 1000)  # only the fade
    assert clock.monotonic() - t0 == pytest.approx(0.22, abs=1e-9)  # the block after the flush
    await sink.close()
    with wave.open(str(out)) as w:
        written = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    audio = np.flatnonzero(written)
    assert len(audio) == final.played_samples
    tail = written[audio[-1] - 119 : audio[-1] + 1].astype(float)
    assert np.all(np.diff(tail) <= 0) and tail[-1] < 8000 * 0.01  # faded, no click


def test_wav_sink_file_is_valid_after_a_kill(tmp_path: Path) -> None:
    out = tmp_path / "killed.wav"
    code = textwrap.dedent(
        f"""
        import asyncio
        from realtime_cli.audio.wavdev import WavSink
        async def main():
            sink = WavSink({str(out)!r}, sync_every_s=0.2)
            await sink.start()
            sink.play("a", b"\\x10\\x00" * 48_000)
            print("started", flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"started"
        deadline = 5.0
        while deadline > 0 and (not out.exists() or out.stat().st_size < 44 + 2 * 24_000):
            deadline -= 0.05
            subprocess.run(["sleep", "0.05"], check=True)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with wave.open(str(out)) as w:
        frames = w.getnframes()
        data = w.readframes(frames)
    assert frames >= 24_000 * 0.5 and len(data) == 2 * frames
