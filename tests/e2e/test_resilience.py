"""Sessions that expire under rt: it must get a new connection, replay the conversation as text
items, and go on. (A socket dropped without a close frame is in test_providers.py, with both
providers.)

`rt serve --fault-connections 1` applies the fault to the first connection only, so the
timings do not have to dodge a second drop or expiry. rt rolls over on its own before
`expires_at`, so the server's `session_expired` error
(docs/protocol.md#session-expiry-and-rollover) is reached through a
small proxy in front of the real `rt serve` that hides `expires_at` and then expires the first
session itself, exactly as the service does (error event, then close 1001).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection

from realtime_cli.server.faults import expiry_error, expiry_message

from .conftest import Wavs
from .support import (
    ThreadedWsServer,
    check_replay,
    no_traceback,
    run_rt,
    session_json,
    sessions_json,
    until_one_ends,
)

pytestmark = pytest.mark.slow


def in_order(lines: list[str], *texts: str) -> bool:
    """Each text is on some line, and their first lines come in this order."""
    first = [next(i for i, line in enumerate(lines) if text in line) for text in texts]
    return first == sorted(first) and len(set(first)) == len(first)


def test_an_expiring_session_rolls_over_without_losing_an_item(serve, wavs: Wavs, env,
                                                               tmp_path: Path) -> None:
    srv = serve("--expire-after", "7", "--fault-connections", "1")
    res = run_rt(["talk", "--url", srv.url, "--input", str(wavs.two_turns), "--output",
                  str(tmp_path / "a.wav"), "--max-turns", "2", "--plain"], env)
    assert res.code == 0, res
    no_traceback(res)
    lines = res.stdout.splitlines()
    assert in_order(lines, "turn 1: completed", "rolling over", "connection 2 (rollover)",
                    "turn 2: completed"), res
    assert not any("warning" in line or "error" in line for line in lines), res

    (row,) = sessions_json(env)
    assert row["status"] == "ended" and row["responses"] == 2
    detail = session_json(env, row["short_id"])
    items = detail["items"]
    assert [(i["role"], i["status"]) for i in items] == [
        ("user", "completed"), ("assistant", "completed"),
        ("user", "completed"), ("assistant", "completed")], items
    assert srv.connections() == [1, 2]
    replayed = check_replay(srv, 2, items)
    assert [r["id"] for r in replayed] == [i["local_id"] for i in items[:2]]  # nothing lost
    conns = detail["connections"]
    assert [c["reason"] for c in conns] == ["initial", "rollover"], conns
    assert all(c["opened_at"] > 0 and c["closed_at"] >= c["opened_at"] for c in conns), conns


class ExpiringProxy(ThreadedWsServer):
    """ws://127.0.0.1:PORT -> `upstream`, frame for frame. On the first connection it moves
    `expires_at` an hour away (so rt does not roll over first) and, `after` seconds in, sends
    the service's `session_expired` error and closes with 1001."""

    def __init__(self, upstream: str, after: float) -> None:
        super().__init__()
        self.upstream = upstream.split("/v1/")[0]
        self.after = after

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/realtime"

    async def _handler(self, ws: ServerConnection) -> None:
        self.opened += 1
        first = self.opened == 1
        assert ws.request is not None
        async with connect(self.upstream + ws.request.path, max_size=None,
                           compression=None) as up:

            async def down() -> None:
                async for frame in up:
                    if first and isinstance(frame, str) and '"session.created"' in frame:
                        event = json.loads(frame)
                        event["session"]["expires_at"] = int(time.time()) + 3600
                        frame = json.dumps(event)
                    await ws.send(frame)

            async def upward() -> None:
                async for frame in ws:
                    await up.send(frame)

            async def expire() -> None:
                await asyncio.sleep(self.after if first else 3600)
                await ws.send(json.dumps(expiry_error(self.after)))
                await ws.close(1001, expiry_message(self.after))

            await until_one_ends(down, upward, expire)

    def serve_options(self) -> dict[str, Any]:
        return {"max_size": None, "compression": None}


def test_the_servers_session_expired_rolls_over_without_losing_an_item(
        serve, wavs: Wavs, env, tmp_path: Path) -> None:
    srv = serve()
    with ExpiringProxy(srv.url, after=5.0) as proxy:
        res = run_rt(["talk", "--url", proxy.url, "--input", str(wavs.two_turns), "--output",
                      str(tmp_path / "a.wav"), "--max-turns", "2", "--plain"], env)
        assert proxy.opened == 2
    assert res.code == 0, res
    no_traceback(res)
    lines = res.stdout.splitlines()
    assert in_order(lines, "turn 1: completed", "server session expired",
                    "connection 2 (rollover)", "turn 2: completed"), res
    assert not any("warning" in line or "error:" in line for line in lines), res

    (row,) = sessions_json(env)
    assert row["status"] == "ended" and row["responses"] == 2
    detail = session_json(env, row["short_id"])
    items = detail["items"]
    assert [i["role"] for i in items] == ["user", "assistant", "user", "assistant"], items
    replayed = check_replay(srv, 2, items)
    assert [r["id"] for r in replayed] == [i["local_id"] for i in items[:2]]
    conns = detail["connections"]
    assert [c["reason"] for c in conns] == ["initial", "rollover"], conns
    assert all(c["opened_at"] > 0 and c["closed_at"] >= c["opened_at"] for c in conns), conns
