"""Replay echo recordings (`RT_ECHO_RECORD=rec.npz rt talk ...`) through today's echo handling.

For each recording: where the server's VAD (rt serve's Silero, service defaults) hears speech
start in what rt sent then, and in what the current code would send, with the time since the
recording began and whether the assistant was audible (a start while it is audible is a barge-in
or a self-interruption). The replay is exact up to the first start that differs: after that the
real server would have answered differently.

    .venv/bin/python scripts/echo_replay.py rec.npz [more.npz ...] [--mode aec|half-duplex|off]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import numpy.typing as npt
from echo_sim import SETTINGS  # the service's server_vad defaults

from realtime_cli.audio.echo import make_echo
from realtime_cli.audio.echo.record import NEAR, EchoCall, load, replay
from realtime_cli.server.vad import SileroProbe, SpeechStarted, TurnDetector


def speech_starts(outs: list[npt.NDArray[np.int16]], times: list[float]) -> list[float]:
    """Stream times of the microphone blocks in which the VAD reports speech_started."""
    probe, detector = SileroProbe(), TurnDetector(SETTINGS)
    starts = []
    for out, t in zip(outs, times, strict=True):
        for window in probe.score(out.tobytes()):
            if isinstance(detector.on_window(*window), SpeechStarted):
                starts.append(t)
    return starts


def far_audible(calls: list[EchoCall], t: float, within_s: float = 0.3) -> bool:
    """Was anything louder than -50 dBFS played in the `within_s` before `t`?"""
    floor = 32768 * 10 ** (-50 / 20)
    return any(c.kind != NEAR and t - within_s <= c.t <= t and np.max(np.abs(c.pcm), initial=0) > floor
               for c in calls)


def describe(starts: list[float], calls: list[EchoCall], t0: float) -> str:
    return ", ".join(f"{t - t0:.2f} s{' (over the assistant)' if far_audible(calls, t) else ''}"
                     for t in starts) or "none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recordings", nargs="+", type=Path)
    parser.add_argument("--mode", help="echo mode to replay with (default: the recorded one)")
    args = parser.parse_args()
    for path in args.recordings:
        mode, calls = load(path)
        near = [c for c in calls if c.kind == NEAR]
        times = [c.t for c in near]
        processor = make_echo(args.mode or mode)
        outs = replay(calls, processor)
        processor.close()
        recorded = speech_starts([c.out for c in near if c.out is not None], times)
        replayed = speech_starts(outs, times)
        print(f"{path}: {mode}, {len(near)} microphone blocks, {times[-1] - times[0]:.1f} s")
        print(f"  speech starts as recorded: {describe(recorded, calls, times[0])}")
        print(f"  speech starts replayed ({processor.mode}): {describe(replayed, calls, times[0])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
