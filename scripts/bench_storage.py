"""Storage figures: `rt sessions list` wall time, journal throughput, `load_session` time, and
resuming a stored session up to its first replayed event.

Each `bench_*` function builds its own temporary database, measures, cleans up and returns a
number; the `STORAGE` and `RESUME` sections turn them into rows of `make bench`. Run standalone
for those rows alone:

    .venv/bin/python scripts/bench_storage.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from bench_rows import Section, at_most, installed_python, print_rows

from realtime_cli.core.records import (
    ItemKind,
    ItemRecord,
    JournalRecord,
    SessionEnded,
    SessionFigures,
    SessionStarted,
    SessionStatus,
    TurnRecord,
)
from realtime_cli.usage import TokenUsage

ROOT = Path(__file__).resolve().parent.parent  # the rt processes measured here import this checkout
_PCM_100MS = b"\x01\x00" * 2400


def _session(sid: str, created_at: float, n_items: int, audio: bool) -> list[JournalRecord]:
    out: list[JournalRecord] = [
        SessionStarted(
            session_id=sid,
            created_at=created_at,
            model="gpt-realtime",
            voice="marin",
            instructions="Be brief.",
            config={"model": "gpt-realtime"},
        )
    ]
    for n in range(n_items):
        user = n % 2 == 0
        out.append(
            ItemRecord(
                session_id=sid,
                local_id=f"i{n}",
                seq=n,
                kind=ItemKind.USER_AUDIO if user else ItemKind.ASSISTANT,
                role="user" if user else "assistant",
                transcript=f"utterance number {n} with a few words in it",
                created_at=created_at + n,
                audio_ms=100,
                audio=_PCM_100MS if audio else None,
                response_id=None if user else f"r{n}",
            )
        )
        if not user:
            out.append(
                TurnRecord(
                    session_id=sid,
                    response_id=f"r{n}",
                    turn_index=n // 2,
                    status="completed",
                    started_at=created_at + n,
                    duration_ms=1000,
                    latency_ms=400,
                    usage=TokenUsage(input_tokens=500, output_tokens=200),
                )
            )
    out.append(  # as the core journals at the end: `rt sessions list` joins these
        SessionFigures(session_id=sid, user_turns=(n_items + 1) // 2, assistant_turns=n_items // 2)
    )
    out.append(
        SessionEnded(
            session_id=sid,
            ended_at=created_at + n_items + 1,
            status=SessionStatus.ENDED,
            reason="bench",
        )
    )
    return out


def _populate(db: Path, sessions: int, items_each: int, *, audio: bool) -> list[str]:
    """Bulk-write synthetic sessions (many records per transaction: set-up, not measured)."""
    from realtime_cli.storage.db import atomic, open_db
    from realtime_cli.storage.sqlite import apply_record

    conn = open_db(db)
    ids = []
    try:
        start = time.time() - sessions * 60
        for batch in range(0, sessions, 500):
            with atomic(conn):
                for n in range(batch, min(batch + 500, sessions)):
                    sid = uuid.uuid4().hex
                    ids.append(sid)
                    for record in _session(sid, start + n * 60, items_each, audio):
                        apply_record(conn, record)
    finally:
        conn.close()
    return ids


def bench_sessions_list(n: int = 10_000, runs: int = 5) -> float:
    """Median wall time (ms) of a whole `rt sessions list` process, started as a user's install
    starts (`bench_rows.installed_python`), over a database holding `n` sessions (4 items
    each), output to a pipe."""
    from realtime_cli.storage.paths import db_path

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        _populate(db_path(data), n, 4, audio=False)
        env = dict(os.environ, RT_DATA_DIR=str(data))
        cmd = [str(installed_python().parent / "rt"), "sessions", "list"]
        times = []
        for i in range(runs + 1):
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
            if i:  # the first run warms the page cache
                times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)


def bench_journal_throughput(n_items: int = 20_000, *, audio: bool = True) -> float:
    """Items per second through a JournalWriter, one transaction per record, from the first
    `submit` until `close()` returns (everything on disk). Each item carries 100 ms of audio."""
    from realtime_cli.storage.journal import JournalWriter

    records = _session(uuid.uuid4().hex, time.time(), n_items, audio)
    items = sum(isinstance(r, ItemRecord) for r in records)
    with tempfile.TemporaryDirectory() as tmp:
        writer = JournalWriter(Path(tmp) / "rt.sqlite3")
        t0 = time.perf_counter()
        for record in records:
            writer.submit(record)
        writer.close()
        return items / (time.perf_counter() - t0)


def bench_submit_us(n_items: int = 20_000) -> float:
    """Mean time (µs) `submit()` takes on the caller's side: what the event loop pays."""
    from realtime_cli.storage.journal import JournalWriter

    records = _session(uuid.uuid4().hex, time.time(), n_items, True)
    with tempfile.TemporaryDirectory() as tmp:
        writer = JournalWriter(Path(tmp) / "rt.sqlite3")
        t0 = time.perf_counter()
        for record in records:
            writer.submit(record)
        spent = time.perf_counter() - t0
        writer.close()
    return spent / len(records) * 1e6


