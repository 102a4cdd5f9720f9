"""Turns through the real CLI: `rt talk` against `rt serve`, WAV in, WAV out, SQLite.

Proves what the user-facing path must survive: `--garbage` frames, Ctrl-C / SIGTERM ending a
run cleanly (130 / 143), stdout closed early. A whole spoken turn (printed plain and as JSON
lines, heard, stored, the key never shown) is in test_providers.py, with both providers.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from .conftest import SHORT_ANSWERS, Wavs
from .support import (
    RT,
    loud,
    no_traceback,
    read_wav,
    run_rt,
    session_json,
    sessions_json,
    start_rt,
    voiced_samples,
    wait_until,
)

pytestmark = pytest.mark.slow


def talk_args(url: str, wavs_in: Path, out: Path, *extra: str) -> list[str]:
    return ["talk", "--url", url, "--input", str(wavs_in), "--output", str(out), *extra]


def test_garbage_frames_are_survived(serve, wavs: Wavs, env, tmp_path: Path) -> None:
    srv = serve("--garbage")
    res = run_rt(talk_args(srv.url, wavs.question, tmp_path / "a.wav", "--max-turns", "1",
                           "--plain"), env)
    assert res.code == 0, res
    no_traceback(res)
    assert any("ignored a malformed server event" in line for line in res.stdout.splitlines())
    assert any(f"assistant: {SHORT_ANSWERS[0]}" in line for line in res.stdout.splitlines()), res
    assert loud(read_wav(tmp_path / "a.wav")).size > 0


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_answer_ends_cleanly(serve, wavs: Wavs, env, tmp_path: Path,
                                          sig: signal.Signals, code: int) -> None:
    srv = serve(script=[SHORT_ANSWERS[0] * 4])
    rt = start_rt(talk_args(srv.url, wavs.long_pause, tmp_path / "a.wav", "--json"), env)
    rt.wait_line(r'"new": "responding"')
    wait_until("the answer to play", lambda: voiced_samples(tmp_path / "a.wav") > 2400, 20)
    rt.proc.send_signal(sig)
    res = rt.finish()
    assert res.code == code, res
    no_traceback(res)
    assert res.stderr == "", res
    events = res.json_lines()
    end = [e for e in events if e["event"] == "end"]
    assert end and end[0]["reason"] == "quit by user" and end[0]["status"] == "ended", events
    rows = sessions_json(env)
    assert [r["status"] for r in rows] == ["ended"], rows
    assert rows[0]["end_reason"] == "quit by user"
    assert srv.received("input_audio_buffer.append")  # it was really talking
    # the answer was cut by the quit: stored as heard, not as sent
    detail = session_json(env, rows[0]["short_id"])
    answer = [i for i in detail["items"] if i["kind"] == "assistant"]
    assert all(i["status"] != "in_progress" for i in answer), answer
    assert loud(read_wav(tmp_path / "a.wav")).size > 0  # the answer was playing


def test_stdout_closed_early_like_rt_talk_piped_into_head(serve, wavs: Wavs, env,
                                                          tmp_path: Path) -> None:
    """`rt talk ... | head -2`: the reader leaves; rt goes on quietly and ends the session."""
    srv = serve()
    proc = subprocess.Popen(
        [*RT, *talk_args(srv.url, wavs.question, tmp_path / "a.wav", "--max-turns", "1",
                         "--plain")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    head = [proc.stdout.readline() for _ in range(2)]
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(45) == 0, stderr
    assert b"session" in head[0] and stderr == "", (head, stderr)
    (row,) = sessions_json(env)
    assert (row["status"], row["responses"]) == ("ended", 1), row
