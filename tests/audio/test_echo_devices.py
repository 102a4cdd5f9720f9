"""Loudspeakers without headphones, on real devices: rt talk's speaker leaks back into its
microphone through a simulated room (`realtime_cli.testing.echo_room.EchoRoom`: 120 ms, gain 0.5,
a 50 ms reverberation tail, noise at -60 dBFS), and `rt serve`'s Silero VAD listens to what rt sends.

- `--echo off` proves the room is a real problem: the assistant interrupts itself.
- `--echo aec` (the default, speexdsp) and `--echo aec3` (WebRTC's AEC3) answer three
  questions without one self-interruption, then a person talking over the fourth answer still
  barges in.
- `--echo half-duplex` keeps the echo out too.

The figures over 100 turns and random rooms come from `make bench` (scripts/echo_sim.py); this is
the same machinery end to end: PortAudio streams, rt's echo link, the server's VAD.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtime_cli.testing.echo_room import EchoRoom
from realtime_cli.testing.talk import INTERRUPTION, QUESTION, InProcessServer, Talk, play, rt_talk, speech_wav

from .conftest import SoundServer

pytestmark = pytest.mark.sound

ANSWERS = (
    "the weather today is sunny and warm with a light breeze from the west and it should stay "
    "that way through the afternoon",
    "tomorrow brings a few clouds in the morning but the sun comes back before noon and the "
    "evening will be mild and calm",
    "over the weekend expect some rain on saturday and a clear sky on sunday with temperatures "
    "a little above the seasonal average",
)
LONG = ("let me tell you about the long range forecast which is usually less reliable than the "
        "short range one but still gives a useful idea of the trend for the coming two weeks")
SHORT = "all right I will wait"
SELF_CUT = r"\] interrupted \(speech_overlap\) at \d+ ms"


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool in ("espeak-ng", "paplay"):
        assert shutil.which(tool), f"{tool} is missing (make system-deps)"


@pytest.fixture
def room(sound: SoundServer) -> Iterator[EchoRoom]:
    with EchoRoom(delay_ms=120, gain=0.5, reverb_ms=50, noise_dbfs=-60, seed=1) as r:
        yield r
        if r.glitches:  # shown with a failure: the room's own xruns move the echo path under rt
            print(f"echo room xruns (stream time, status): {r.glitches}")


def ask(talk: Talk, question: Path) -> None:
    """One question, and its whole answer played (its echo included)."""
    mark = talk.mark()
    assert play(question).wait(10) == 0
    talk.wait_line(r"state: responding", 15, since=mark)
    talk.wait_line(r"state: ready \(turn finished\)", 40, since=mark)


def test_without_echo_handling_the_assistant_interrupts_itself(room: EchoRoom, tmp_path: Path) -> None:
    question = tmp_path / "question.wav"
    speech_wav(QUESTION, question)
    with InProcessServer(ANSWERS, tmp_path / "received.jsonl") as server, \
            rt_talk(server.url, tmp_path / "data", "--echo", "off") as talk:
        talk.wait_line(r"state: ready", 15)
        assert play(question).wait(10) == 0
        talk.wait_line(r"state: responding", 15)
        talk.wait_line(SELF_CUT, 15)  # nobody spoke: its own voice came back


@pytest.mark.parametrize("mode", ["aec", "aec3", "half-duplex"])
def test_echo_handling_keeps_the_assistant_from_interrupting_itself(
        room: EchoRoom, tmp_path: Path, mode: str) -> None:
    question = tmp_path / "question.wav"
    speech_wav(QUESTION, question)
    speech_wav(INTERRUPTION, tmp_path / "interruption.wav")
    cancels = mode != "half-duplex"
    script = (*ANSWERS, LONG, SHORT) if cancels else ANSWERS[:2]
    turns = len(ANSWERS) if cancels else 2
    with InProcessServer(script, tmp_path / "received.jsonl") as server, \
            rt_talk(server.url, tmp_path / "data", "--echo", mode,
                    "--max-turns", str(len(script))) as talk:
        talk.wait_line(r"state: ready", 15)
        for _ in range(turns):
            ask(talk, question)
        out = talk.text()
        assert not re.search(SELF_CUT, out), f"the assistant interrupted itself:\n{out}"
        assert len(re.findall(r"turn \d+: completed", out)) == turns, out
        if cancels:
            # A person talking over the answer still gets through the canceller.
            mark = talk.mark()
            assert play(question).wait(10) == 0
            talk.wait_line(r"state: responding", 15, since=mark)
            time.sleep(1.5)  # well into the long answer, whose echo is being cancelled
            assert play(tmp_path / "interruption.wav").wait(10) == 0
            talk.wait_line(SELF_CUT, 5, since=mark)
            talk.wait_line(rf"assistant: {re.escape(SHORT)}$", 30, since=mark)
        code = talk.finish(30)
        out = talk.text()
    assert code == 0, f"exit {code}\n{out}\nstderr: {talk.stderr}"
    assert talk.stderr == "", talk.stderr
    assert len(re.findall(SELF_CUT, out)) == (1 if cancels else 0), out
