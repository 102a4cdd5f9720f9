"""The same conversations with both providers through the same core: `rt talk --provider openai`
against `rt serve` and `rt talk --provider gemini` against `rt serve --protocol gemini`, each a
real process with WAV devices and SQLite.

Each test runs once per provider and checks what the user sees and what is stored the same way;
only what goes over the wire differs, and each twin's record of the client's messages is
checked in that provider's terms:

- a spoken turn, printed plain and as JSON lines, heard, stored, the key never shown or stored;
- a barge-in: the answer stops at what was played and the journal keeps what was heard
  (OpenAI: `conversation.item.truncate` at that point; Gemini: no message at all, the service
  keeps what it generated);
- a user-declared tool called by the model, run once, its result sent back once (OpenAI:
  `function_call_output` then `response.create`; Gemini: `toolResponse`, the model goes on by
  itself), and the built-in `end_conversation` tool ending the session after the goodbye;
- a socket dropped with no way to resume the server's session: rt reconnects and replays the
  conversation as text (OpenAI: `conversation.item.create` items; Gemini: `clientContent`
  turns, after a setup that offers no handle);
- a refused API key: one line on stderr, exit 2, never retried, the key never shown.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from realtime_cli.storage.paths import db_path
from realtime_cli.storage.queries import load_session

from .conftest import LONG_ANSWER, SHORT_ANSWERS, Wavs
from .support import (
    SECRET,
    Event,
    Server,
    assert_one_clean_line,
    check_replay,
    data_bytes,
    find,
    loud,
    no_traceback,
    read_wav,
    run_rt,
    server_voice,
    session_json,
    sessions_json,
)

pytestmark = pytest.mark.slow

PROVIDERS = ["openai", "gemini"]
MODEL = {"openai": "gpt-realtime", "gemini": "gemini-3.8-live"}
VOICE = {"openai": "marin", "gemini": "puck"}  # rt's default voices, as each twin renders them
KEY_VARIABLE = {"openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}


@dataclass(frozen=True)
class Twin:
    """A started twin of one provider's service, and how rt talks to it."""

    provider: str
    server: Server

    def talk(self, wav: Path, out: Path, *extra: str) -> list[str]:
        return ["talk", "--provider", self.provider, "--url", self.server.url, "--input",
                str(wav), "--output", str(out), *extra]

    def env(self, env: dict[str, str], key: str = SECRET) -> dict[str, str]:
        return {**env, KEY_VARIABLE[self.provider]: key}

    def messages(self, conn: int | None = None) -> list[Event]:
        """What the client sent, in order (OpenAI events, Gemini messages)."""
        return self.server.received(conn=conn)

    def kinds(self, conn: int | None = None) -> list[str]:
        """Each message's kind: an OpenAI event's type, a Gemini message's one field."""
        return [m["type"] if self.provider == "openai" else next(iter(m))
                for m in self.messages(conn)]


@pytest.fixture
def twin(provider: str, serve: Callable[..., Server],
         serve_gemini: Callable[..., Server]) -> Callable[..., Twin]:
    """`twin("--drop-after", "5", script=[...])`: the provider's twin with these flags."""

    def start(*flags: str, script: tuple[str, ...] | list[str] = SHORT_ANSWERS) -> Twin:
        starter = serve if provider == "openai" else serve_gemini
        return Twin(provider, starter(*flags, script=script))

    return start


def session_line(provider: str) -> str:
    return f"model {MODEL[provider]}"


