"""The schema, as named migrations applied in the order they are registered here.

Each migration runs in its own transaction together with its row in `rt_migrations`, so a
database is always at exactly one known version, even after a crash mid-migration.
`PRAGMA user_version` mirrors the count for outside tools. A database that records a migration
this code does not know was written by a newer rt: `check_not_newer` refuses it with
SchemaTooNewError before anything is changed.

Never edit a migration that has shipped; add a new one at the end.

Session totals (turns, interruptions, tokens, audio ms) are kept by triggers, so `rt sessions
list` reads one row per session and the totals cannot drift from the rows they count.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from realtime_cli.errors import SchemaTooNewError
from realtime_cli.storage.db import atomic

MIGRATIONS_TABLE = "rt_migrations"


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    apply: Callable[[sqlite3.Connection], None]


MIGRATIONS: list[Migration] = []


def migration(name: str) -> Callable[[Callable[[sqlite3.Connection], None]], Migration]:
    def register(fn: Callable[[sqlite3.Connection], None]) -> Migration:
        if any(m.name == name for m in MIGRATIONS):
            raise ValueError(f"duplicate migration {name}")
        m = Migration(name, fn)
        MIGRATIONS.append(m)
        return m

    return register


def _run(conn: sqlite3.Connection, *statements: str) -> None:
    # executescript() would COMMIT our transaction; run statements one by one instead.
    for sql in statements:
        conn.execute(sql)


_USER_MS = "CASE WHEN {r}.role = 'user' THEN {r}.audio_ms ELSE 0 END"
_ASSISTANT_MS = (
    "CASE WHEN {r}.role != 'assistant' THEN 0"
    " WHEN {r}.truncated AND {r}.audio_end_ms IS NOT NULL AND {r}.audio_end_ms < {r}.audio_ms"
    " THEN {r}.audio_end_ms ELSE {r}.audio_ms END"
)


@migration("0001_initial")
def _initial(conn: sqlite3.Connection) -> None:
    kinds = "('user_audio', 'user_text', 'assistant', 'tool_call', 'tool_result')"
    _run(
        conn,
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            ended_at REAL,
            title TEXT,
            model TEXT NOT NULL DEFAULT '',
            voice TEXT NOT NULL DEFAULT '',
            instructions TEXT NOT NULL DEFAULT '',
            config_json TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'ended', 'crashed')),
            end_reason TEXT,
            turns INTEGER NOT NULL DEFAULT 0,
            interruptions INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            user_audio_ms REAL NOT NULL DEFAULT 0,
            assistant_audio_ms REAL NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX sessions_by_created ON sessions (created_at)",
        f"""CREATE TABLE items (
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            local_id TEXT NOT NULL CHECK (length(local_id) BETWEEN 1 AND 32),
            seq INTEGER NOT NULL,
            server_id TEXT,
            role TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN {kinds}),
            status TEXT NOT NULL DEFAULT 'completed',
            transcript TEXT,
            heard_text TEXT,
            truncated INTEGER NOT NULL DEFAULT 0,
            audio_end_ms INTEGER,
            audio_ms REAL NOT NULL DEFAULT 0,
            call_id TEXT,
            name TEXT,
            arguments TEXT,
            output TEXT,
            response_id TEXT,
            created_at REAL NOT NULL DEFAULT 0,
            completed_at REAL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (session_id, local_id)
        )""",
        "CREATE INDEX items_by_seq ON items (session_id, seq)",
        """CREATE TABLE item_audio (
            session_id TEXT NOT NULL,
            local_id TEXT NOT NULL,
            sample_rate INTEGER NOT NULL DEFAULT 24000,
            pcm BLOB NOT NULL,
            PRIMARY KEY (session_id, local_id),
            FOREIGN KEY (session_id, local_id)
                REFERENCES items (session_id, local_id) ON DELETE CASCADE
        )""",
        """CREATE TABLE interruptions (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            item_local_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            at REAL NOT NULL,
            position_ms INTEGER NOT NULL,
            heard_chars INTEGER NOT NULL,
            user_text TEXT,
            UNIQUE (session_id, item_local_id, kind, at)
        )""",
        """CREATE TABLE turns (
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            response_id TEXT NOT NULL,
            turn_index INTEGER NOT NULL,
            status TEXT NOT NULL,
            started_at REAL NOT NULL,
            duration_ms REAL NOT NULL,
            latency_ms REAL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            interrupted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (session_id, response_id)
        )""",
        "CREATE INDEX turns_by_index ON turns (session_id, turn_index)",
        """CREATE TABLE connections (
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            reason TEXT NOT NULL,
            opened_at REAL NOT NULL,
            server_session_id TEXT,
            expires_at REAL,
            closed_at REAL,
            close_code INTEGER,
            close_reason TEXT,
            PRIMARY KEY (session_id, idx)
        )""",
        f"""CREATE TRIGGER items_audio_ai AFTER INSERT ON items BEGIN
            UPDATE sessions SET
                user_audio_ms = user_audio_ms + {_USER_MS.format(r="NEW")},
                assistant_audio_ms = assistant_audio_ms + {_ASSISTANT_MS.format(r="NEW")}
            WHERE id = NEW.session_id;
        END""",
        f"""CREATE TRIGGER items_audio_au
            AFTER UPDATE OF role, audio_ms, audio_end_ms, truncated ON items BEGIN
            UPDATE sessions SET
                user_audio_ms = user_audio_ms
                    + {_USER_MS.format(r="NEW")} - {_USER_MS.format(r="OLD")},
                assistant_audio_ms = assistant_audio_ms
                    + {_ASSISTANT_MS.format(r="NEW")} - {_ASSISTANT_MS.format(r="OLD")}
            WHERE id = NEW.session_id;
        END""",
        """CREATE TRIGGER turns_ai AFTER INSERT ON turns BEGIN
            UPDATE sessions SET
                turns = turns + 1,
                input_tokens = input_tokens + NEW.input_tokens,
                output_tokens = output_tokens + NEW.output_tokens,
                cached_tokens = cached_tokens + NEW.cached_tokens
            WHERE id = NEW.session_id;
        END""",
        """CREATE TRIGGER turns_au
            AFTER UPDATE OF input_tokens, output_tokens, cached_tokens ON turns BEGIN
            UPDATE sessions SET
                input_tokens = input_tokens + NEW.input_tokens - OLD.input_tokens,
                output_tokens = output_tokens + NEW.output_tokens - OLD.output_tokens,
                cached_tokens = cached_tokens + NEW.cached_tokens - OLD.cached_tokens
            WHERE id = NEW.session_id;
        END""",
        """CREATE TRIGGER interruptions_ai AFTER INSERT ON interruptions BEGIN
            UPDATE sessions SET interruptions = interruptions + 1 WHERE id = NEW.session_id;
        END""",
    )


@migration("0002_turn_token_breakdown")
def _turn_token_breakdown(conn: sqlite3.Connection) -> None:
    """Text and audio tokens are priced differently: keep the split the server reports."""
    columns = (
        "input_text_tokens",
        "input_audio_tokens",
        "output_text_tokens",
        "output_audio_tokens",
        "cached_text_tokens",
        "cached_audio_tokens",
    )
    _run(
        conn,
        *(f"ALTER TABLE turns ADD COLUMN {c} INTEGER NOT NULL DEFAULT 0" for c in columns),
    )


@migration("0003_session_owner")
def _session_owner(conn: sqlite3.Connection) -> None:
    """Which process writes a session, so a later rt can tell a crash from a live session."""
    _run(
        conn,
        "ALTER TABLE sessions ADD COLUMN owner_pid INTEGER",
        "ALTER TABLE sessions ADD COLUMN owner_host TEXT",
        "ALTER TABLE sessions ADD COLUMN heartbeat_at REAL",
        "CREATE INDEX sessions_active ON sessions (status) WHERE status = 'active'",
    )


@migration("0004_turn_error")
def _turn_error(conn: sqlite3.Connection) -> None:
    """A failed response's error ("code: message"), kept with its turn."""
    _run(conn, "ALTER TABLE turns ADD COLUMN error TEXT")


