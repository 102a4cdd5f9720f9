"""`rt talk` against `rt serve` behaving like the service (docs/protocol.md): a real rt process
with WAV devices and SQLite, and the server's fault and scenario flags.

Covers: the input transcription arriving late (after the answer started), audio in bursts with
the transcript ahead and fields rt does not know (`obfuscation`, `phase`); a failed response
(one line, stored with its turn, the conversation goes on) and an exhausted quota (exit 3, one
line); a barge-in before any audio was heard (`conversation.item.delete`, no truncate); two
audio messages in one response (both play, the heard one is truncated); a tool output that came
in while reconnecting (sent once); a drop that lets the received answer play out, and no
truncate naming an item of the dropped connection.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from realtime_cli.server.response_faults import FAILURES
from realtime_cli.storage.paths import db_path
from realtime_cli.storage.queries import load_session

from .conftest import LONG_ANSWER, SHORT_ANSWERS, Wavs
from .support import (
    Result,
    assert_one_clean_line,
    find,
    no_traceback,
    read_wav,
    run_rt,
    session_json,
    sessions_json,
)

pytestmark = pytest.mark.slow

TOOL = """
import json, sys
args = json.load(sys.stdin)
print(json.dumps({"time": "12:34"}))
"""


def talk(url: str, wav: Path, out: Path, *extra: str) -> list[str]:
    return ["talk", "--url", url, "--input", str(wav), "--output", str(out), *extra]


def transcripts(res: Result, role: str) -> list[dict[str, object]]:
    return [e for e in res.json_lines() if e["event"] == "transcript" and e["role"] == role]


def test_late_transcription_bursts_and_unknown_fields_store_the_transcript_as_said(
        serve, wavs: Wavs, env: dict[str, str], tmp_path: Path) -> None:
    # the transcription comes 1.5 s after the commit (well after the answer's first audio),
    # 400 ms chunks, 4 s of audio at once; a reasoning model adds `phase` to its messages
    srv = serve("--transcription-delay", "1500", "--chunk-ms", "400", "--burst-ms", "4000",
                "--preamble", "Right.", script=[SHORT_ANSWERS[0]])
    res = run_rt(talk(srv.url, wavs.question, tmp_path / "a.wav", "--max-turns", "1", "--json",
                      "--model", "gpt-realtime-2"), env)
    assert res.code == 0, res
    no_traceback(res)
    (user,) = transcripts(res, "user")
    assert re.fullmatch(r"\[speech, \d+\.\d s\]", str(user["text"])), user
    said = [e["text"] for e in transcripts(res, "assistant")]
    assert said == ["Right.", SHORT_ANSWERS[0]], said
    (row,) = sessions_json(env)
    detail = session_json(env, row["short_id"])
    stored = [(i["kind"], i["transcript"]) for i in detail["items"]]
    assert stored == [("user_audio", user["text"]), ("assistant", "Right."),
                      ("assistant", SHORT_ANSWERS[0])], stored
    assert not [e for e in res.json_lines() if "malformed" in json.dumps(e)]


def test_a_failed_response_is_one_line_stored_with_its_turn_and_the_talk_goes_on(
        serve, wavs: Wavs, env: dict[str, str], tmp_path: Path) -> None:
    srv = serve("--fail", "rate_limit:1")
    res = run_rt(talk(srv.url, wavs.two_turns, tmp_path / "a.wav", "--max-turns", "1",
                      "--plain"), env)
    assert res.code == 0, res
    no_traceback(res)
    error = FAILURES["rate_limit"]
    failed = [line for line in res.stdout.splitlines() if "the answer failed" in line]
    assert len(failed) == 1 and error["message"] in failed[0] and error["code"] in failed[0], res
    # the failed response took the script's first line with it: the second one answers
    assert any(f"assistant: {SHORT_ANSWERS[1]}" in line for line in res.stdout.splitlines()), res
    (row,) = sessions_json(env)
    turns = session_json(env, row["short_id"])["turns"]
    assert [t["status"] for t in turns] == ["failed", "completed"], turns
    assert turns[0]["error"] == f"{error['code']}: {error['message']}"
    assert turns[1]["error"] is None


def test_an_exhausted_quota_ends_the_session_with_one_line(
        serve, wavs: Wavs, env: dict[str, str], tmp_path: Path) -> None:
    srv = serve("--fail", "insufficient_quota")
    res = run_rt(talk(srv.url, wavs.two_turns, tmp_path / "a.wav", "--plain"), env)
    line = assert_one_clean_line(res, code=3)
    assert FAILURES["insufficient_quota"]["message"] in line, res
    (row,) = sessions_json(env)
    assert row["status"] == "failed", row
    assert len(srv.received("response.create")) <= 1  # no retry of a quota failure


def test_a_barge_in_before_any_audio_was_heard_deletes_the_answer(
        serve, wavs: Wavs, env: dict[str, str], tmp_path: Path) -> None:
    # the answer's audio is held back 6 s: the second question comes before any of it
    srv = serve("--first-audio-delay", "6000", script=[LONG_ANSWER, "Sure."])
    res = run_rt(talk(srv.url, wavs.barge_in, tmp_path / "a.wav", "--max-turns", "1",
                      "--json"), env)
    assert res.code == 0, res
    no_traceback(res)
    deletes = srv.received("conversation.item.delete")
    assert len(deletes) == 1, srv.lines()
    assert srv.received("conversation.item.truncate") == []
    (row,) = sessions_json(env)
    items = session_json(env, row["short_id"])["items"]
    unheard = [i for i in items if i["server_id"] == deletes[0]["item_id"]]
    assert unheard and unheard[0]["kind"] == "assistant", items


def test_two_audio_messages_in_one_response_both_play_and_the_heard_one_is_truncated(
        serve, wavs: Wavs, env: dict[str, str], data_dir: Path, tmp_path: Path) -> None:
    srv = serve("--preamble", "One moment.", script=[LONG_ANSWER, "Sure."])
    out = tmp_path / "heard.wav"
    res = run_rt(talk(srv.url, wavs.barge_in, out, "--max-turns", "2", "--json"), env)
    assert res.code == 0, res
    no_traceback(res)
    (row,) = sessions_json(env)
    detail = session_json(env, row["short_id"])
    answers = [i for i in detail["items"] if i["kind"] == "assistant"]
    assert [a["transcript"] for a in answers][:2] == ["One moment.", LONG_ANSWER], answers
    preamble, long_answer = answers[:2]
    (truncate,) = srv.received("conversation.item.truncate")
    assert truncate["item_id"] == long_answer["server_id"]
    assert not preamble["truncated"] and long_answer["truncated"]
    assert srv.received("conversation.item.delete") == []
    # the preamble played whole, then the answer up to the cut
    stored = load_session(db_path(str(data_dir)), row["id"], with_audio=True)
    heard = read_wav(out)
    audio = {i.server_id: np.frombuffer(i.audio or b"", dtype="<i2") for i in stored.items}
    first = find(heard, audio[preamble["server_id"]])
    second = find(heard, audio[long_answer["server_id"]])
    assert 0 < first < second, (first, second)
    assert len(audio[long_answer["server_id"]]) == truncate["audio_end_ms"] * 24


def test_a_tool_output_that_came_in_while_reconnecting_is_sent_once(
        serve, wavs: Wavs, env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "get_time.py"
    script.write_text(TOOL)
    config = tmp_path / "rt.toml"
    config.write_text(
        "[[tools]]\n"
        'name = "get_time"\n'
        'description = "The time."\n'
        f'command = ["{sys.executable}", "{script}"]\n'
        "timeout_s = 5\n"
    )
    # the call's response.done is the last thing the first connection sends
    srv = serve("--tool-call", "get_time", "--drop-on", "response.done",
                "--fault-connections", "1")
    res = run_rt(talk(srv.url, wavs.question, tmp_path / "a.wav", "--max-turns", "1",
                      "--json"), {**env, "RT_CONFIG": str(config)})
    assert res.code == 0, res
    no_traceback(res)
    assert srv.connections() == [1, 2], srv.lines()
    outputs = [e["item"] for e in srv.received("conversation.item.create")
               if e["item"]["type"] == "function_call_output"]
    assert len(outputs) == 1, outputs
    assert json.loads(outputs[0]["output"])["time"] == "12:34"
    results = [e for e in res.json_lines() if e.get("kind") == "tool_result"]
    assert len(results) == 1 and "12:34" in str(results[0]["text"]), res
    said = [e["text"] for e in transcripts(res, "assistant") if e.get("kind") == "assistant"]
    assert said == [SHORT_ANSWERS[0]], said  # the answer to the tool's output, on connection 2
    assert srv.received("response.create", conn=2), srv.lines()


def _first_answer(data_dir: Path, env: dict[str, str]) -> tuple[str, np.ndarray]:
    (row,) = sessions_json(env)
    stored = load_session(db_path(str(data_dir)), row["id"], with_audio=True)
    first = next(i for i in stored.items if i.transcript == LONG_ANSWER)
    return str(first.server_id), np.frombuffer(first.audio or b"", dtype="<i2")


def test_a_drop_lets_the_received_answer_play_out(
        serve, wavs: Wavs, env: dict[str, str], data_dir: Path, tmp_path: Path) -> None:
    # all of the answer's audio arrives at once, then the socket drops while it plays
    srv = serve("--pace", "0", "--drop-on", "response.output_audio.done",
                "--fault-connections", "1", script=[LONG_ANSWER, "Sure."])
    out = tmp_path / "heard.wav"
    res = run_rt(talk(srv.url, wavs.two_turns, out, "--max-turns", "1", "--json"), env)
    assert res.code == 0, res
    no_traceback(res)
    assert srv.connections() == [1, 2], srv.lines()
    _, audio = _first_answer(data_dir, env)
    assert len(audio) > 24_000 * 3
    assert find(read_wav(out), audio) > 0, "the received answer did not play out whole"


def test_no_truncate_names_an_item_of_the_dropped_connection(
        serve, wavs: Wavs, env: dict[str, str], data_dir: Path, tmp_path: Path) -> None:
    # the second question barges in on the new connection, which never knew the answer
    srv = serve("--pace", "0", "--drop-on", "response.output_audio.done",
                "--fault-connections", "1", script=[LONG_ANSWER, "Sure."])
    res = run_rt(talk(srv.url, wavs.barge_in, tmp_path / "a.wav", "--max-turns", "1",
                      "--json"), env)
    assert res.code == 0, res
    no_traceback(res)
    assert srv.connections() == [1, 2], srv.lines()
    assert [e for e in res.json_lines() if e["event"] == "interruption"], res
    old_id, _ = _first_answer(data_dir, env)
    named = [e["item_id"] for e in srv.received(conn=2)
             if e["type"] in ("conversation.item.truncate", "conversation.item.delete")]
    assert old_id not in named, named
    assert not [e for e in res.json_lines() if "item_not_found" in json.dumps(e)], res
