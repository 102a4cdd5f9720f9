"""Audio figures measured on the test sound server (PulseAudio null sinks; see sound-server.sh).

Each function returns numbers and prints nothing; `python scripts/bench_audio.py` prints them.
Ground truth is the null sink's monitor recorded raw with ADC times (realtime_cli.audio.probe).

* barge_in_latency: flush() called (stand-in for speech_started arriving) -> the last sample of
  the voice on the monitor, p50/p99 ms over `trials`.
* truncation_error: status().played_samples against the audio that had really reached the
  device at the same instant (ms, p50/max), plus how much more is heard after a flush because it
  was already handed to the device (the output latency + at most a block + the fade).
* client_cpu: process CPU time / wall time while capturing at 48 kHz stereo, playing at 48 kHz
  stereo and resampling both ways, over `seconds` (%, of one core).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime_cli.audio.capture import MicSource  # noqa: E402
from realtime_cli.audio.playback import SpeakerSink  # noqa: E402
from realtime_cli.audio.probe import MonitorRecorder, Trace, locate  # noqa: E402

SINK, MONITOR = "pulse:rt_sink", "pulse:rt_sink.monitor"
SINK48, MONITOR48 = "pulse:rt_sink48", "pulse:rt_sink48.monitor"
RATE = 24_000


def _noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.standard_normal(int(seconds * RATE)) * 3000), -32768, 32767).astype(np.int16)


async def _until(predicate: Callable[[], bool], limit: float) -> None:
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - status() is a snapshot
            await asyncio.sleep(0.002)


async def _barge_in_trials(
    trials: int, block_ms: float = 20.0
) -> tuple[list[float], list[float], list[float]]:
    """Per trial: flush -> silence (ms), position error at the flush (ms), heard after it (ms)."""
    sink = SpeakerSink(SINK, block_ms=block_ms)
    await sink.start()
    rec = MonitorRecorder(MONITOR).start()
    latencies, errors, after = [], [], []
    try:
        if not rec.first_block.wait(3):
            raise RuntimeError("the monitor delivers nothing: is the sound server up?")
        for k in range(trials):
            item = _noise(1.0, seed=k)
            begin = len(rec.signal())
            item_id = f"item{k}"
            sink.play(item_id, item.tobytes())
            target = RATE * (0.2 + 0.01 * (k % 7))  # vary the phase within a block

            def reached(item_id: str = item_id, target: float = target) -> bool:
                st = sink.status()
                return st.item_id == item_id and st.played_samples >= target

            await _until(reached, 3)
            flushed_at = sink.clock()
            sink.flush()
            at_flush = sink.status().played_samples
            await _until(lambda: sink.status().idle, 2)
            await asyncio.sleep(0.12)  # the monitor runs ~60 ms behind the DAC time
            got = rec.signal()[begin:]
            start = locate(got, item[:4800])
            end = int(np.flatnonzero(got)[-1]) + 1
            trace = Trace(rec, item, since=begin)
            latencies.append((trace.time_of(begin + end - 1) - flushed_at) * 1000)
            errors.append((at_flush - trace.heard_at(flushed_at)) / 24)
            after.append((end - start - at_flush) / 24)
    finally:
        rec.stop()
        await sink.close()
    rec.check_timing()
    return latencies, errors, after


def barge_in_latency(trials: int = 20, block_ms: float = 20.0) -> dict[str, float]:
    latencies, _, _ = asyncio.run(_barge_in_trials(trials, block_ms))
    return {
        "barge_in_p50_ms": float(np.percentile(latencies, 50)),
        "barge_in_p99_ms": float(np.percentile(latencies, 99)),
    }


def truncation_error(trials: int = 10) -> dict[str, float]:
    _, errors, after = asyncio.run(_barge_in_trials(trials))
    abs_err = np.abs(errors)
    return {
        "truncation_error_p50_ms": float(np.percentile(abs_err, 50)),
        "truncation_error_max_ms": float(abs_err.max()),
        "heard_after_flush_p50_ms": float(np.percentile(after, 50)),
        "heard_after_flush_max_ms": float(np.max(after)),
    }


async def _cpu(seconds: float) -> float:
    sink = SpeakerSink(SINK48, samplerate=48_000, channels=2)
    mic = MicSource(MONITOR48, samplerate=48_000, channels=2)
    await sink.start()
    await mic.start()
    audio = _noise(seconds + 1, seed=99)
    chunk = RATE // 10
    try:
        await asyncio.wait_for(mic.first_block.wait(), 3)
        loop = asyncio.get_running_loop()
        wall0, cpu0 = loop.time(), time.process_time()
        fed = 0
        while loop.time() - wall0 < seconds:
            while fed < len(audio) and fed / RATE < loop.time() - wall0 + 0.1:
                sink.play("long", audio[fed : fed + chunk].tobytes())  # like 100 ms deltas
                fed += chunk
            await mic.read()
            mic.levels()
            sink.status()
        return (time.process_time() - cpu0) / (loop.time() - wall0) * 100
    finally:
        await mic.close()
        await sink.close()


def client_cpu(seconds: float = 5.0) -> dict[str, float]:
    return {"client_cpu_percent": asyncio.run(_cpu(seconds)), "cpu_cores": float(os.cpu_count() or 1)}


def run_all() -> dict[str, float]:
    results: dict[str, float] = {}
    latencies, errors, after = asyncio.run(_barge_in_trials(20))
    abs_err = np.abs(errors)
    results["barge_in_p50_ms"] = float(np.percentile(latencies, 50))
    results["barge_in_p99_ms"] = float(np.percentile(latencies, 99))
    results["truncation_error_p50_ms"] = float(np.percentile(abs_err, 50))
    results["truncation_error_max_ms"] = float(abs_err.max())
    results["heard_after_flush_p50_ms"] = float(np.percentile(after, 50))
    results["heard_after_flush_max_ms"] = float(np.max(after))
    results.update(client_cpu())
    return results


if __name__ == "__main__":
    for name, value in run_all().items():
        print(f"{name:28s} {value:8.2f}")
