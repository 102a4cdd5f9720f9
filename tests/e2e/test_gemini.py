"""Gemini Live through the same core: `rt talk --provider gemini` against `rt serve --protocol
gemini`, a real process with WAV devices and SQLite; and a conversation started with OpenAI
continued with Gemini by text replay of what was heard."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Q1, Q2, Wavs
from .support import (
    SECRET,
    data_bytes,
    loud,
    no_traceback,
    read_wav,
    run_rt,
    session_json,
    sessions_json,
    start_server,
    write_wav,
)

pytestmark = pytest.mark.slow


def test_a_spoken_turn_with_gemini(wavs: Wavs, env: dict[str, str], data_dir: Path,
                                   tmp_path: Path) -> None:
    srv = start_server(tmp_path / "gemini-serve", "--protocol", "gemini")
    try:
        env = {**env, "GEMINI_API_KEY": SECRET}
        answer = tmp_path / "answer.wav"
        res = run_rt(["talk", "--provider", "gemini", "--url", srv.url, "--input",
                      str(wavs.question), "--output", str(answer), "--max-turns", "1",
                      "--plain"], env)
        assert res.code == 0, res
        no_traceback(res)
        assert "model gemini-3.8-live" in res.stdout
        assert "assistant: " in res.stdout and "turn 1: completed" in res.stdout, res
        assert loud(read_wav(answer)).size > 0.5 * 24_000 * 0.3, "the answer is not audible"
        [row] = sessions_json(env)
        assert row["status"] == "ended" and row["model"] == "gemini-3.8-live", row
        detail = session_json(env, row["id"])
        assert any(i["role"] == "assistant" and i["transcript"] for i in detail["items"]), detail
        for path, data in data_bytes(data_dir):  # the key is in no file rt wrote
            assert SECRET.encode() not in data, path
    finally:
        srv.stop()


def test_an_openai_conversation_goes_on_with_gemini(serve, wavs: Wavs, env: dict[str, str],
                                                   tmp_path: Path) -> None:
    openai = serve()
    res = run_rt(["talk", "--url", openai.url, "--input", str(wavs.question), "--output",
                  str(tmp_path / "a1.wav"), "--max-turns", "1", "--plain"], env)
    assert res.code == 0, res
    [row] = sessions_json(env)
    first = session_json(env, row["id"])["items"]
    srv = start_server(tmp_path / "gemini-serve", "--protocol", "gemini")
    try:
        res = run_rt(["resume", row["id"][:8], "--provider", "gemini", "--url", srv.url,
                      "--input", str(wavs.question), "--output", str(tmp_path / "a2.wav"),
                      "--max-turns", "1", "--plain"],
                     {**env, "GEMINI_API_KEY": SECRET})
        assert res.code == 0, res
        assert "model gemini-3.8-live" in res.stdout, res
        # The history went to Gemini as text turns, exactly what was heard the first time.
        heard = [i["heard_text"] or i["transcript"] for i in first if i["role"] == "assistant"]
        sent = srv.log_text()
        assert heard and all(text in sent or text in srv.record.read_text() for text in heard), \
            (heard, sent[-2000:])
        items = session_json(env, row["id"])["items"]
        assert len(items) > len(first)  # the same session goes on
    finally:
        srv.stop()


def test_go_away_resumes_with_the_handle_and_loses_nothing(wavs: Wavs, env: dict[str, str],
                                                           tmp_path: Path) -> None:
    """The twin announces the end of each connection (goAway) 10 s after it opens; rt moves to a
    new connection at the next quiet moment with the newest handle (the server keeps the
    conversation: no replay), and both answers are heard and stored."""
    srv = start_server(tmp_path / "gemini-serve", "--protocol", "gemini", "--expire-after", "12")
    questions = write_wav(tmp_path / "two.wav", [300, Q1, 10_000, Q2, 1500])
    try:
        env = {**env, "GEMINI_API_KEY": SECRET}
        res = run_rt(["talk", "--provider", "gemini", "--url", srv.url, "--input",
                      str(questions), "--output", str(tmp_path / "a.wav"), "--max-turns", "2",
                      "--json"], env)
        assert res.code == 0, res
        no_traceback(res)
        log = srv.log_text()
        assert "resumed a session" in log, log
        [row] = sessions_json(env)
        items = session_json(env, row["id"])["items"]
        answers = [i for i in items if i["role"] == "assistant"]
        assert len(answers) == 2 and all(i["transcript"] for i in answers), items
        conns = [e for e in res.json_lines() if e.get("event") == "state"
                 and e.get("new") == "connected"]
        assert len(conns) >= 2, res  # it did move to a new connection
        assert "conversation.item.create" not in srv.record.read_text()  # nothing replayed
    finally:
        srv.stop()
