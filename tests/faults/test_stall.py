"""A server that goes silent after the user's turn.

A proxy in front of `rt serve` swallows everything the server says from a point on (right after
the user's turn ends, or after the first audio of the answer), until the user speaks again: to
rt the server has simply stopped talking. With `RT_RESPONSE_TIMEOUT_S=2` rt must say so once
(`no response from the server within 2 s` / `response stalled for 2 s; cancelling it`), go back
to listening, answer the next question normally (heard in the output WAV) and end with exit 0;
the journal keeps every item, the stalled answer settled (never left `in_progress`).
"""

from __future__ import annotations

import pytest
from e2e.conftest import SHORT_ANSWERS, Wavs
from e2e.support import integrity, loud, no_traceback, read_wav, run_rt, session_json, sessions_json
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection

from realtime_cli.storage.paths import db_path

from .proxy import Proxy, event_type

pytestmark = pytest.mark.slow

TIMEOUT_S = 2


class Stall(Proxy):
    """Goes silent on connection 1 after `after` (an event type, counted `count` times), until
    the next `input_audio_buffer.speech_started`."""

    def __init__(self, upstream: str, after: str, count: int = 1) -> None:
        super().__init__(upstream)
        self.after = after
        self.count = count
        self.silent = False
        self.stalls = 0
        self.swallowed = 0

    async def down(self, conn: int, frame: str | bytes, ws: ServerConnection,
                   up: ClientConnection) -> None:
        kind = event_type(frame)
        if self.silent:
            if kind != "input_audio_buffer.speech_started":
                self.swallowed += 1
                return
            self.silent = False
        await ws.send(frame)
        if conn == 1 and not self.stalls and kind == self.after:
            self.count -= 1
            if self.count == 0:
                self.silent = True
                self.stalls += 1


@pytest.mark.parametrize(("after", "count", "said"), [
    ("input_audio_buffer.committed", 1, f"no response from the server within {TIMEOUT_S} s"),
    ("response.output_audio.delta", 2, f"response stalled for {TIMEOUT_S} s; cancelling it"),
], ids=["before-the-answer", "mid-answer"])
def test_a_silent_server_times_out_and_the_next_turn_works(
        serve, wavs: Wavs, env, data_dir, tmp_path, after: str, count: int, said: str) -> None:
    srv = serve()
    out_wav = tmp_path / "out.wav"
    with Stall(srv.url, after, count) as proxy:
        res = run_rt(["talk", "--url", proxy.url, "--input", str(wavs.two_turns), "--output",
                      str(out_wav), "--plain"], {**env, "RT_RESPONSE_TIMEOUT_S": str(TIMEOUT_S)})
    assert proxy.stalls == 1 and proxy.swallowed > 5, str(res)
    assert res.code == 0, str(res)
    no_traceback(res)
    assert res.stderr == "", str(res)
    lines = res.stdout.splitlines()
    told = [i for i, line in enumerate(lines) if said in line]
    assert len(told) == 1 and lines[told[0]].split("] ", 1)[1].startswith("warning: "), str(res)
    # rt serve's script goes on: the next question gets the second line
    answered = [i for i, line in enumerate(lines) if f"assistant: {SHORT_ANSWERS[1]}" in line]
    assert answered and answered[-1] > told[0], str(res)  # the next question got its answer
    assert proxy.opened == 1  # recovered on the same connection

    assert integrity(db_path(str(data_dir))) == "ok"
    (row,) = sessions_json(env)
    assert row["status"] == "ended" and row["end_reason"] == "input file finished", row
    detail = session_json(env, row["short_id"])
    items = detail["items"]
    failed = [t for t in detail["turns"] if t["status"] == "failed"]
    assert [t["error"] for t in failed] == [f"timeout: {said}"], detail["turns"]
    assert all(i["status"] != "in_progress" for i in items), items
    users = [i for i in items if i["role"] == "user"]
    assert len(users) == 2 and all(u["status"] == "completed" for u in users), items
    last = items[-1]
    assert (last["role"], last["status"], last["transcript"]) == (
        "assistant", "completed", SHORT_ANSWERS[1]), items
    # the answer after the stall was heard: voice in the output after the stall point
    voiced = loud(read_wav(out_wav))
    assert voiced.size > 12_000 and voiced[-1] > 24_000 * 6, "no answer audio after the stall"
