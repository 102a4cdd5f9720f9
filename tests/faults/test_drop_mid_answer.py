"""The socket dropped in the middle of an answer, while its audio streams.

`rt serve --drop-after` drops on a timer, which in tests/e2e/test_resilience.py lands between
turns. Here a proxy drops the first connection (no close frame) right after the fifth audio
chunk of the first answer, so the fault hits exactly mid-answer: rt must keep what was heard
(the answer stored as cut, with its audio), reconnect, replay the history, and the next turn
must be answered and heard; every item stored, in order.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from e2e.conftest import Wavs
from e2e.support import find, integrity, no_traceback, read_wav, run_rt, session_json, sessions_json
from e2e.test_resilience import check_replay
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection

from realtime_cli.storage.paths import db_path

from .proxy import Proxy, event_type

pytestmark = pytest.mark.slow

CHUNKS_BEFORE_DROP = 5  # of 100 ms each: the answer is audibly playing when the socket dies
ANSWER = "Sunny and warm with a light breeze from the west."  # ~3 s: 0.5 s is mid-answer


class DropMidAnswer(Proxy):
    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.deltas = 0
        self.dropped = False

    async def down(self, conn: int, frame: str | bytes, ws: ServerConnection,
                   up: ClientConnection) -> None:
        await ws.send(frame)
        if conn == 1 and event_type(frame) == "response.output_audio.delta":
            self.deltas += 1
            if self.deltas == CHUNKS_BEFORE_DROP:
                self.dropped = True
                ws.transport.abort()  # no close frame: a dead link, like a Wi-Fi drop
                await up.close()


def stored_audio(db: Path, local_id: str) -> np.ndarray:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT pcm FROM item_audio WHERE local_id = ?", (local_id,)).fetchone()
    finally:
        conn.close()
    assert row is not None, f"no audio stored for {local_id}"
    return np.frombuffer(row[0], dtype="<i2")


def test_a_drop_mid_answer_keeps_what_was_heard_and_carries_on(
        serve, wavs: Wavs, env, data_dir: Path, tmp_path: Path) -> None:
    srv = serve(script=[ANSWER])  # 4x real time: no underrun gaps in the output
    out_wav = tmp_path / "heard.wav"
    with DropMidAnswer(srv.url) as proxy:
        res = run_rt(["talk", "--url", proxy.url, "--input", str(wavs.two_turns), "--output",
                      str(out_wav), "--max-turns", "2", "--plain"], env)
        assert proxy.dropped and proxy.opened == 2, res
    assert res.code == 0, res
    no_traceback(res)
    assert res.stderr == "", res
    lines = res.stdout.splitlines()

    def at(text: str) -> int:
        found = [i for i, line in enumerate(lines) if text in line]
        assert found, f"no line with {text!r}\n{res}"
        return found[0]

    assert at("state: responding") < at("connection lost (dropped)") \
        < at("connection 2 (reconnect)") < at("turn 1: completed"), res
    assert not any("turn 2:" in line for line in lines), res  # the cut answer got no response.done

    (row,) = sessions_json(env)
    assert row["status"] == "ended", row
    items = session_json(env, row["short_id"])["items"]
    assert [(i["role"], i["status"]) for i in items] == [
        ("user", "completed"), ("assistant", "incomplete"),
        ("user", "completed"), ("assistant", "completed")], items
    cut, answer = items[1], items[3]
    # stored as heard: cut at what had arrived (~0.5 s), its words a true prefix of the answer
    assert cut["truncated"] and 0 < cut["audio_end_ms"] <= 1000, cut
    assert cut["heard_text"] and ANSWER.startswith(cut["heard_text"]), cut
    assert cut["heard_text"] != ANSWER
    assert answer["transcript"] == ANSWER and not answer["truncated"], answer
    assert [i["seq"] for i in items] == sorted(i["seq"] for i in items)
    assert len({i["local_id"] for i in items}) == 4

    # the new server session got the history, the cut answer as heard
    assert srv.connections() == [1, 2]
    replayed = check_replay(srv, 2, items)
    assert [r["id"] for r in replayed] == [i["local_id"] for i in items[:2]]
    assert srv.received("input_audio_buffer.append", conn=2)

    # both answers reached the speaker: the heard half of the first, all of the second
    db = db_path(str(data_dir))
    assert integrity(db) == "ok"
    heard = read_wav(out_wav)
    for item in (cut, answer):
        pcm = stored_audio(db, item["local_id"])
        middle = pcm[len(pcm) // 4 : len(pcm) * 3 // 4]  # clear of the fades
        assert middle.size > 2400 and find(heard, middle) >= 0, item["local_id"]