@migration("0005_interruption_identity")
def _interruption_identity(conn: sqlite3.Connection) -> None:
    """An interruption is its target item and moment; its kind can be learned later (a spoken
    "stop" is first heard as speech over the assistant), so a later record rewrites it."""
    _run(
        conn,
        """DELETE FROM interruptions WHERE id NOT IN (
               SELECT MIN(id) FROM interruptions GROUP BY session_id, item_local_id, at)""",
        """UPDATE sessions SET interruptions =
               (SELECT COUNT(*) FROM interruptions i WHERE i.session_id = sessions.id)""",
        """CREATE UNIQUE INDEX interruptions_identity
               ON interruptions (session_id, item_local_id, at)""",
    )


@migration("0006_session_figures")
def _session_figures(conn: sqlite3.Connection) -> None:
    """The core's figures of each session (one meaning each), and whether it ended in an error.

    `failed` is a column beside `status` because the status CHECK cannot change without
    rebuilding the table; readers show such a session's status as 'failed'."""
    _run(
        conn,
        "ALTER TABLE sessions ADD COLUMN failed INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE session_figures (
            session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
            user_turns INTEGER NOT NULL DEFAULT 0,
            assistant_turns INTEGER NOT NULL DEFAULT 0,
            tool_calls INTEGER NOT NULL DEFAULT 0,
            speech_overlaps INTEGER NOT NULL DEFAULT 0,
            cancel_requests INTEGER NOT NULL DEFAULT 0,
            manual_cancels INTEGER NOT NULL DEFAULT 0,
            heard_fraction REAL,
            errors INTEGER NOT NULL DEFAULT 0,
            time_to_ready_ms REAL,
            audio_sent_ms REAL NOT NULL DEFAULT 0,
            audio_received_ms REAL NOT NULL DEFAULT 0,
            audio_heard_ms REAL NOT NULL DEFAULT 0,
            idle_s REAL NOT NULL DEFAULT 0,
            reconnects INTEGER NOT NULL DEFAULT 0,
            rollovers INTEGER NOT NULL DEFAULT 0,
            last_activity_at REAL,
            transcription_seconds REAL NOT NULL DEFAULT 0,
            transcription_input_tokens INTEGER NOT NULL DEFAULT 0,
            transcription_output_tokens INTEGER NOT NULL DEFAULT 0,
            transcription_cached_tokens INTEGER NOT NULL DEFAULT 0,
            transcription_input_text_tokens INTEGER NOT NULL DEFAULT 0,
            transcription_input_audio_tokens INTEGER NOT NULL DEFAULT 0,
            transcription_output_text_tokens INTEGER NOT NULL DEFAULT 0,
            transcription_output_audio_tokens INTEGER NOT NULL DEFAULT 0,
            transcription_cached_text_tokens INTEGER NOT NULL DEFAULT 0,
            transcription_cached_audio_tokens INTEGER NOT NULL DEFAULT 0
        )""",
    )


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATIONS_TABLE,)
    ).fetchone()
    if not exists:
        return []
    rows = conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY rowid").fetchall()
    return [str(r[0]) for r in rows]


def _db_file(conn: sqlite3.Connection) -> str:
    for row in conn.execute("PRAGMA database_list").fetchall():
        if row[1] == "main":
            return str(row[2]) or ":memory:"
    return "database"


def check_not_newer(
    conn: sqlite3.Connection, migrations: list[Migration] | None = None
) -> list[str]:
    """Names of the migrations still to apply; SchemaTooNewError if a newer rt wrote the file."""
    known = [m.name for m in (MIGRATIONS if migrations is None else migrations)]
    done = applied_migrations(conn)
    unknown = [name for name in done if name not in known]
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if unknown or version > len(known):
        what = unknown[-1] if unknown else f"version {version}"
        raise SchemaTooNewError(
            f"database {_db_file(conn)} was written by a newer rt (schema {what}); upgrade rt"
        )
    return [name for name in known if name not in done]


def migrate(conn: sqlite3.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply every pending migration, each in its own transaction; returns the names applied.

    Safe against a second rt migrating at the same time: the pending check is repeated under
    the write lock (`BEGIN IMMEDIATE`).
    """
    chosen = MIGRATIONS if migrations is None else migrations
    if not check_not_newer(conn, chosen):
        return []
    done_now: list[str] = []
    for index, m in enumerate(chosen, start=1):
        with atomic(conn):
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                "(name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            if m.name in applied_migrations(conn):
                continue
            m.apply(conn)
            conn.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)",
                (m.name, time.time()),
            )
            conn.execute(f"PRAGMA user_version = {index}")
            done_now.append(m.name)
    return done_now
