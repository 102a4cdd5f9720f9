"""`kill -9` of `rt talk` at seeded random moments, 25 times.

Four workers share one `rt serve`; each runs six or seven conversations into its own
data directory and kills each one with SIGKILL at a moment drawn from a seeded RNG after an
anchor, the anchors rotating over the conversation: while connecting, mid question, mid
(first) answer, between turns, mid (second, long) answer. After every kill:

- `PRAGMA integrity_check` is ok;
- nothing committed is lost: every item a reader saw in the database just before the kill is
  still there, same seq/kind/role, its status never back to `in_progress`;
- nothing printed long ago is lost: every transcript line rt printed (`--json`) at least
  GRACE_S before the kill names an item that is stored, with the printed words. (A line is
  printed when the record is handed to the journal queue, a few ms before its commit; a kill
  inside those ms may lose it, which is the documented contract: "a kill -9 loses at most what
  was still queued");
- the API key never reaches a file, whatever the kill left behind;
- no item is torn: its stored audio is exactly as long as its `audio_ms` (or its
  `audio_end_ms` when cut), a finished answer has its words, kinds and roles agree.

Then every crashed session is listed as `crashed` and `rt sessions show` works on it, and
`rt resume` continues one crashed session per worker (a real turn, appended after the kept
items).
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from e2e.conftest import LONG_ANSWER, SHORT_ANSWERS, Wavs
from e2e.support import (
    SECRET,
    Running,
    clean_env,
    data_bytes,
    integrity,
    no_traceback,
    run_rt,
    session_json,
    sessions_json,
    start_rt,
)

pytestmark = pytest.mark.slow

SEED = 9_1_2024
WORKERS = 4
KILLS = 25
GRACE_S = 1.0
LISTENING = r'"new": "listening"'
RESPONDING = r'"new": "responding"'
TURN_DONE = r'"reason": "turn finished"'

# (name, anchors to wait for in order, longest random delay after the last anchor)
PHASES: list[tuple[str, tuple[str, ...], float]] = [
    ("connecting", (), 0.8),
    ("mid question", (LISTENING,), 1.5),
    ("mid answer", (RESPONDING,), 1.2),
    ("between turns", (TURN_DONE,), 0.8),
    ("mid long answer", (RESPONDING, RESPONDING), 3.0),
]
KINDS = {"user_audio": "user", "user_text": "user", "assistant": "assistant",
         "tool_call": "assistant", "tool_result": "tool"}


@dataclass
class Kill:
    phase: str
    delay: float
    data: Path
    printed_early: list[dict[str, Any]] = field(default_factory=list)
    seen_before: dict[str, dict[str, Any]] = field(default_factory=dict)
    session: str | None = None  # printed by rt (maybe a few ms before it was committed)
    session_early: bool = False  # printed at least GRACE_S before the kill


def read_items(db: Path) -> dict[str, dict[str, Any]]:
    """Every stored item with its audio length, as a reader sees it now ({} if no database)."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT i.*, length(a.pcm) AS pcm_bytes FROM items i "
            "LEFT JOIN item_audio a USING (session_id, local_id) ORDER BY i.session_id, i.seq"
        ).fetchall()
    except sqlite3.OperationalError as exc:  # killed before the schema existed
        if "no such table" in str(exc):
            return {}
        raise
    finally:
        conn.close()
    return {row["local_id"]: dict(row) for row in rows}


def check_untorn(item: dict[str, Any]) -> None:
    assert KINDS[item["kind"]] == item["role"], item
    assert item["status"] in ("in_progress", "completed", "incomplete"), item
    if item["pcm_bytes"] is not None:
        samples = item["pcm_bytes"] // 2
        whole = round(item["audio_ms"] * 24)
        cut = item["audio_end_ms"] * 24 if item["truncated"] and item["audio_end_ms"] else None
        assert abs(samples - whole) <= 1 or samples == cut, item
    if item["kind"] == "assistant" and item["status"] == "completed":
        assert item["transcript"] is not None, item
    if item["truncated"]:
        assert item["audio_end_ms"] is not None, item


def run_one(url: str, wav: Path, kill: Kill, rng: random.Random, anchors: tuple[str, ...],
            longest: float) -> None:
    env = clean_env(kill.data, OPENAI_API_KEY=SECRET)  # a loopback server may get it; no file
    db = kill.data / "rt.sqlite3"
    rt: Running = start_rt(["talk", "--url", url, "--input", str(wav), "--output",
                            str(kill.data.parent / "out.wav"), "--json"], env)
    try:
        for anchor in anchors:
            rt.wait_line(anchor, timeout=30)
        kill.delay = rng.uniform(0.0, longest)
        deadline = time.monotonic() + kill.delay
        marks: list[tuple[float, int]] = [(time.monotonic(), len(rt.out))]
        while (left := deadline - time.monotonic()) > 0:  # the random delay, taking notes
            time.sleep(min(left, 0.05))
            marks.append((time.monotonic(), len(rt.out)))
        seen = read_items(db)
        killed_at = time.monotonic()
        rt.proc.send_signal(signal.SIGKILL)
    finally:
        if rt.proc.poll() is None:
            rt.proc.kill()
        res = rt.finish(10)
    assert res.code == -signal.SIGKILL, res
    assert "Traceback" not in res.stderr, res
    early = max((n for t, n in marks if t <= killed_at - GRACE_S), default=0)
    kill.seen_before = seen
    lines = [json.loads(line) for line in res.stdout.splitlines()[:early] if line.strip()]
    kill.printed_early = [e for e in lines if e["event"] == "transcript"]
    kill.session_early = any(e["event"] == "session" for e in lines)
    started = [e["session_id"] for e in (json.loads(x) for x in res.stdout.splitlines()
                                         if x.strip() and x.endswith("}"))
               if e["event"] == "session"]
    kill.session = started[0] if started else None


