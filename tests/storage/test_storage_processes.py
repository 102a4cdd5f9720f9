"""Crashes and concurrency with real processes: kill -9 mid-write, two writers at once."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realtime_cli.cli.sessions_cmd import sessions_app
from realtime_cli.storage import liveness
from realtime_cli.storage.db import integrity_ok, open_db
from realtime_cli.storage.queries import load_session

from . import workers
from .synth import make_session, new_id

ROOT = Path(__file__).resolve().parents[2]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.parametrize("flushes", [1, 4, 10])
def test_kill_9_mid_journal_leaves_db_intact_and_session_crashed(
    db_file: Path, data_dir: Path, flushes: int
) -> None:
    """The worker journals without pause and reports each flush; it is killed right after its
    `flushes`-th report, while the next batch is being written."""
    sid = new_id()
    proc = subprocess.Popen(
        [sys.executable, "-m", "storage.workers", str(db_file), sid],
        cwd=ROOT / "tests",
        env=_child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        reports = [proc.stdout.readline() for _ in range(flushes)]  # the first: session exists
        assert all(line.strip().isdigit() for line in reports), reports
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    flushed = int((reports + rest.split())[-1])
    conn = open_db(db_file, mark_crashed=False)
    try:
        assert integrity_ok(conn)
        assert conn.execute("SELECT status FROM sessions").fetchone()[0] == "active"
        assert liveness.mark_crashed_sessions(conn) == [sid]
        assert conn.execute("SELECT status FROM sessions").fetchone()[0] == "crashed"
        stored = conn.execute("SELECT COUNT(*) FROM items WHERE local_id GLOB 'k*'").fetchone()[0]
        assert stored >= flushed  # everything flushed before the kill survived
        audio = conn.execute("SELECT COUNT(*) FROM item_audio").fetchone()[0]
        assert audio == conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    finally:
        conn.close()
    result = CliRunner().invoke(sessions_app, ["list", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "crashed" in result.output and sid[:8] in result.output
    stored = load_session(db_file, sid[:10])  # what `rt resume` gets
    assert stored.status == "crashed"
    assert stored.next_seq == stored.items[-1].seq + 1 and len(stored.items) == stored.next_seq - 8


def test_two_processes_write_at_once(db_file: Path) -> None:
    open_db(db_file).close()  # both start on an existing, migrated database
    ctx = multiprocessing.get_context("spawn")
    ids = [new_id(), new_id()]
    procs = [
        ctx.Process(target=workers.journal_session, args=(str(db_file), sid, 400)) for sid in ids
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    conn = open_db(db_file)
    try:
        assert integrity_ok(conn)
        for sid in ids:
            n = conn.execute("SELECT COUNT(*) FROM items WHERE session_id = ?", (sid,)).fetchone()
            assert n[0] == 402
            status = conn.execute("SELECT status FROM sessions WHERE id = ?", (sid,)).fetchone()
            assert status[0] == "ended"
    finally:
        conn.close()


def test_two_processes_create_a_fresh_database_at_once(db_file: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ids = [new_id(), new_id()]
    procs = [
        ctx.Process(target=workers.journal_session, args=(str(db_file), sid, 50)) for sid in ids
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    conn = open_db(db_file)
    try:
        assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM rt_migrations").fetchone()[0] >= 2
    finally:
        conn.close()


def test_mark_crashed_rules(db_file: Path) -> None:
    now = time.time()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    cases = {
        "dead_pid": (dead_pid, liveness.this_host(), now),
        "live_pid": (os.getpid(), liveness.this_host(), now),
        "stale_live_pid": (os.getpid(), liveness.this_host(), now - liveness.STALE_S - 1),
        "other_host_fresh": (12345, "elsewhere.example", now),
        "other_host_stale": (12345, "elsewhere.example", now - liveness.STALE_S - 1),
    }
    ids = {name: make_session(db_file, ended=False) for name in cases}
    conn = open_db(db_file, mark_crashed=False)
    try:
        for name, (pid, host, beat) in cases.items():
            conn.execute(
                "UPDATE sessions SET owner_pid = ?, owner_host = ?, heartbeat_at = ? WHERE id = ?",
                (pid, host, beat, ids[name]),
            )
        crashed = set(liveness.mark_crashed_sessions(conn, now=now))
        assert crashed == {ids["dead_pid"], ids["stale_live_pid"], ids["other_host_stale"]}
        assert liveness.mark_crashed_sessions(conn, now=now) == []  # already marked
    finally:
        conn.close()


def test_resume_after_a_crash_continues_the_same_session(db_file: Path) -> None:
    from realtime_cli.core.records import ItemKind, ItemRecord, SessionStarted
    from realtime_cli.storage.journal import JournalWriter

    sid = make_session(db_file, ended=False, turns=1)
    conn = open_db(db_file, mark_crashed=False)
    conn.execute("UPDATE sessions SET owner_pid = 999999999")  # a pid that cannot exist
    conn.close()
    stored = load_session(db_file, sid)
    assert stored.status == "crashed" and stored.next_seq == 2
    with JournalWriter(db_file) as w:
        w.submit(SessionStarted(session_id=sid, created_at=0.0, model=stored.model,
                                voice=stored.voice, instructions=stored.instructions,
                                config=stored.config, resumed=True))
        w.submit(ItemRecord(session_id=sid, local_id="u9", seq=stored.next_seq,
                            kind=ItemKind.USER_TEXT, role="user", transcript="and then?"))
        w.flush(5)
        assert load_session(db_file, sid).status == "active"
    again = load_session(db_file, sid)
    assert [i.local_id for i in again.items] == ["u0", "a0", "u9"]
    assert again.created_at == stored.created_at and again.title == stored.title
