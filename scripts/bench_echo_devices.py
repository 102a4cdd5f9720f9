"""Echo on real devices: `rt talk --echo MODE` (`aec` by default) in the simulated room of
realtime_cli/testing/echo_room.py (120 ms, gain 0.5, a 50 ms tail, -60 dBFS noise) against `rt serve`,
for `TURNS` assistant turns in one conversation. Every other turn a second voice talks over the
answer 0.5-2.5 s in (seeded); the other turns nobody does.

Counted from rt's own `--plain` lines: a self-interruption is any interruption other than the
one the second voice causes (in the follow-up answer too); a barge-in is detected when rt
reports the interruption within 1.5 s of the second voice starting (that delay's p50/p95 over
the detected ones are reported too). Before each question rt
must have been `ready` for 1.5 s, so a question never lands on the tail of an answer.
Real time: about 14 s per turn.

rt records what its echo handling was given (`RT_ECHO_RECORD`: this run's temporary directory,
or where the caller's environment says), and the run reports for how long the microphone
delivered digital silence (`room_silent_s`, spans of a second or more). The room adds noise to
all it plays, so that is a room whose output stopped reaching rt: in two runs of 2026-12-04 it
did, from the eighth and the 25th minute on, with no xrun and no error, and rt then had no echo
to handle. The room now watches for that itself and starts afresh (`room_restarts`, each with
what PulseAudio said of the lost stream in the verbose log), so `room_silent_s` stays near a
second per restart.
"""

from __future__ import annotations

import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from realtime_cli.audio.echo.record import load, silent_s
from realtime_cli.audio.pcm import SAMPLE_RATE
from realtime_cli.percentiles import percentile
from realtime_cli.testing.echo_room import RESTARTED, EchoRoom
from realtime_cli.testing.talk import (
    INTERRUPTION,
    QUESTION,
    InProcessServer,
    Talk,
    play,
    rt_talk,
    speech_wav,
)

TURNS = 16
ANSWER = ("the weather today is sunny and warm with a light breeze from the west and it should stay "
          "that way through the afternoon and well into the evening")
DETECT_S = 1.5  # a barge-in counts when rt reports the cut this soon after the second voice starts
CUT = r"\] interrupted \(speech_overlap\) at \d+ ms"


def settle(talk: Talk, quiet_s: float = 1.5, within: float = 60.0) -> None:
    """Wait until rt has been `ready` for `quiet_s` (the answer and any follow-up played out),
    so the next question never lands on the tail of an answer."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        states = [(stamp, line) for stamp, line in list(talk.lines) if "] state: " in line]
        if states and "state: ready" in states[-1][1] and time.time() - states[-1][0] >= quiet_s:
            return
        time.sleep(0.05)
    last = " | ".join(line for _, line in list(talk.lines)[-4:])
    raise AssertionError(f"rt did not settle in state ready within {within:g} s; its last lines: {last}")


class Unsettled(Exception):
    """rt kept talking: the run stops there, and what it measured so far is kept."""


def run(turns: int = TURNS, seed: int = 0, verbose: bool = False, *, echo: str = "aec") -> dict[str, float]:
    """The figures over the turns played. A run that cannot go on (rt does not settle: it keeps
    answering what it hears) stops and reports the turns it played, `stopped` = 1."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        recording = Path(os.environ.get("RT_ECHO_RECORD") or tmpdir / "echo.npz")
        if recording.is_dir():
            recording /= f"bench-echo-{echo}-{time.strftime('%Y%m%d-%H%M%S')}.npz"
        question, barge = tmpdir / "q.wav", tmpdir / "b.wav"
        speech_wav(QUESTION, question)
        speech_wav(INTERRUPTION, barge)
        self_cuts = barge_ins = detected = played = 0
        delays: list[float] = []
        stopped = False
        with EchoRoom(delay_ms=120, gain=0.5, reverb_ms=50, noise_dbfs=-60, seed=1) as room, \
                InProcessServer((ANSWER,) * (4 * turns), tmpdir / "rec.jsonl") as server, \
                rt_talk(server.url, tmpdir / "data", "--echo", echo,
                        env={"RT_ECHO_RECORD": str(recording)}) as talk:
            talk.wait_line(r"state: ready", 15)
            settle(talk)
            try:
                for k in range(turns):
                    mark = talk.mark()
                    assert play(question).wait(10) == 0
                    talk.wait_line(r"state: responding", 15, since=mark)
                    if k % 2:
                        time.sleep(rng.uniform(0.5, 2.5))
                        cut_mark = talk.mark()
                        started = time.time()
                        player = play(barge)
                        barge_ins += 1
                        try:
                            delay = talk.wait_line(CUT, DETECT_S, since=cut_mark) - started
                            if delay <= DETECT_S:
                                detected += 1
                                delays.append(delay)
                        except AssertionError:
                            pass
                        player.wait(10)
                    try:
                        talk.wait_line(r"state: ready", 60, since=mark)
                        settle(talk)
                    except AssertionError as exc:
                        raise Unsettled(str(exc)) from None
                    finally:
                        played = k + 1
                        cuts = len(re.findall(CUT, "\n".join(line for _, line in talk.lines[mark:])))
                        self_cuts += cuts - (1 if k % 2 and cuts else 0)
                    if verbose:
                        print(f"turn {k}: {'barge-in' if k % 2 else 'plain'}, interruptions {cuts}, "
                              f"ended {time.strftime('%H:%M:%S', time.gmtime())} UTC",
                              file=sys.stderr, flush=True)
                        print("\n".join(line for _, line in talk.lines[mark:] if "interrupted" in line),
                              file=sys.stderr, flush=True)
            except Unsettled as exc:
                stopped = True
                print(f"stopped after {played} turns: {exc}", file=sys.stderr)
            # each question is one user turn, each barge-in and self-interruption one more: any
            # other was rt taking its own voice for the user's after an answer
            user_turns = len(re.findall(r"\] turn \d+: ", talk.text()))
            room_restarts = sum(RESTARTED in status for _, status in room.glitches)
            room_xruns = len(room.glitches) - room_restarts
            if verbose:  # when the room skipped, to set beside the turns that went wrong
                for when, status in room.glitches:
                    print(f"room glitch at {time.strftime('%H:%M:%S', time.gmtime(when))} UTC: {status}",
                          file=sys.stderr, flush=True)
        room_silent_s = silent_s(load(recording)[1], SAMPLE_RATE)
    p50, p95 = percentile(delays, 50), percentile(delays, 95)
    return {"turns": float(played), "self_interruptions": float(self_cuts),
            "self_started": float(max(0, user_turns - played - barge_ins - self_cuts)),
            "barge_ins": float(barge_ins), "detected": float(detected),
            "delay_p50_s": float("nan") if p50 is None else p50,
            "delay_p95_s": float("nan") if p95 is None else p95,
            "stopped": float(stopped), "room_xruns": float(room_xruns),
            "room_restarts": float(room_restarts), "room_silent_s": room_silent_s}


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else TURNS, verbose=True,
              echo=sys.argv[2] if len(sys.argv) > 2 else "aec"))
