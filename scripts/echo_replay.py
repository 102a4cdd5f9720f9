"""Replay echo recordings (`RT_ECHO_RECORD=rec.npz rt talk ...`) through today's echo handling.

For each recording: where the server's VAD (rt serve's Silero, service defaults) hears speech
start in what rt sent then, and in what the current code would send, with the time since the
recording began and whether the assistant was audible (a start while it is audible is a barge-in
or a self-interruption). The replay is exact up to the first start that differs: after that the
real server would have answered differently.

    .venv/bin/python scripts/echo_replay.py rec.npz [more.npz ...] [--mode aec|half-duplex|off]
        [--differences]

`--differences` is for long recordings (a 300-turn `make bench-echo` run): only the starts that
differ between the two, each with its user turn (counted by the starts while the assistant was
silent: each question is one) and how far into the answer it came.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import numpy.typing as npt
from echo_sim import SETTINGS  # the service's server_vad defaults

from realtime_cli.audio.echo import make_echo
from realtime_cli.audio.echo.record import FAR, NEAR, EchoCall, load, replay
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


class Far:
    """When the assistant was audible: the stamps of far blocks louder than -50 dBFS."""

    def __init__(self, calls: list[EchoCall]) -> None:
        floor = 32768 * 10 ** (-50 / 20)
        self.loud = np.array([c.t for c in calls
                              if c.kind == FAR and np.max(np.abs(c.pcm), initial=0) > floor])

    def audible(self, t: float, within_s: float = 0.3) -> bool:
        """Was the assistant audible in the `within_s` before `t`?"""
        i = int(np.searchsorted(self.loud, t, side="right"))
        return i > 0 and t - self.loud[i - 1] <= within_s

    def answer_start(self, t: float, gap_s: float = 1.0) -> float | None:
        """The first loud block of the answer playing at `t` (after `gap_s` without one)."""
        i = int(np.searchsorted(self.loud, t, side="right")) - 1
        if i < 0:
            return None
        while i > 0 and self.loud[i] - self.loud[i - 1] <= gap_s:
            i -= 1
        return float(self.loud[i])


def describe(starts: list[float], far: Far, t0: float) -> str:
    return ", ".join(f"{t - t0:.2f} s{' (over the assistant)' if far.audible(t) else ''}"
                     for t in starts) or "none"


def differences(recorded: list[float], replayed: list[float], far: Far, t0: float,
                within_s: float = 0.3) -> list[str]:
    """A line per speech start found in only one of the two lists."""
    questions = [t for t in recorded if not far.audible(t)]
    lines = []
    for label, these, others in (("replay only", replayed, recorded), ("recorded only", recorded, replayed)):
        for t in these:
            if any(abs(t - o) < within_s for o in others):
                continue
            turn = int(np.searchsorted(questions, t, side="right")) - 1
            start = far.answer_start(t) if far.audible(t) else None
            into = f"{t - start:.2f} s into the answer" if start is not None else "the assistant silent"
            lines.append(f"{label}: {t - t0:.2f} s, user turn {turn}, {into}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recordings", nargs="+", type=Path)
    parser.add_argument("--mode", help="echo mode to replay with (default: the recorded one)")
    parser.add_argument("--differences", action="store_true",
                        help="only the speech starts that differ, by user turn")
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
        far = Far(calls)
        print(f"{path}: {mode}, {len(near)} microphone blocks, {times[-1] - times[0]:.1f} s")
        if args.differences:
            print(f"  speech starts: {len(recorded)} recorded, {len(replayed)} replayed ({processor.mode})")
            for line in differences(recorded, replayed, far, times[0]) or ["no difference"]:
                print(f"  {line}")
            continue
        print(f"  speech starts as recorded: {describe(recorded, far, times[0])}")
        print(f"  speech starts replayed ({processor.mode}): {describe(replayed, far, times[0])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
