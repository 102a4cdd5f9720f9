"""Sections of `make bench` beyond the core: storage, resume, audio devices, dashboard.

Each returns table rows (figure, measured, goal); `bench.py` prints them.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

Row = tuple[str, str, str]


def storage() -> list[Row]:
    import bench_storage as bs

    return [
        ("`rt sessions list`, 10,000 sessions (whole process)",
         f"{bs.bench_sessions_list():.0f} ms", "<= 300 ms"),
        ("journal throughput (100 ms audio per item)",
         f"{bs.bench_journal_throughput():,.0f} items/s", "never waits on disk"),
        ("journal submit() cost on the event loop", f"{bs.bench_submit_us():.1f} us/record", ""),
    ]


def resume() -> list[Row]:
    """Stored 1,000-item session -> load, rebuild history, core up to the first replayed
    `conversation.item.create` ready to send (the socket adds only loopback time)."""
    import bench_storage as bs

    from realtime_cli.core import commands as cmd
    from realtime_cli.core import inputs as inp
    from realtime_cli.core.config import SessionConfig
    from realtime_cli.core.session import SessionCore
    from realtime_cli.protocol import events as ev
    from realtime_cli.runtime.resume import history_from_records
    from realtime_cli.storage.queries import load_session

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "rt.sqlite3"
        (sid,) = bs._populate(db, 1, 1000, audio=True)
        times = []
        for _ in range(5):
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
    return [("resume a 1,000-item session -> first replayed event",
             f"{statistics.median(times):.1f} ms", "<= 100 ms")]


def audio() -> list[Row]:
    import bench_audio as ba

    rows: list[Row] = []
    for name, fn, goal in getattr(ba, "FIGURES", []):
        rows.append((name, fn(), goal))
    return rows


SECTIONS: list[tuple[str, Callable[[], list[Row]]]] = [
    ("storage", storage),
    ("resume", resume),
    ("audio devices", audio),
    ("dashboard", lambda: [(n, f(), g) for n, f, g in __import__("bench_dashboard").FIGURES]),
]