# --------------------------------------------------------------------------- a spoken turn


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_spoken_turn_plain_then_json(provider: str, twin, wavs: Wavs, env: dict[str, str],
                                       data_dir: Path, tmp_path: Path) -> None:
    t = twin()
    env = t.env(env)  # a loopback server may receive the key; rt never shows or stores it
    answer = tmp_path / "answer.wav"
    res = run_rt(t.talk(wavs.question, answer, "--max-turns", "1", "--plain"), env)
    assert res.code == 0, res
    no_traceback(res)
    assert res.stderr == "", res
    lines = res.stdout.splitlines()
    assert session_line(provider) in lines[0], res
    assert any("user: [speech," in line for line in lines), res  # the twin's transcript
    answers = [line.split("assistant: ", 1)[1] for line in lines
               if "assistant: " in line]
    assert answers == [SHORT_ANSWERS[0]], res
    assert any("turn 1: completed" in line for line in lines), res
    assert lines[-1].endswith("state: closed (1 assistant turn(s) done)"), res

    played = read_wav(answer)
    voiced = loud(played)
    assert voiced.size > 0.5 * 24_000 * 0.3, "the answer is not audible in the output WAV"
    assert voiced[0] > 24_000  # after the question (it starts at 0.3 s and lasts > 1 s)

    rows = sessions_json(env)
    assert len(rows) == 1 and rows[0]["status"] == "ended" and rows[0]["responses"] >= 1, rows
    assert rows[0]["model"] == MODEL[provider], rows
    detail = session_json(env, rows[0]["short_id"])
    kinds = [(i["kind"], i["status"]) for i in detail["items"]]
    assert kinds == [("user_audio", "completed"), ("assistant", "completed")], detail["items"]
    assert detail["items"][1]["transcript"] == SHORT_ANSWERS[0]

    res2 = run_rt(t.talk(wavs.question, tmp_path / "answer2.wav", "--max-turns", "1", "--json"),
                  env)
    assert res2.code == 0, res2
    events = res2.json_lines()  # every line is one JSON object
    assert all(isinstance(e, dict) and {"t", "event"} <= e.keys() for e in events)
    kinds_seen = [e["event"] for e in events]
    for kind in ("session", "connection", "state", "transcript", "turn", "end"):
        assert kind in kinds_seen, kinds_seen
    answer = [e for e in events if e["event"] == "transcript" and e["role"] == "assistant"]
    assert answer and answer[-1]["text"] == SHORT_ANSWERS[0], events
    assert not answer[-1]["truncated"]
    assert events[-1]["event"] == "state" and events[-1]["new"] == "closed"
    assert len(sessions_json(env)) == 2

    # the key reached the server (it may), but no output and no stored byte holds it
    for result in (res, res2):
        assert SECRET not in result.stdout + result.stderr
    for path, blob in data_bytes(data_dir):
        assert SECRET.encode() not in blob, path
    assert SECRET not in t.server.log_text()


# --------------------------------------------------------------------------- barge-in


