"""The command channel end to end: `rt talk --control stdin` against `rt serve`, WAV devices.

A silent WAV stands in for the microphone, so every turn here is a typed one (`say`); the
answer plays in real time into the output WAV, which is how the tests know it is playing.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from realtime_cli.storage.paths import db_path
from realtime_cli.storage.queries import load_session

from .conftest import LONG_ANSWER, Q1
from .support import (
    RT,
    Result,
    Running,
    find,
    loud,
    no_traceback,
    sessions_json,
    stop_process,
    wait_until,
    write_wav,
)

pytestmark = pytest.mark.slow


class Controlled(Running):
    """An rt process whose stdin is the command channel."""

    def send(self, command: dict[str, object] | str) -> None:
        assert self.proc.stdin is not None
        line = command if isinstance(command, str) else json.dumps(command)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def quit(self) -> Result:
        """Quit through the channel: a clean end, exit 0."""
        self.send({"cmd": "quit"})
        res = self.finish()
        assert res.code == 0, res
        no_traceback(res)
        return res

    def close(self) -> None:
        """Stop it if a test failed midway, and close the channel: a pipe left open leaks."""
        stop_process(self.proc)
        if self.proc.stdin is not None:
            self.proc.stdin.close()


@pytest.fixture
def start_controlled() -> Iterator[Callable[[Sequence[str], dict[str, str]], Controlled]]:
    started: list[Controlled] = []

    def start(args: Sequence[str], env: dict[str, str]) -> Controlled:
        proc = subprocess.Popen([*RT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.PIPE, text=True, env=env)
        started.append(Controlled(proc, list(args)))
        return started[-1]

    yield start
    for rt in started:
        rt.close()


def heard(wav: Path) -> npt.NDArray[np.int16]:
    """What the output WAV holds so far (its header is not trusted while it is written)."""
    raw = wav.read_bytes()[44:] if wav.exists() else b""
    return np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2")


@pytest.fixture
def quiet_mic(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "quiet.wav", [40_000])


def talk_args(url: str, mic: Path, out: Path, *more: str) -> list[str]:
    return ["talk", "--url", url, "--input", str(mic), "--output", str(out), "--control", "stdin",
            *more]


def test_say_and_interrupt_reach_user_text_and_manual_cancel_bad_lines_are_told(
        serve, start_controlled, env, quiet_mic: Path, tmp_path: Path) -> None:
    srv = serve(script=[LONG_ANSWER])
    out = tmp_path / "heard.wav"
    rt = start_controlled(talk_args(srv.url, quiet_mic, out, "--json"), env)
    rt.wait_line(r'"new": "ready"')
    rt.send("this is not json")
    rt.send({"cmd": "fly"})
    rt.wait_line(r'"event": "error".*"source": "control"')
    rt.wait_line(r'"event": "error".*unknown cmd')
    rt.send({"cmd": "say", "text": Q1})
    wait_until("the answer playing", lambda: loud(heard(out)).size > 12_000, 30,
               also=lambda: "".join(rt.out))
    rt.send({"cmd": "interrupt"})
    rt.wait_line(r'"event": "interruption".*"manual_cancel"')
    rt.wait_line(r'"event": "transcript".*"truncated": true')  # the cut answer settled
    res = rt.quit()
    events = res.json_lines()
    errors = [e for e in events if e["event"] == "error"]
    assert [e["line"] for e in errors] == ["this is not json", '{"cmd": "fly"}'], events
    assert all(e["source"] == "control" and e["text"] for e in errors)
    said = [e for e in events if e["event"] == "transcript" and e["kind"] == "user_text"]
    assert [e["text"] for e in said] == [Q1], events
    cut = [e for e in events if e["event"] == "transcript" and e["truncated"]]
    assert len(cut) == 1 and LONG_ANSWER.startswith(str(cut[0]["text"])), res.stdout
    typed = [e["item"]["content"][0]["text"] for e in srv.received("conversation.item.create")
             if e["item"].get("role") == "user"]
    assert typed == [Q1]
    assert len(srv.received("response.cancel")) == 1
    (row,) = sessions_json(env)
    assert row["interruptions"] == 1 and row["status"] == "ended", row
    assert [e["reason"] for e in events if e["event"] == "end"] == ["quit by user"]


def test_pause_holds_the_answer_and_resume_plays_the_rest(
        serve, start_controlled, env, data_dir: Path, quiet_mic: Path, tmp_path: Path) -> None:
    srv = serve(script=[LONG_ANSWER])
    out = tmp_path / "heard.wav"
    rt = start_controlled(talk_args(srv.url, quiet_mic, out, "--json"), env)
    rt.wait_line(r'"new": "ready"')
    rt.send({"cmd": "say", "text": Q1})
    rt.wait_line(r'"event": "transcript".*"role": "assistant"')  # all of it has arrived
    wait_until("the answer playing", lambda: loud(heard(out)).size > 12_000, 30)
    rt.send({"cmd": "pause"})
    rt.wait_line(r'"event": "state".*"new": "paused"')
    rt.send({"cmd": "resume"})
    rt.wait_line(r'"event": "state".*"old": "paused"')
    (row,) = wait_until("the session stored", lambda: sessions_json(env), 30)
    stored = load_session(db_path(str(data_dir)), row["id"], with_audio=True)
    (answer,) = [i for i in stored.items if i.kind.value == "assistant"]
    assert answer.audio is not None
    tail = np.frombuffer(answer.audio, dtype="<i2")[-4_800:]  # its last 200 ms
    wait_until("the end of the answer played", lambda: find(heard(out), tail) >= 0, 30,
               also=lambda: "".join(rt.out))
    # The turn ends once the speaker went idle: only then is the server's copy cut (if at all).
    rt.wait_line(r'"event": "state".*"new": "ready"')
    res = rt.quit()
    events = res.json_lines()
    states = [e["new"] for e in events if e["event"] == "state"]
    assert "paused" in states and states[states.index("paused") + 1] != "closing", states
    assert not [e for e in events if e["event"] == "interruption"], events
    # A pause while the response was still open cancels it and cuts the server's copy at what
    # had arrived: all of which played.
    after = load_session(db_path(str(data_dir)), row["id"])
    (answer,) = [i for i in after.items if i.kind.value == "assistant"]
    if answer.truncated:
        assert answer.audio_end_ms is not None
        assert 0 <= answer.audio_ms - answer.audio_end_ms < 20, answer  # within a frame
        assert [t["audio_end_ms"] for t in srv.received("conversation.item.truncate")] == [
            answer.audio_end_ms]


def test_a_bad_line_in_plain_mode_is_one_line_on_stderr(
        serve, start_controlled, env, quiet_mic: Path, tmp_path: Path) -> None:
    srv = serve()
    rt = start_controlled(talk_args(srv.url, quiet_mic, tmp_path / "out.wav", "--plain"), env)
    rt.wait_line(r"state: ready")
    rt.send('{"cmd": "say"}')
    rt.send({"cmd": "mute"})
    rt.wait_line(r"microphone muted")
    rt.send({"cmd": "unmute"})
    rt.wait_line(r"microphone on")
    res = rt.quit()
    assert res.stderr.splitlines() == ['rt: control: say needs "text": a non-empty string: '
                                       '{"cmd": "say"}'], res
