"""Connections that end under rt: a socket dropped without a close frame, a session that
expires. rt must get a new connection, replay the conversation as text items, and go on.

`rt serve --fault-connections 1` applies the fault to the first connection only, so the
timings do not have to dodge a second drop or expiry.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import SHORT_ANSWERS, Wavs
from .support import Event, Server, no_traceback, run_rt, session_json, sessions_json

pytestmark = pytest.mark.slow


def check_replay(srv: Server, conn: int, stored_items: list[Event]) -> list[Event]:
    """Connection `conn` starts with session.update, then one item.create per earlier item:
    user turns as input_text (their transcript), assistant turns as output_text (what was
    heard), with the stored ids (<= 32 chars). Returns the replayed items."""
    events = srv.received(conn=conn)
    assert events and events[0]["type"] == "session.update", events[:3]
    assert events[0]["session"]["type"] == "realtime"
    creates = []
    for e in events[1:]:
        if e["type"] != "conversation.item.create":
            break
        creates.append(e["item"])
    assert creates, f"nothing replayed on connection {conn}"
    assert [c["id"] for c in creates] == [i["local_id"] for i in stored_items[: len(creates)]]
    for sent, item in zip(creates, stored_items, strict=False):
        assert len(sent["id"]) <= 32 and sent["type"] == "message"
        (part,) = sent["content"]
        if item["role"] == "user":
            assert sent["role"] == "user" and part == {"type": "input_text",
                                                       "text": item["transcript"]}
        else:
            assert sent["role"] == "assistant" and part == {"type": "output_text",
                                                            "text": item["heard_text"]}
    return creates


def test_a_dropped_socket_reconnects_replays_and_carries_on(serve, wavs: Wavs, env,
                                                            tmp_path: Path) -> None:
    srv = serve("--drop-after", "4.5", "--fault-connections", "1")
    res = run_rt(["talk", "--url", srv.url, "--input", str(wavs.two_turns), "--output",
                  str(tmp_path / "a.wav"), "--max-turns", "2", "--plain"], env)
    assert res.code == 0, res
    no_traceback(res)
    lines = res.stdout.splitlines()
    lost = next(i for i, line in enumerate(lines) if "connection lost (dropped)" in line)
    back = next(i for i, line in enumerate(lines) if "connection 2 (reconnect)" in line)
    turn2 = next(i for i, line in enumerate(lines) if "turn 2: completed" in line)
    assert next(i for i, line in enumerate(lines) if "turn 1: completed" in line) < lost
    assert lost < back < turn2, res
    assert "dropping the socket" in srv.log_text()

    (row,) = sessions_json(env)
    assert row["status"] == "ended" and row["turns"] == 2
    items = session_json(env, row["short_id"])["items"]
    assert [i["role"] for i in items] == ["user", "assistant", "user", "assistant"], items
    assert srv.connections() == [1, 2]
    replayed = check_replay(srv, 2, items)
    assert len(replayed) == 2  # the whole first turn, nothing else
    assert replayed[1]["content"][0]["text"] == SHORT_ANSWERS[0]
    # and the second turn happened on the new connection
    assert srv.received("input_audio_buffer.append", conn=2)


def test_an_expiring_session_rolls_over_without_losing_an_item(serve, wavs: Wavs, env,
                                                               tmp_path: Path) -> None:
    srv = serve("--expire-after", "7", "--fault-connections", "1")
    res = run_rt(["talk", "--url", srv.url, "--input", str(wavs.two_turns), "--output",
                  str(tmp_path / "a.wav"), "--max-turns", "2", "--plain"], env)
    assert res.code == 0, res
    no_traceback(res)
    lines = res.stdout.splitlines()
    roll = next(i for i, line in enumerate(lines) if "rolling over" in line)
    back = next(i for i, line in enumerate(lines) if "connection 2 (rollover)" in line)
    turn1 = next(i for i, line in enumerate(lines) if "turn 1: completed" in line)
    turn2 = next(i for i, line in enumerate(lines) if "turn 2: completed" in line)
    assert turn1 < roll < back < turn2, res
    assert not any("warning" in line or "error" in line for line in lines), res

    (row,) = sessions_json(env)
    assert row["status"] == "ended" and row["turns"] == 2
    detail = session_json(env, row["short_id"])
    items = detail["items"]
    assert [(i["role"], i["status"]) for i in items] == [
        ("user", "completed"), ("assistant", "completed"),
        ("user", "completed"), ("assistant", "completed")], items
    assert srv.connections() == [1, 2]
    replayed = check_replay(srv, 2, items)
    assert [r["id"] for r in replayed] == [i["local_id"] for i in items[:2]]  # nothing lost
    reasons = [c.get("reason") for c in detail.get("connections", [])]
    assert "rollover" in reasons, detail.get("connections")
