"""`--barge-in off` and the timeouts end to end: rt talk against rt serve (or a socket that never
answers), WAV devices; each reason shown in the output and stored."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from realtime_cli.storage.paths import db_path
from realtime_cli.storage.queries import load_session

from .conftest import LONG_ANSWER, Wavs
from .support import assert_one_clean_line, loud, no_traceback, run_rt, sessions_json, write_wav
from .test_control import heard, start_controlled  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def test_barge_in_off_lets_the_answer_play_over_speech_and_a_manual_interrupt_still_cuts(
        serve, start_controlled, env, wavs: Wavs, tmp_path: Path) -> None:  # noqa: F811
    answer = f"{LONG_ANSWER} {LONG_ANSWER}"  # still playing well after the second question
    srv = serve(script=[answer, "Rain later."])
    out = tmp_path / "heard.wav"
    rt = start_controlled(["talk", "--url", srv.url, "--input", str(wavs.barge_in), "--output",
                           str(out), "--barge-in", "off", "--control", "stdin", "--json"], env)
    rt.wait_line(r'"new": "responding"')
    # the second question is spoken over the answer: rt serve's VAD hears and transcribes it
    rt.wait_line(r'"kind": "user_audio"')
    rt.wait_line(r'"kind": "user_audio"', timeout=45)
    rt.send({"cmd": "interrupt"})
    rt.wait_line(r'"event": "interruption"')
    res = rt.finish()  # the input file ends it
    assert res.code == 0, res
    no_traceback(res)
    events = res.json_lines()
    kinds = [e["kind"] for e in events if e["event"] == "interruption"]
    assert kinds == ["manual_cancel"], res.stdout
    assert "interrupted (speech_overlap)" not in res.stdout
    cut = [e for e in events if e["event"] == "transcript" and e["truncated"]
           and e["role"] == "assistant" and e["text"] and answer.startswith(str(e["text"]))]
    # it played on past the user's speech, which began about 2 s into it
    assert len(cut) == 1 and int(cut[0]["audio_end_ms"]) > 2_500, res.stdout
    (update, *_) = srv.received("session.update")
    assert update["session"]["audio"]["input"]["turn_detection"]["interrupt_response"] is False
    assert loud(heard(out)).size > 0


def test_an_idle_timeout_ends_the_session_with_its_reason_shown_and_stored(
        serve, env, data_dir: Path, tmp_path: Path) -> None:
    srv = serve()
    quiet = write_wav(tmp_path / "quiet.wav", [30_000])
    res = run_rt(["talk", "--url", srv.url, "--input", str(quiet), "--output",
                  str(tmp_path / "out.wav"), "--idle-timeout", "1", "--json"], env)
    assert res.code == 0, res
    no_traceback(res)
    ends = [e for e in res.json_lines() if e["event"] == "end"]
    assert [e["reason"] for e in ends] == ["idle for 1 s"], res
    (row,) = sessions_json(env)
    assert load_session(db_path(str(data_dir)), row["id"]).end_reason == "idle for 1 s"
    plain = run_rt(["talk", "--url", srv.url, "--input", str(quiet), "--output",
                    str(tmp_path / "out2.wav"), "--idle-timeout", "1", "--plain", "--no-save"], env)
    assert plain.code == 0 and "session ended: idle for 1 s" in plain.stdout, plain


def test_a_response_timeout_is_shown_and_counted_as_an_error(
        serve, env, wavs: Wavs, data_dir: Path, tmp_path: Path) -> None:
    srv = serve("--first-audio-delay", "4000")
    res = run_rt(["talk", "--url", srv.url, "--input", str(wavs.question), "--output",
                  str(tmp_path / "out.wav"), "--response-timeout", "1", "--json"], env)
    assert res.code == 0, res
    no_traceback(res)
    notices = [e["text"] for e in res.json_lines() if e["event"] == "notice"]
    assert any("1 s" in n and ("stalled" in n or "no response" in n) for n in notices), res
    (row,) = sessions_json(env)
    stored = load_session(db_path(str(data_dir)), row["id"])
    assert stored.figures is not None and stored.figures.errors >= 1, stored.figures


def test_a_connect_timeout_against_a_socket_that_never_upgrades_is_one_line(
        env, tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # the kernel accepts the TCP connection; nothing ever answers it
        port = listener.getsockname()[1]
        quiet = write_wav(tmp_path / "quiet.wav", [2_000])
        res = run_rt(["talk", "--url", f"ws://127.0.0.1:{port}/v1/realtime", "--input",
                      str(quiet), "--output", str(tmp_path / "out.wav"), "--connect-timeout",
                      "0.5", "--plain"], env, timeout=30)
    line = assert_one_clean_line(res, code=3)
    assert "timed out" in line or "timeout" in line, res
