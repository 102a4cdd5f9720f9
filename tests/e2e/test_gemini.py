"""What only Gemini Live has, end to end: `rt talk --provider gemini` against `rt serve --protocol
gemini`, a real process with WAV devices and SQLite. A goAway moves the conversation to a new
connection that resumes the server's session with its handle (nothing replayed); and a
conversation started with OpenAI goes on with Gemini by text replay of what was heard.

What both providers do alike (a spoken turn, a barge-in, tools, a drop with no handle, a refused
key) is in test_providers.py, run once per provider."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Q1, Q2, Wavs
from .support import (
    SECRET,
    Server,
    no_traceback,
    run_rt,
    session_json,
    sessions_json,
    write_wav,
)

pytestmark = pytest.mark.slow


def test_an_openai_conversation_goes_on_with_gemini(serve, serve_gemini: Callable[..., Server],
                                                   wavs: Wavs, env: dict[str, str],
                                                   tmp_path: Path) -> None:
    openai = serve()
    res = run_rt(["talk", "--url", openai.url, "--input", str(wavs.question), "--output",
                  str(tmp_path / "a1.wav"), "--max-turns", "1", "--plain"], env)
    assert res.code == 0, res
    [row] = sessions_json(env)
    first = session_json(env, row["id"])["items"]
    srv = serve_gemini()
    res = run_rt(["resume", row["id"][:8], "--provider", "gemini", "--url", srv.url,
                  "--input", str(wavs.question), "--output", str(tmp_path / "a2.wav"),
                  "--max-turns", "1", "--plain"],
                 {**env, "GEMINI_API_KEY": SECRET})
    assert res.code == 0, res
    assert "model gemini-3.8-live" in res.stdout, res
    # The history went to Gemini as text turns, exactly what was heard the first time, before
    # the microphone's audio.
    heard = [(i["role"], i["heard_text"] or i["transcript"]) for i in first]
    sent = srv.received(conn=1)
    assert "setup" in sent[0] and sent[0]["setup"]["sessionResumption"] == {}, sent[:2]
    told = [(turn["role"], turn["parts"][0]["text"]) for message in sent[1:]
            if "clientContent" in message for turn in message["clientContent"]["turns"]]
    assert told == [("model" if role == "assistant" else "user", text) for role, text in heard]
    assert heard and all(text for _, text in heard), first
    items = session_json(env, row["id"])["items"]
    assert len(items) > len(first)  # the same session goes on


def test_go_away_resumes_with_the_handle_and_loses_nothing(
        serve_gemini: Callable[..., Server], env: dict[str, str], tmp_path: Path) -> None:
    """The twin announces the end of each connection (goAway) 10 s after it opens; rt moves to a
    new connection at the next quiet moment with the newest handle (the server keeps the
    conversation: no replay), and both answers are heard and stored."""
    srv = serve_gemini("--expire-after", "12")
    questions = write_wav(tmp_path / "two.wav", [300, Q1, 10_000, Q2, 1500])
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
    # it moved (each connection of the twin gets a goAway, so maybe more than once)
    reasons = [e["reason"] for e in res.json_lines() if e.get("event") == "connection"]
    assert reasons[0] == "initial" and reasons[1:] and set(reasons[1:]) == {"rollover"}, res
    setups = [m["setup"] for m in srv.received() if "setup" in m]
    assert len(setups) == len(reasons) and all(s["sessionResumption"]["handle"]
                                               for s in setups[1:]), setups
    # nothing replayed: the resumed session kept the conversation
    assert not [m for m in srv.received() if "clientContent" in m]
