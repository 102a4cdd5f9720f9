"""10,000 fuzzed server events thrown at a live `rt talk`, then a real turn.

A proxy in front of `rt serve` forwards the first turn untouched, keeping every real event as
a template. Right after that turn's `response.done` it holds the server's traffic back and sends
10,000 seeded frames instead (see fuzz.py: mutated real events, junk, binary, 1 MB strings,
deep nesting, invalid audio, unknown items), then lets the real server through again. The
second question must be answered and heard, rt must end normally without a traceback, and the
journal must hold both real turns, in order, in a sound database.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from e2e.conftest import SHORT_ANSWERS, Wavs
from e2e.support import find, integrity, read_wav, run_rt, session_json, sessions_json
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection

from realtime_cli.storage.paths import db_path

from .fuzz import HUGE, FuzzFrames
from .proxy import Proxy, event_type

pytestmark = pytest.mark.slow

SEED = 20240611
FRAMES = 10_000


class FuzzingProxy(Proxy):
    def __init__(self, upstream: str, seed: int, count: int, *,
                 lone_surrogates: bool = False) -> None:
        super().__init__(upstream)
        self.seed = seed
        self.lone_surrogates = lone_surrogates
        self.count = count
        self.templates: list[dict[str, Any]] = []
        self.sent = 0
        self.fuzz_seconds = 0.0
        self.kinds: dict[str, int] = {}
        # (role, id) of the items the real server made (heard turns, answers), in order
        self.real_items: list[tuple[str, str]] = []
        # how the real server finished each answer: "completed", or "incomplete" when the user's
        # second question cut into an answer to a forged tool call
        self.finished: dict[str, str] = {}

    async def down(self, conn: int, frame: str | bytes, ws: ServerConnection,
                   up: ClientConnection) -> None:
        await ws.send(frame)
        kind = event_type(frame)
        if kind == "input_audio_buffer.committed" and isinstance(frame, str):
            self.real_items.append(("user", json.loads(frame)["item_id"]))
        elif kind == "response.output_item.added" and isinstance(frame, str):
            self.real_items.append(("assistant", json.loads(frame)["item"]["id"]))
        elif kind == "response.output_item.done" and isinstance(frame, str):
            item = json.loads(frame)["item"]
            self.finished[item["id"]] = item["status"]
        if conn != 1 or self.sent:
            return
        if kind is not None and kind not in {t["type"] for t in self.templates}:
            self.templates.append(json.loads(frame))  # one of each: the same RNG path each run
        if kind == "response.done":  # turn 1 is over: fuzz, holding the server back
            started = time.monotonic()
            templates = sorted(self.templates, key=lambda t: str(t["type"]))
            fuzz = FuzzFrames(self.seed, templates, lone_surrogates=self.lone_surrogates)
            for junk in fuzz.frames(self.count):
                await ws.send(junk)
                self.sent += 1
            self.fuzz_seconds = time.monotonic() - started
            self.kinds = fuzz.kinds


def test_ten_thousand_fuzzed_events_then_a_real_turn(serve, wavs: Wavs, env, data_dir: Path,
                                                     tmp_path: Path) -> None:
    srv = serve()
    wav = tmp_path / "heard.wav"
    with FuzzingProxy(srv.url, SEED, FRAMES) as proxy:
        res = run_rt(["talk", "--url", proxy.url, "--input", str(wavs.two_turns), "--output",
                      str(wav), "--json"], env, timeout=90)
    info = f"fuzz: {proxy.sent} frames in {proxy.fuzz_seconds:.1f} s {proxy.kinds}"
    assert proxy.sent == FRAMES, f"{info}\n{res}"
    assert len(proxy.kinds) == 14 and min(proxy.kinds.values()) >= 25, info  # every kind, often
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res
    assert res.code == 0, f"{info}\n{res}"
    assert res.stderr == "", res
    assert proxy.opened == 1, res  # junk is ignored, not a reason to reconnect
    events = res.json_lines()
    said = [e["text"] for e in events if e["event"] == "transcript" and e["role"] == "assistant"]
    turns = [e for e in events if e["event"] == "turn" and e["status"] == "completed"]
    assert len(turns) >= 2, turns

    db = db_path(str(data_dir))
    assert integrity(db) == "ok"
    (row,) = sessions_json(env)
    assert row["status"] == "ended", row
    items = session_json(env, row["short_id"])["items"]
    assert [i["seq"] for i in items] == sorted(i["seq"] for i in items)
    # the real conversation, as the real server built it, is all there and in order (the fuzz
    # may have made rt ask for more answers: forged tool calls get rt's tool results)
    by_server: dict[str, dict[str, Any]] = {}
    for item in items:
        by_server.setdefault(item["server_id"], item)
    real = [by_server.get(sid) for _, sid in proxy.real_items]
    assert all(real), (proxy.real_items, items)
    # ...each as the server finished it (user turns are always whole)
    assert [(i["role"], i["status"]) for i in real] == [
        (role, proxy.finished[sid] if role == "assistant" else "completed")
        for role, sid in proxy.real_items], real
    assert [i["seq"] for i in real] == sorted(i["seq"] for i in real)
    assert [i["kind"] for i in real if i["role"] == "user"] == ["user_audio"] * 2, real
    last = real[-1]  # the answer to the second question
    assert last["role"] == "assistant" and last["status"] == "completed", real
    assert last["transcript"] in SHORT_ANSWERS, real
    assert last["seq"] > max(i["seq"] for i in real if i["role"] == "user")
    assert last["transcript"] in said

    # the real second answer reached the speaker, sample for sample
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (pcm_blob,) = conn.execute("SELECT pcm FROM item_audio WHERE local_id = ?",
                                   (last["local_id"],)).fetchone()
    finally:
        conn.close()
    pcm = np.frombuffer(pcm_blob, dtype="<i2")
    assert pcm.size > 12_000
    assert find(read_wav(wav), pcm[pcm.size // 4 : pcm.size * 3 // 4]) >= 0


class Inject(Proxy):
    """Sends `frames` on connection 1 right after the server hears the user start speaking
    (audio has been sent by then), then forwards as is."""

    def __init__(self, upstream: str, frames: list[str]) -> None:
        super().__init__(upstream)
        self.frames = frames
        self.sent = 0

    async def down(self, conn: int, frame: str | bytes, ws: ServerConnection,
                   up: ClientConnection) -> None:
        await ws.send(frame)
        if conn == 1 and not self.sent and event_type(frame) == "input_audio_buffer.speech_started":
            for junk in self.frames:
                await ws.send(junk)
                self.sent += 1


def _events(*events: dict[str, Any]) -> list[str]:
    return [json.dumps(e) for e in events]


HOSTILE = {
    "1 MB transcript delta for an unknown item": _events(
        {"type": "response.output_audio_transcript.delta", "response_id": "resp_fz",
         "item_id": "item_fz", "output_index": 0, "content_index": 0, "delta": "é" * HUGE}),
    "nesting 100,000 deep": [
        '{"type": "session.updated", "session": ' + "[" * 100_000 + "]" * 100_000 + "}"],
    "an error whose message holds a lone surrogate": _events(
        {"type": "error", "error": {"type": "server_error", "code": "server_error",
                                    "message": "bad \ud800 news", "param": None}}),  # JSON: "\\ud800"
    "speech starting at -1e308 ms": _events(
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": -1e308,
         "item_id": "item_fz"},
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 10,
         "item_id": "item_fz"},
        {"type": "input_audio_buffer.committed", "item_id": "item_fz",
         "previous_item_id": None}),
}


@pytest.mark.parametrize("name", [
    "1 MB transcript delta for an unknown item",
    "nesting 100,000 deep",
    "an error whose message holds a lone surrogate",
    "speech starting at -1e308 ms",
])
def test_one_hostile_event_then_a_normal_turn(serve, wavs: Wavs, env, tmp_path: Path,
                                              name: str) -> None:
    """One hostile event each, where the big fuzz may or may not land it (the last two need
    the codec to replace lone surrogates and refuse absurd positions)."""
    srv = serve()
    with Inject(srv.url, HOSTILE[name]) as proxy:
        res = run_rt(["talk", "--url", proxy.url, "--input", str(wavs.question), "--output",
                      str(tmp_path / "out.wav"), "--max-turns", "1", "--plain"], env)
    assert proxy.sent == len(HOSTILE[name])
    assert "Traceback" not in res.stderr + res.stdout, res
    assert res.code == 0 and res.stderr == "", res
    assert f"assistant: {SHORT_ANSWERS[0]}" in res.stdout, res