def check_after_kill(kill: Kill) -> None:
    db = kill.data / "rt.sqlite3"
    if not db.exists():
        assert kill.phase == "connecting" and not kill.seen_before, kill
        return
    assert integrity(db) == "ok", kill
    after = read_items(db)
    for local_id, before in kill.seen_before.items():
        now = after.get(local_id)
        assert now is not None, f"committed item {local_id} lost: {kill}"
        assert (now["seq"], now["kind"], now["role"]) == (
            before["seq"], before["kind"], before["role"]), (before, now)
        assert before["status"] == "in_progress" or now["status"] == before["status"], (before,
                                                                                         now)
    for line in kill.printed_early:
        item = after.get(line["item_id"])
        assert item is not None, f"printed item {line['item_id']} lost ({kill.phase})"
        stored = item["heard_text"] if line["truncated"] else item["transcript"]
        if line["kind"] in ("user_audio", "assistant") and line["text"] is not None:
            assert stored == line["text"], (line, item)
    for item in after.values():
        check_untorn(item)


def worker(url: str, wav: Path, root: Path, index: int, phases: list[int]) -> list[Kill]:
    rng = random.Random(SEED + index)
    kills = []
    data = root / f"worker{index}" / "data"
    for phase in phases:
        name, anchors, longest = PHASES[phase]
        kill = Kill(phase=name, delay=0.0, data=data)
        run_one(url, wav, kill, rng, anchors, longest)
        check_after_kill(kill)
        kills.append(kill)
    return kills


def resume_one(url: str, wavs: Wavs, data: Path, kills: list[Kill]) -> None:
    for path, blob in data_bytes(data):  # what the kills left behind (-wal, -shm) included
        assert SECRET.encode() not in blob, path
    env = clean_env(data)
    rows = sessions_json(env)
    stored = {r["id"] for r in rows}
    assert stored <= {k.session for k in kills if k.session}, (rows, kills)
    assert {k.session for k in kills if k.session_early} <= stored, (rows, kills)
    assert all(r["status"] == "crashed" for r in rows), rows
    for row in rows:
        detail = session_json(env, row["short_id"])
        assert detail["session"]["status"] == "crashed"
        assert [i["seq"] for i in detail["items"]] == sorted(i["seq"] for i in detail["items"])
    with_turn = [r for r in rows if r["responses"] >= 1]
    if not with_turn:
        return
    target = with_turn[0]
    before = session_json(env, target["short_id"])["items"]
    res = run_rt(["resume", target["short_id"], "--url", url, "--input", str(wavs.question),
                  "--output", str(data.parent / "resumed.wav"), "--max-turns", "1",
                  "--plain"], env)
    assert res.code == 0, res
    no_traceback(res)
    assert f"session {target['short_id']} (resumed)" in res.stdout, res
    after = session_json(env, target["short_id"])
    assert after["session"]["status"] == "ended"
    assert [i["local_id"] for i in after["items"][: len(before)]] == [
        i["local_id"] for i in before]
    assert [(i["role"], i["status"]) for i in after["items"][len(before):]][-2:] == [
        ("user", "completed"), ("assistant", "completed")], after["items"]
    assert integrity(data / "rt.sqlite3") == "ok"


def test_kill_9_at_random_moments_loses_nothing_committed(serve, wavs: Wavs,
                                                          tmp_path: Path) -> None:
    srv = serve(script=[SHORT_ANSWERS[0], LONG_ANSWER])
    plan: list[list[int]] = [[] for _ in range(WORKERS)]
    for n in range(KILLS):
        plan[n % WORKERS].append(n % len(PHASES))
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(worker, srv.url, wavs.long_pause, tmp_path, i, plan[i])
                   for i in range(WORKERS)]
        results = [f.result() for f in futures]
    kills = [k for ks in results for k in ks]
    assert len(kills) == KILLS
    assert {k.phase for k in kills} == {p[0] for p in PHASES}
    # the kills hit live sessions: most had items of their own committed when they died
    def own(k: Kill) -> list[dict[str, Any]]:
        return [i for i in k.seen_before.values() if i["session_id"] == k.session]

    assert sum(1 for k in kills if own(k)) >= KILLS // 2, kills
    with ThreadPoolExecutor(WORKERS) as pool:
        for f in [pool.submit(resume_one, srv.url, wavs, tmp_path / f"worker{i}" / "data",
                              results[i]) for i in range(WORKERS)]:
            f.result()
