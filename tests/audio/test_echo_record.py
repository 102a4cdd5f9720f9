"""Echo recordings: a conversation's echo processing, saved by `rt talk` and replayed exactly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from realtime_cli.audio.echo.aec import SpeexAec
from realtime_cli.audio.echo.half_duplex import PassThrough
from realtime_cli.audio.echo.record import FAR, NEAR, EchoCall, EchoRecorder, load, replay, silent_s

from .test_echo import BLOCK, RATE, T0, assistant, mic, room, talker


def test_a_recording_replays_to_the_same_output(tmp_path: Path) -> None:
    far = assistant()[: 8 * RATE]
    user = np.zeros(len(far))
    words = talker()[: 2 * RATE].astype(np.float64) * 0.8
    user[5 * RATE: 5 * RATE + len(words)] = words  # someone talks over the answer: output to compare
    near = mic(far, room(80, 0.5), user)
    path = tmp_path / "echo.npz"
    recorder = EchoRecorder(SpeexAec(RATE), path)
    sent = []
    for i in range(0, len(far) - BLOCK + 1, BLOCK):
        for k in range(4):  # speaker blocks of 5 ms (the smallest), then the microphone's 20 ms one
            part = far[i + k * BLOCK // 4: i + (k + 1) * BLOCK // 4]
            recorder.far(part, T0 + (i + k * BLOCK // 4) / RATE)
        sent.append(recorder.near(near[i:i + BLOCK], T0 + i / RATE + 0.0004))
    recorder.close()

    mode, calls = load(path)
    assert mode == "speex"
    assert [c.kind for c in calls[:5]] == [FAR, FAR, FAR, FAR, NEAR]
    assert calls[4].t == T0 + 0.0004 and np.array_equal(calls[4].pcm, near[:BLOCK])
    assert np.count_nonzero(np.concatenate(sent)) > RATE // 2  # the second voice got through
    fresh = SpeexAec(RATE)
    outs = replay(calls, fresh)
    fresh.close()
    assert len(outs) == len(sent)
    assert all(np.array_equal(a, b) for a, b in zip(outs, sent, strict=True))
    assert all(np.array_equal(c.out, b) for c, b in zip((c for c in calls if c.kind == NEAR), sent,
                                                         strict=True))


def test_a_recording_that_cannot_be_written_is_one_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorder = EchoRecorder(PassThrough(RATE), tmp_path / "missing" / "echo.npz")
    recorder.near(np.zeros(BLOCK, dtype=np.int16), T0)
    recorder.close()
    err = capsys.readouterr().err
    assert err.startswith("rt: warning: echo recording not written to ") and err.count("\n") == 1, err


def test_a_recording_killed_while_it_is_written_leaves_no_broken_file(tmp_path: Path) -> None:
    """A harness that stops waiting for rt kills it while an hour's recording is being written:
    what is left under the recording's name is the whole recording or nothing."""
    path = tmp_path / "echo.npz"
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys\nfrom pathlib import Path\nimport numpy as np\n"
        "from realtime_cli.audio.echo.record import FAR, EchoCall, save\n"
        "block = np.arange(480, dtype=np.int16)\n"
        "calls = [EchoCall(FAR, i * 0.02, block, None) for i in range(60_000)]\n"
        "print('writing', flush=True)\n"
        "save(calls, Path(sys.argv[1]), 'speex')\n"), str(path)],
        stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    deadline = time.monotonic() + 60
    while not any(tmp_path.iterdir()) and writer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)
    writer.kill()
    writer.wait()
    writer.stdout.close()
    assert any(tmp_path.iterdir()), "the writer never started writing"
    if path.exists():  # it finished before the kill: then it is whole
        assert len(load(path)[1]) == 60_000
    assert {p.name for p in tmp_path.iterdir()} <= {"echo.npz", "echo.npz.part"}


def test_digital_silence_at_the_microphone_is_measured_in_spans_of_a_second() -> None:
    noise = np.ones(BLOCK, dtype=np.int16)
    zeros = np.zeros(BLOCK, dtype=np.int16)
    far = EchoCall(FAR, 0.0, zeros, None)  # the speaker's silence is no sign of anything
    def near(pcm: np.ndarray) -> EchoCall:
        return EchoCall(NEAR, 0.0, pcm, pcm)
    blocks_per_s = RATE // BLOCK
    calls = [near(noise), *[near(zeros)] * (blocks_per_s - 1), near(noise),  # 0.98 s: not counted
             *[far, near(zeros)] * (2 * blocks_per_s), near(noise),  # 2 s
             *[near(zeros)] * blocks_per_s]  # 1 s at the end
    assert silent_s(calls, RATE) == pytest.approx(3.0)
    assert silent_s(calls, RATE, span_s=0.5) == pytest.approx(3.98)


def test_the_replay_script_names_the_turn_where_a_replay_differs(tmp_path: Path) -> None:
    """A question while the assistant is silent, then its answer: recorded through the aec, whose
    gate keeps the echo out, and replayed with echo handling off, which lets it through. The
    script finds the one start that differs and places it in the first user turn's answer."""
    silence = np.zeros(RATE, dtype=np.int16)
    question = talker()
    answer = assistant()[: 4 * RATE]
    far = np.concatenate([silence, np.zeros(len(question), dtype=np.int16), silence, answer, silence])
    user = np.zeros(len(far))
    user[RATE: RATE + len(question)] = question
    near = mic(far, room(80, 0.5), user)
    path = tmp_path / "echo.npz"
    recorder = EchoRecorder(SpeexAec(RATE), path)
    for i in range(0, len(far) - BLOCK + 1, BLOCK):
        recorder.far(far[i:i + BLOCK], T0 + i / RATE)
        recorder.near(near[i:i + BLOCK], T0 + i / RATE)
    recorder.close()
    script = Path(__file__).resolve().parents[2] / "scripts" / "echo_replay.py"
    done = subprocess.run([sys.executable, str(script), str(path), "--mode", "off", "--differences"],
                          capture_output=True, text=True, timeout=300, check=True)
    lines = [line.strip() for line in done.stdout.splitlines()[2:]]
    assert len(lines) == 1 and lines[0].startswith("replay only: "), done.stdout
    assert ", user turn 0, " in lines[0] and " s into the answer" in lines[0], done.stdout
    into = float(lines[0].split(", ")[-1].split(" s into")[0])
    assert 0.0 <= into < 1.0, done.stdout  # the echo of the answer's first words
