"""Issue 6: a `rt talk` process killed with SIGKILL mid-answer, then `rt resume`.

The journal must survive the kill (integrity ok, session marked crashed, committed items
kept), and `rt resume` must continue the same session in a new server session: the history
replayed as text items (conformant), the new turn appended under the same session id.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from realtime_cli.storage.paths import db_path

from .conftest import LONG_ANSWER, SHORT_ANSWERS, Wavs
from .support import (
    integrity,
    no_traceback,
    run_rt,
    session_json,
    sessions_json,
    start_rt,
    voiced_samples,
    wait_until,
)

pytestmark = pytest.mark.slow


def test_killed_mid_answer_then_resumed(serve, wavs: Wavs, env, data_dir: Path,
                                        tmp_path: Path) -> None:
    # pace 1: the second answer is still streaming when the process dies
    srv = serve("--pace", "1", script=[SHORT_ANSWERS[0], LONG_ANSWER])
    out_wav = tmp_path / "talk.wav"
    rt = start_rt(["talk", "--url", srv.url, "--input", str(wavs.long_pause), "--output",
                   str(out_wav), "--json"], env)
    try:
        rt.wait_line(r'"event": "turn", "turn": 1, "status": "completed"')
        rt.wait_line(r'"reason": "turn finished"')  # the first answer has played
        voiced = voiced_samples(out_wav)
        rt.wait_line(r'"reason": "assistant responding"')
        # the 2nd question, saved; its transcript comes after the answer started, as on the service
        rt.wait_line(r'"kind": "user_audio", "item_id": "\w+_00003"')
        # the second answer is being heard: its first samples reached the output WAV
        wait_until("the second answer to play", lambda: voiced_samples(out_wav) > voiced + 4800,
                   timeout=20, also=lambda: "".join(rt.out))
    finally:
        rt.proc.send_signal(signal.SIGKILL)
        killed = rt.finish(10)
    assert killed.code == -signal.SIGKILL, killed

    assert integrity(db_path(str(data_dir))) == "ok"
    (row,) = sessions_json(env)
    assert row["status"] == "crashed", row
    assert row["responses"] == 1
    before = session_json(env, row["short_id"])["items"]
    assert [(i["role"], i["status"]) for i in before] == [
        ("user", "completed"), ("assistant", "completed"), ("user", "completed")], before
    assert before[1]["transcript"] == before[1]["heard_text"] == SHORT_ANSWERS[0]

    connections_before = srv.connections()
    res = run_rt(["resume", row["short_id"][:6], "--url", srv.url, "--input",
                  str(wavs.question), "--output", str(tmp_path / "resumed.wav"),
                  "--max-turns", "1", "--plain"], env)
    assert res.code == 0, res
    no_traceback(res)
    assert f"session {row['short_id']} (resumed)" in res.stdout, res

    # the resume connection: session.update, then the history as text items
    (conn,) = set(srv.connections()) - set(connections_before)
    sent = srv.received(conn=conn)
    assert sent[0]["type"] == "session.update"
    assert "continued from an earlier session" in sent[0]["session"]["instructions"]
    replay = [e["item"] for e in sent[1:4]]
    assert all(e["type"] == "conversation.item.create" for e in sent[1:4]), sent[:5]
    assert [r["id"] for r in replay] == [i["local_id"] for i in before]
    assert all(len(r["id"]) <= 32 for r in replay)
    assert replay[0]["content"] == [{"type": "input_text", "text": before[0]["transcript"]}]
    assert replay[1]["role"] == "assistant"
    assert replay[1]["content"] == [{"type": "output_text", "text": SHORT_ANSWERS[0]}]
    # the kill may come before the question's (asynchronous) transcript: then its length is said
    (question,) = replay[2]["content"]
    if before[2]["transcript"]:
        assert question == {"type": "input_text", "text": before[2]["transcript"]}
    else:
        assert re.fullmatch(r"\(the user spoke for \d+\.\d s; no transcript\)", question["text"]), question
    assert sent[4]["type"] != "conversation.item.create"  # nothing else was replayed

    # the new turn is appended to the same session, which now ended cleanly
    (after_row,) = sessions_json(env)
    assert after_row["id"] == row["id"] and after_row["status"] == "ended"
    assert after_row["responses"] == 2
    after = session_json(env, row["short_id"])["items"]
    assert [i["local_id"] for i in after[:3]] == [i["local_id"] for i in before]
    assert [(i["role"], i["status"]) for i in after[3:]] == [
        ("user", "completed"), ("assistant", "completed")], after
    assert after[4]["transcript"] == SHORT_ANSWERS[0]
    assert len({i["local_id"] for i in after}) == len(after)
    assert integrity(db_path(str(data_dir))) == "ok"
