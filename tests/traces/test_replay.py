"""Published event logs of the real service, replayed through rt (`rt serve --replay` and a real
`rt talk` with WAV devices): no crash, a clean end, every event rt sent valid against the
`openai` types, and the journal holding the transcripts the log says. README.md names each
log's source and what had to be filled in. The replay itself (reading, pacing, the wait for
`session.update`) is tested here too, on a manual clock."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conformance import validate_client_event
from e2e.support import clean_env, no_traceback, run_rt, session_json, sessions_json, start_server, write_wav

from realtime_cli.clock import ManualClock
from realtime_cli.errors import ConfigError
from realtime_cli.server.replay import ReplayFrame, play, read_trace

TRACES = Path(__file__).parent
PUBLISHED = sorted(TRACES.glob("*.jsonl"))


def trace_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in path.read_text(encoding="utf-8").splitlines() if raw.strip()]


def said_by_the_trace(path: Path) -> list[tuple[str, str | None]]:
    """The conversation as the log's own events tell it: a user audio item per committed turn
    (the logs' sessions had no input transcription), an assistant message per output message
    of each `response.done`."""
    told: list[tuple[str, str | None]] = []
    for line in trace_lines(path):
        frame = line.get("frame")
        if line["dir"] != "in" or not isinstance(frame, dict):
            continue
        if frame["type"] == "input_audio_buffer.committed":
            told.append(("user_audio", None))
        if frame["type"] == "response.done":
            told += [("assistant", part["transcript"]) for item in frame["response"]["output"]
                     if item["type"] == "message" for part in item["content"]]
    return told


def test_the_published_logs_are_here_and_named_in_the_readme() -> None:
    assert len(PUBLISHED) >= 2
    readme = (TRACES / "README.md").read_text(encoding="utf-8")
    for path in PUBLISHED:
        assert path.name in readme
        assert read_trace(path)  # each one reads as a trace


@pytest.mark.slow
@pytest.mark.parametrize("trace", PUBLISHED, ids=[p.stem for p in PUBLISHED])
def test_a_published_log_replayed_through_rt(trace: Path, tmp_path: Path) -> None:
    told = said_by_the_trace(trace)
    turns = sum(kind == "assistant" for kind, _ in told)
    wav = write_wav(tmp_path / "question.wav", [300, "Tell me a short bedtime story.", 1500])
    srv = start_server(tmp_path / "serve", "--replay", str(trace))
    env = clean_env(tmp_path / "data")
    try:
        res = run_rt(["talk", "--url", srv.url, "--input", str(wav), "--output",
                      str(tmp_path / "answer.wav"), "--max-turns", str(turns), "--json"], env)
    finally:
        srv.stop()
    assert res.code == 0, res
    no_traceback(res)
    events = res.json_lines()
    assert events[-1]["event"] == "state" and events[-1]["new"] == "closed", res
    (end,) = [e for e in events if e["event"] == "end"]
    assert end["status"] == "ended", res
    sent = srv.received()
    assert sent and sent[0]["type"] == "session.update"
    for event in sent:
        validate_client_event(event)
    (row,) = sessions_json(env)
    stored = [(i["kind"], i["transcript"]) for i in session_json(env, row["short_id"])["items"]]
    assert stored == told, stored


def write_trace(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_a_trace_splits_at_session_created_and_paces_from_the_clients_session_update(
        tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "t.jsonl", [
        {"t": 0.0, "dir": "open", "conn": 1},
        {"t": 0.1, "dir": "in", "conn": 1, "frame": {"type": "session.created"}},
        {"t": 0.3, "dir": "out", "conn": 1, "frame": {"type": "session.update"}},
        {"t": 0.4, "dir": "in", "conn": 1, "frame": {"type": "session.updated"}},
        {"t": 1.3, "dir": "in", "conn": 1, "frame": {"type": "response.output_audio.delta",
                                                      "delta": 4}, "audio": [["delta"]]},
        {"t": 2.0, "dir": "close", "conn": 1, "by": "server", "code": 1001, "reason": "expired"},
        {"t": 3.0, "dir": "in", "conn": 2, "frame": "garbage, not JSON"},
    ])
    first, second = read_trace(trace)
    assert first.created == ReplayFrame(0.1, '{"type":"session.created"}', "session.created")
    assert [f.frame for f in first.rest] == [
        '{"type":"session.updated"}',
        '{"type":"response.output_audio.delta","delta":"AAAAAA=="}',  # 4 bytes of silence
    ]
    assert first.origin == 0.3 and first.close == (1001, "expired")
    assert second.created is None and second.rest[0].frame == "garbage, not JSON"
    assert second.origin == 3.0 and second.close is None


async def test_play_keeps_the_traces_gaps_on_the_clock() -> None:
    clock = ManualClock()
    sent: list[tuple[float, str | bytes]] = []

    async def send(frame: str | bytes) -> None:
        sent.append((clock.monotonic() - 1000.0, frame))

    frames = [ReplayFrame(0.4, "a", None), ReplayFrame(None, "b", None), ReplayFrame(1.3, "c", None),
              ReplayFrame(0.2, "late", None)]
    task = asyncio.create_task(play(frames, send, clock, origin=0.3))
    await clock.run_for(2.0)
    await task
    assert sent == [(pytest.approx(0.1), "a"), (pytest.approx(0.1), "b"), (pytest.approx(1.0), "c"),
                    (pytest.approx(1.0), "late")]  # a frame already due goes at once


@pytest.mark.parametrize(("text", "message"), [
    ("{not json\n", "t.jsonl:1: not a JSON line"),
    ('{"frame": {}}\n', "t.jsonl:1: not a trace line"),
    ('{"dir": "in", "frame": {"delta": "x"}, "audio": [["delta"]]}\n', "t.jsonl:1: an audio length"),
    ("\n", "the trace is empty"),
])
def test_a_trace_that_cannot_be_replayed_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        read_trace(path)
