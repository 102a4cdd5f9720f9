"""SQLite connections as rt uses them: WAL, foreign keys, a busy timeout, explicit transactions.

Connections run in autocommit mode (`isolation_level=None`) so that every transaction is one we
opened ourselves with `atomic()`: `BEGIN IMMEDIATE` takes the write lock up front (no lock
upgrade deadlocks between two rt processes), nested blocks become savepoints, and any exception
rolls back without hiding the original error. `synchronous=NORMAL` in WAL mode keeps every
committed transaction across a process crash (`kill -9`); only a power cut can lose the last
few, and the database stays consistent either way.

`open_db()` is the one way in for everything: it prepares the file (0600), checks the schema
version (refusing a database from a newer rt before changing anything), migrates, and marks the
sessions of dead processes as crashed.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from realtime_cli.errors import StorageError

BUSY_TIMEOUT_MS = 10_000
_savepoints = itertools.count(1)


def connect(path: str | os.PathLike[str], *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A raw connection with rt's pragmas; no migration. Errors become one-line StorageErrors."""
    try:
        conn = sqlite3.connect(
            os.fspath(path),
            isolation_level=None,
            check_same_thread=check_same_thread,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open database {path}: {exc}") from None
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        conn.close()
        raise StorageError(f"cannot open database {path}: {exc}") from None
    return conn


def enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL (persistent in the file); refused inside a transaction, a no-op if set."""
    if conn.in_transaction:
        raise StorageError("cannot change the journal mode inside a transaction")
    # Switching needs an exclusive lock and SQLite's busy handler does not wait for it, so
    # two rt processes creating a fresh database at once retry here.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                break
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() == "wal":
                break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise StorageError("cannot switch the database to WAL mode: it stays locked")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    conn.execute("PRAGMA synchronous = NORMAL")


@contextmanager
def atomic(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """One transaction (or a savepoint when already inside one); rolls back on any exception."""
    if conn.in_transaction:
        name = f"rt_sp_{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the original error matters more than a failed rollback
        raise
    conn.execute("COMMIT")


def open_db(
    path: str | os.PathLike[str],
    *,
    mark_crashed: bool = True,
    check_same_thread: bool = True,
) -> sqlite3.Connection:
    """Open (creating if needed) rt's database at `path`, migrated to this code's schema.

    Raises SchemaTooNewError (nothing changed) when a newer rt wrote the file, StorageError for
    anything else that stops us from using it.
    """
    from realtime_cli.storage import liveness, migrations, paths

    db_file = Path(path)
    paths.prepare_db_file(db_file)
    conn = connect(db_file, check_same_thread=check_same_thread)
    try:
        migrations.check_not_newer(conn)
        if conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is None:
            # Only settable before the first table: lets `rt sessions delete` give space back.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        enable_wal(conn)
        migrations.migrate(conn)
        if mark_crashed:
            liveness.mark_crashed_sessions(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StorageError(f"database {db_file} is unusable: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    paths.prepare_db_file(db_file)  # tighten -wal/-shm if an older rt left them looser
    return conn


def integrity_ok(conn: sqlite3.Connection) -> bool:
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    return [tuple(r) for r in rows] == [("ok",)]