BARGE_IN = {
    "openai": (),
    # The Gemini model's turn lasts until its audio would have played at --pace (the service
    # waits for playback): in real time, so the speech comes while the model is still in its
    # turn and the twin interrupts it, as the service would.
    "gemini": ("--pace", "1"),
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_barge_in_stops_playback_and_journals_what_was_heard(
        provider: str, twin, wavs: Wavs, env: dict[str, str], data_dir: Path,
        tmp_path: Path) -> None:
    """Speech over a playing answer stops the voice where it was and the journal keeps exactly
    that. The WAV sink writes what is "heard" with no output latency, and the journal keeps the
    item's audio up to `audio_end_ms`, so that audio must appear sample for sample in the output
    WAV (played >= audio_end_ms), then a 5 ms fade and digital silence from no later than 10 ms
    after it (played <= audio_end_ms + 10 ms). espeak-ng's female voices add random breath
    noise, so rendering the line again is only good for "there was more to say here"."""
    t = twin(*BARGE_IN[provider], script=[LONG_ANSWER, "Sure."])
    out_wav = tmp_path / "heard.wav"
    res = run_rt(t.talk(wavs.barge_in, out_wav, "--max-turns", "2", "--json"), t.env(env))
    assert res.code == 0, res
    no_traceback(res)
    events = res.json_lines()

    # rt noticed the overlap and cut the answer where it was
    cuts = [e for e in events if e["event"] == "interruption"]
    assert [c["kind"] for c in cuts] == ["speech_overlap"], events
    cut_items = [e for e in events if e["event"] == "transcript" and e["truncated"]]
    assert len(cut_items) == 1, events
    heard = cut_items[0]["text"]
    assert heard and LONG_ANSWER.startswith(heard), heard
    assert len(heard) < len(LONG_ANSWER)
    end_ms = cut_items[0]["audio_end_ms"]
    assert end_ms == cuts[0]["position_ms"] and end_ms > 0

    # the journal keeps the item truncated, the words heard and exactly the audio heard
    (row,) = sessions_json(env)
    assert row["interruptions"] == 1 and row["status"] == "ended"
    detail = session_json(env, row["short_id"])
    (item,) = [i for i in detail["items"] if i["kind"] == "assistant" and i["truncated"]]
    assert item["audio_end_ms"] == end_ms and item["audio_ms"] > end_ms + 1000
    if provider == "openai":  # the whole transcript came (the twin keeps sending it)
        assert item["transcript"] == LONG_ANSWER, item
    else:  # the words came ahead of the audio, until the interruption
        assert LONG_ANSWER.startswith(item["transcript"]), item
    assert item["heard_text"] == heard and len(heard) < len(item["transcript"]), item
    assert item["transcript"].startswith(heard), item  # what was heard, cut at the words said
    stored = load_session(db_path(str(data_dir)), row["id"], with_audio=True)
    (audio_item,) = [i for i in stored.items if i.server_id == item["server_id"]]
    assert audio_item.audio is not None
    kept = np.frombuffer(audio_item.audio, dtype="<i2")  # the server's audio up to the cut
    assert len(kept) == end_ms * 24

    # what the server was told
    if provider == "openai":  # once, for the assistant item, at what was played
        truncates = t.server.received("conversation.item.truncate")
        assert [(e["item_id"], e["content_index"], e["audio_end_ms"]) for e in truncates] == [
            (item["server_id"], 0, end_ms)], truncates
    else:  # Gemini has no truncate: nothing but the setup and the microphone went out
        assert set(t.kinds()) == {"setup", "realtimeInput"}, t.kinds()
        assert "barge-in interrupts the model turn" in t.server.log_text()

    # the output WAV holds that audio sample for sample (played >= audio_end_ms) ...
    out = read_wav(out_wav)
    start = find(out, kept)
    assert start > 0, "the answer's audio is not in the output WAV"
    assert not np.any(out[start - 2400 : start]), "something played just before the answer"
    # ... then a 5 ms fade and digital silence: played <= audio_end_ms + 10 ms, and the voice
    # dropped to silence within one block of the cut
    silent_from = start + len(kept) + 10 * 24
    after = out[silent_from : silent_from + 24_000]
    assert after.size == 24_000 and not np.any(after), "playback went on after the barge-in"
    # the answer would have gone on audibly there (the twin's voice, rendered again)
    ref = server_voice(LONG_ANSWER, VOICE[provider])
    assert np.abs(ref[end_ms * 24 + 240 : end_ms * 24 + 24_240].astype(np.int32)).max() > 3000

    # the conversation went on: the second question got its answer
    answers = [e["text"] for e in events
               if e["event"] == "transcript" and e["role"] == "assistant"]
    assert answers[-1] == "Sure.", answers


# --------------------------------------------------------------------------- tools

TOOL = """
import json, sys
args = json.load(sys.stdin)
print(json.dumps({"time": "12:34", "city": args.get("city", "nowhere")}))
"""


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_declared_tool_is_called_answered_once_and_journaled(
        provider: str, twin, wavs: Wavs, env: dict[str, str], tmp_path: Path) -> None:
    """The model (the twin's --tool-call) calls a tool of the config file; rt runs the user's
    command with the arguments on stdin, sends the result back once, and the spoken answer
    follows. The call and its result are printed and journaled."""
    script = tmp_path / "get_time.py"
    script.write_text(TOOL)
    config = tmp_path / "rt.toml"
    config.write_text(
        "[[tools]]\n"
        'name = "get_time"\n'
        'description = "The time in a city."\n'
        f'command = ["{sys.executable}", "{script}"]\n'
        "timeout_s = 5\n"
        'parameters = {type = "object", properties = {city = {type = "string"}}}\n'
    )
    t = twin("--tool-call", "get_time")
    res = run_rt(t.talk(wavs.question, tmp_path / "a.wav", "--max-turns", "1", "--json"),
                 {**t.env(env), "RT_CONFIG": str(config)})
    assert res.code == 0, res
    no_traceback(res)
    events = res.json_lines()
    kinds = [e.get("kind") for e in events if e["event"] == "transcript"]
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("assistant"), kinds
    result = next(e for e in events if e.get("kind") == "tool_result")
    assert json.loads(result["text"])["time"] == "12:34"

    sent = t.messages()
    if provider == "openai":
        outputs = [e for e in t.server.received("conversation.item.create")
                   if e["item"]["type"] == "function_call_output"]
        assert len(outputs) == 1, "each call is answered exactly once"
        assert json.loads(outputs[0]["item"]["output"])["time"] == "12:34"
        types = t.kinds()
        # the result goes back before the response that uses it is asked for
        after = types[len(types) - types[::-1].index("conversation.item.create"):]
        assert "response.create" in after, types
    else:
        responses = [m["toolResponse"] for m in sent if "toolResponse" in m]
        assert len(responses) == 1, "each call is answered exactly once"
        (answer,) = responses[0]["functionResponses"]
        assert answer["name"] == "get_time" and answer["response"]["time"] == "12:34", answer
        # the model goes on by itself: nothing asks for the answer after the result
        assert not [m for m in sent if "clientContent" in m], sent
        assert "called get_time" in t.server.log_text()

    (row,) = sessions_json(env)
    stored = session_json(env, row["id"])
    assert [i["kind"] for i in stored["items"]][:4] == [
        "user_audio", "tool_call", "tool_result", "assistant"], stored["items"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_end_conversation_tool_hangs_up_after_the_goodbye(
        provider: str, twin, wavs: Wavs, env: dict[str, str], tmp_path: Path) -> None:
    """The model calls the built-in end_conversation tool: rt answers it (no user command
    runs), lets the goodbye play in full and ends the session by itself, exit 0, with no
    --max-turns to end it otherwise."""
    t = twin("--tool-call", "end_conversation", script=["Goodbye!"])
    out_wav = tmp_path / "a.wav"
    res = run_rt(t.talk(wavs.question, out_wav, "--json"), t.env(env))
    assert res.code == 0, res
    no_traceback(res)
    events = res.json_lines()
    (end,) = [e for e in events if e["event"] == "end"]
    assert end["reason"] == "conversation ended by the assistant", events
    goodbye = [e for e in events if e["event"] == "transcript" and e["role"] == "assistant"]
    assert [e["text"] for e in goodbye] == ["Goodbye!"], goodbye
    assert not goodbye[0]["truncated"], goodbye  # heard whole
    assert loud(read_wav(out_wav)).size > 0

    if provider == "openai":
        outputs = [e["item"] for e in t.server.received("conversation.item.create")
                   if e["item"]["type"] == "function_call_output"]
        assert len(outputs) == 1, outputs
    else:
        responses = [m["toolResponse"] for m in t.messages() if "toolResponse" in m]
        assert [r["functionResponses"][0]["name"] for r in responses] == ["end_conversation"]

    (row,) = sessions_json(env)
    assert row["status"] == "ended" and row["end_reason"] == "conversation ended by the assistant"
    stored = session_json(env, row["id"])
    kinds = [i["kind"] for i in stored["items"]]
    assert kinds == ["user_audio", "tool_call", "tool_result", "assistant"], stored["items"]


# --------------------------------------------------------------------------- a dropped socket


def check_gemini_replay(t: Twin, conn: int, stored_items: list[Event]) -> list[Event]:
    """Connection `conn` starts with a setup offering no handle (a new server session), then
    one `clientContent` turn per earlier item, none asking for an answer: user turns as their
    transcript, model turns as what was heard. Returns the replayed turns."""
    sent = t.messages(conn)
    assert sent and "setup" in sent[0], sent[:3]
    assert sent[0]["setup"]["sessionResumption"] == {}, sent[0]  # nothing to resume
    turns = []
    for message in sent[1:]:
        if "clientContent" not in message:
            break
        content = message["clientContent"]
        assert content["turnComplete"] is False, content
        (turn,) = content["turns"]
        turns.append(turn)
    assert turns, f"nothing replayed on connection {conn}"
    for turn, item in zip(turns, stored_items, strict=False):
        if item["role"] == "user":
            text = item["transcript"] or \
                f"(the user spoke for {item['audio_ms'] / 1000:.1f} s; no transcript)"
            assert turn == {"role": "user", "parts": [{"text": text}]}, (turn, item)
        else:
            assert turn == {"role": "model", "parts": [{"text": item["heard_text"]}]}, (turn, item)
    return turns


DROP = {
    "openai": ("--drop-after", "5", "--fault-connections", "1"),
    # the twin hands out no resumption handle, so the new connection cannot resume the session
    "gemini": ("--drop-after", "5", "--fault-connections", "1", "--unresumable"),
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_dropped_socket_reconnects_replays_and_carries_on(
        provider: str, twin, wavs: Wavs, env: dict[str, str], tmp_path: Path) -> None:
    t = twin(*DROP[provider])
    res = run_rt(t.talk(wavs.two_turns, tmp_path / "a.wav", "--max-turns", "2", "--plain"),
                 t.env(env))
    assert res.code == 0, res
    no_traceback(res)
    lines = res.stdout.splitlines()
    lost = next(i for i, line in enumerate(lines) if "connection lost (dropped)" in line)
    back = next(i for i, line in enumerate(lines) if "connection 2 (reconnect)" in line)
    turn2 = next(i for i, line in enumerate(lines) if "turn 2: completed" in line)
    assert next(i for i, line in enumerate(lines) if "turn 1: completed" in line) < lost
    assert lost < back < turn2, res
    assert "dropping the socket" in t.server.log_text()

    (row,) = sessions_json(env)
    assert row["status"] == "ended" and row["responses"] == 2
    detail = session_json(env, row["short_id"])
    items = detail["items"]
    assert [i["role"] for i in items] == ["user", "assistant", "user", "assistant"], items
    conns = detail["connections"]
    assert [(c["reason"], c["close_code"]) for c in conns] == [
        ("initial", None), ("reconnect", 1000)], conns  # None: dropped without a close frame
    assert t.server.connections() == [1, 2]
    if provider == "openai":
        replayed = check_replay(t.server, 2, items)
        assert len(replayed) == 2  # the whole first turn, nothing else
        assert replayed[1]["content"][0]["text"] == SHORT_ANSWERS[0]
        assert t.server.received("input_audio_buffer.append", conn=2)  # the second turn
    else:
        turns = check_gemini_replay(t, 2, items)
        assert len(turns) == 2  # the whole first turn, nothing else
        assert turns[1]["parts"][0]["text"] == SHORT_ANSWERS[0]
        assert "resumed" not in t.server.log_text()  # a new server session
        assert "realtimeInput" in t.kinds(2)  # the second turn was on the new connection


# --------------------------------------------------------------------------- a refused key


REFUSED_LINE = {
    "openai": "rt: HTTP 401 from 127.0.0.1: the API key (OPENAI_API_KEY) was rejected",
    "gemini": "rt: close 1007 from 127.0.0.1: the API key (GOOGLE_API_KEY or GEMINI_API_KEY) "
              "was rejected (API key not valid. Please pass a valid API key.)",
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refused_key_is_one_line_exit_2_and_not_retried(
        provider: str, twin, wavs: Wavs, env: dict[str, str], data_dir: Path,
        tmp_path: Path) -> None:
    """OpenAI refuses the upgrade with HTTP 401; Gemini accepts it and closes at the setup
    with 1007. Either way a configuration the user must fix: exit 2, like a missing key."""
    t = twin("--refuse-key", SECRET)
    res = run_rt(t.talk(wavs.question, tmp_path / "o.wav", "--plain"), t.env(env))
    line = assert_one_clean_line(res, code=2)
    assert line == REFUSED_LINE[provider], res
    assert SECRET not in res.stdout + res.stderr
    for path, blob in data_bytes(data_dir):
        assert SECRET.encode() not in blob, path
    log = t.server.log_text()
    assert SECRET not in log
    if provider == "openai":  # refused on the upgrade, once: no reconnect
        assert log.count("refused an API key on the upgrade (HTTP 401)") == 1, log
        assert t.messages() == []
    else:  # accepted, then closed at the setup, once: no reconnect
        assert log.count(": open from") == 1 and "closing 1007: API key not valid" in log, log
