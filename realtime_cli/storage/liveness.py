"""Telling a live session from a crashed one.

A session row names its owner (pid and host) and carries a heartbeat the journal writer
refreshes every HEARTBEAT_S seconds. A session still 'active' is crashed when:

- its owner is on this host and that pid is gone; or
- its heartbeat is older than STALE_S (the pid was reused by another process, or the owner is
  on another host and we cannot ask). A writer that was merely suspended puts its session back
  to 'active' at its next heartbeat.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time

from realtime_cli.storage.db import atomic

HEARTBEAT_S = 15.0
STALE_S = 600.0


def this_host() -> str:
    """The host name (as socket.gethostname(), without importing socket)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    return os.environ.get("COMPUTERNAME", "")


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM  # exists, owned by someone else
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    """A killed child nobody reaped yet still answers kill(pid, 0); /proc tells it is dead."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return True  # no /proc (macOS): trust kill()
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state not in (b"Z", b"X")


def is_crashed(
    *, owner_pid: int | None, owner_host: str | None, heartbeat_at: float | None, now: float
) -> bool:
    if heartbeat_at is not None and now - heartbeat_at > STALE_S:
        return True
    if owner_pid is None:
        return heartbeat_at is None  # written before owners were recorded
    if owner_host is not None and owner_host != this_host():
        return False  # only the heartbeat can tell
    return not pid_alive(owner_pid)


def mark_crashed_sessions(conn: sqlite3.Connection, *, now: float | None = None) -> list[str]:
    """Mark every 'active' session whose owner is gone as 'crashed'; returns their ids."""
    now = time.time() if now is None else now
    rows = conn.execute(
        "SELECT id, owner_pid, owner_host, heartbeat_at FROM sessions WHERE status = 'active'"
    ).fetchall()
    dead = [
        str(r["id"])
        for r in rows
        if is_crashed(
            owner_pid=r["owner_pid"],
            owner_host=r["owner_host"],
            heartbeat_at=r["heartbeat_at"],
            now=now,
        )
    ]
    if dead:
        with atomic(conn):
            conn.executemany(
                "UPDATE sessions SET status = 'crashed', end_reason = COALESCE(end_reason, "
                "'process ended without closing the session') "
                "WHERE id = ? AND status = 'active'",
                [(sid,) for sid in dead],
            )
    return dead