def bench_load_session(n_items: int = 1000, runs: int = 5) -> float:
    """Median ms of `load_session` (open, migrate check, crash check, resolve a prefix, read
    the items) for a session of `n_items` items, in a database of 100 sessions."""
    from realtime_cli.storage.queries import load_session

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "rt.sqlite3"
        _populate(db, 99, 10, audio=True)
        (sid,) = _populate(db, 1, n_items, audio=True)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            stored = load_session(db, sid[:8])
            times.append((time.perf_counter() - t0) * 1000)
            assert len(stored.items) == n_items
        return statistics.median(times)


def bench_resume_ms(n_items: int = 1000, runs: int = 5) -> float:
    """Median ms from a stored `n_items`-item session to the first replayed
    `conversation.item.create` ready to send: load it, rebuild the history, and run the core
    through a new connection (the socket adds only loopback time)."""
    from realtime_cli.core import commands as cmd
    from realtime_cli.core import inputs as inp
    from realtime_cli.core.config import SessionConfig
    from realtime_cli.core.session import SessionCore
    from realtime_cli.protocol import events as ev
    from realtime_cli.runtime.resume import history_from_records
    from realtime_cli.storage.queries import load_session

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "rt.sqlite3"
        (sid,) = _populate(db, 1, n_items, audio=True)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            stored = load_session(db, sid[:8])
            core = SessionCore(SessionConfig(), session_id=stored.id, now=0.0, resumed=True,
                               history=history_from_records(stored.items), next_seq=stored.next_seq)
            core.handle(inp.Begin(now=0.0, wall=time.time()))
            core.handle(inp.Opened(now=0.0))
            core.handle(inp.ServerMessage(now=0.0, event=ev.SessionCreated(
                session_id="s", expires_at=None, session={})))
            out = core.handle(inp.ServerMessage(now=0.0, event=ev.SessionUpdated(session={})))
            first = next(c for c in out if isinstance(c, cmd.Send)
                         and isinstance(c.event, ev.ConversationItemCreate))
            times.append((time.perf_counter() - t0) * 1000)
            assert first is not None
    return statistics.median(times)


STORAGE = Section("storage")
RESUME = Section("resume")
STORAGE.figure("`rt sessions list`, 10,000 sessions (whole process, as installed)", "ms", at_most(300),
               stat="median of 5")(bench_sessions_list)
# No threshold: "never waits on disk" is the submit() row; this one says how much headroom the
# writer thread has over the few records a second a conversation makes.
STORAGE.figure("journal throughput (100 ms audio per item)", "items/s")(bench_journal_throughput)
STORAGE.figure("journal submit() cost on the event loop", "µs/record", stat="mean")(bench_submit_us)
STORAGE.figure("load_session, 1,000 items", "ms", stat="median of 5")(bench_load_session)
RESUME.figure("resume a 1,000-item session -> first replayed event", "ms", at_most(100),
              stat="median of 5")(bench_resume_ms)


if __name__ == "__main__":
    print_rows([STORAGE, RESUME])
