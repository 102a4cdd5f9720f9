"""Persistence: the SQLite journal of sessions, and the reads behind `rt sessions` and `rt stats`.

    paths.py       data dir (flag > RT_DATA_DIR > platformdirs), 0700 dir, 0600 files
    db.py          connections (WAL, foreign keys, busy timeout), atomic(), open_db()
    migrations.py  named ordered migrations; a newer database is refused untouched
    sqlite.py      how each journal record becomes rows (upserts), secrets scrubbed from configs
    journal.py     JournalWriter: the one writer thread, fed by a queue
    liveness.py    owner pid + heartbeat, mark_crashed_sessions()
    queries.py     id prefixes, list, detail, load_session() for resume, delete
    stats.py       `rt stats` totals, latency percentiles, cost
    transcript.py  transcript lines with cut marks (show, Markdown)
    export.py      JSON, Markdown, WAV exports
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realtime_cli.storage.db import atomic, connect, open_db
    from realtime_cli.storage.journal import JournalWriter
    from realtime_cli.storage.liveness import mark_crashed_sessions
    from realtime_cli.storage.paths import db_path, resolve_data_dir
    from realtime_cli.storage.queries import (
        SessionSummary,
        StoredSession,
        list_sessions,
        load_session,
        resolve_session_id,
    )
    from realtime_cli.storage.sqlite import apply_record

# Re-exported lazily: `rt sessions list` imports only the modules it uses.
_EXPORTS = {
    "JournalWriter": "journal",
    "SessionSummary": "queries",
    "StoredSession": "queries",
    "apply_record": "sqlite",
    "atomic": "db",
    "connect": "db",
    "db_path": "paths",
    "list_sessions": "queries",
    "load_session": "queries",
    "mark_crashed_sessions": "liveness",
    "open_db": "db",
    "resolve_data_dir": "paths",
    "resolve_session_id": "queries",
}
__all__ = [
    "JournalWriter",
    "SessionSummary",
    "StoredSession",
    "apply_record",
    "atomic",
    "connect",
    "db_path",
    "list_sessions",
    "load_session",
    "mark_crashed_sessions",
    "open_db",
    "resolve_data_dir",
    "resolve_session_id",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
