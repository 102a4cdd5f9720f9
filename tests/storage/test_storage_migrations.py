from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from realtime_cli.errors import SchemaTooNewError, StorageError
from realtime_cli.storage import migrations
from realtime_cli.storage.db import connect, enable_wal, integrity_ok, open_db
from realtime_cli.storage.paths import prepare_db_file

from .synth import make_session

NAMES = [m.name for m in migrations.MIGRATIONS]


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _db_at_version(path: Path, upto: int) -> sqlite3.Connection:
    prepare_db_file(path)
    conn = connect(path)
    enable_wal(conn)
    migrations.migrate(conn, migrations.MIGRATIONS[:upto])
    return conn


def test_at_least_two_migrations_in_order() -> None:
    assert len(NAMES) >= 2
    assert NAMES[0] == "0001_initial"
    assert len(set(NAMES)) == len(NAMES)


def test_migrate_from_empty(conn: sqlite3.Connection) -> None:
    assert migrations.applied_migrations(conn) == NAMES
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(NAMES)
    assert {"sessions", "items", "item_audio", "interruptions", "turns", "connections"} <= (
        _tables(conn)
    )
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    indexes = {r[1] for r in conn.execute("PRAGMA index_list(sessions)")}
    assert "sessions_by_created" in indexes
    assert integrity_ok(conn)


def test_reopen_applies_nothing(db_file: Path) -> None:
    open_db(db_file).close()
    conn = open_db(db_file)
    try:
        assert migrations.migrate(conn) == []
        assert migrations.applied_migrations(conn) == NAMES
    finally:
        conn.close()


@pytest.mark.parametrize("upto", range(1, len(NAMES)))
def test_migrate_from_each_earlier_version(tmp_path: Path, upto: int) -> None:
    path = tmp_path / "old.sqlite3"
    conn = _db_at_version(path, upto)
    try:
        assert migrations.applied_migrations(conn) == NAMES[:upto]
        # Data as that version could hold it: columns of 0001 only.
        conn.execute(
            "INSERT INTO sessions (id, created_at, updated_at, model, status) "
            "VALUES ('a' || hex(randomblob(15)) || 'b', 1.0, 2.0, 'gpt-realtime', 'ended')"
        )
        sid = conn.execute("SELECT id FROM sessions").fetchone()[0]
        conn.execute(
            "INSERT INTO items (session_id, local_id, seq, role, kind, audio_ms, transcript) "
            "VALUES (?, 'u0', 0, 'user', 'user_audio', 500, 'old words')",
            (sid,),
        )
        conn.execute(
            "INSERT INTO turns (session_id, response_id, turn_index, status, started_at, "
            "duration_ms, input_tokens) VALUES (?, 'r0', 0, 'completed', 1.0, 10, 42)",
            (sid,),
        )
    finally:
        conn.close()
    conn = open_db(path)
    try:
        assert migrations.applied_migrations(conn) == NAMES
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(NAMES)
        row = conn.execute(
            "SELECT turns, input_tokens, user_audio_ms, status FROM sessions WHERE id = ?", (sid,)
        ).fetchone()
        assert tuple(row) == (1, 42, 500.0, "ended")
        assert {"owner_pid", "heartbeat_at"} <= _columns(conn, "sessions")
        assert {"cached_audio_tokens", "output_audio_tokens"} <= _columns(conn, "turns")
        assert conn.execute("SELECT transcript FROM items").fetchone()[0] == "old words"
        assert integrity_ok(conn)
    finally:
        conn.close()


def test_newer_database_is_refused_untouched(db_file: Path) -> None:
    make_session(db_file)
    conn = open_db(db_file)
    conn.execute("INSERT INTO rt_migrations VALUES ('0999_from_the_future', 0)")
    conn.execute(f"PRAGMA user_version = {len(NAMES) + 1}")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = hashlib.sha256(db_file.read_bytes()).hexdigest()
    with pytest.raises(SchemaTooNewError) as info:
        open_db(db_file)
    message = str(info.value)
    assert "\n" not in message and "newer rt" in message and "0999_from_the_future" in message
    assert hashlib.sha256(db_file.read_bytes()).hexdigest() == before


def test_newer_user_version_alone_is_refused(db_file: Path) -> None:
    open_db(db_file).close()
    conn = connect(db_file)
    conn.execute(f"PRAGMA user_version = {len(NAMES) + 5}")
    conn.close()
    with pytest.raises(SchemaTooNewError):
        open_db(db_file)


def test_migrations_apply_in_registration_order() -> None:
    calls: list[str] = []
    reg = [
        migrations.Migration("b_second_by_name", lambda c: calls.append("b")),
        migrations.Migration("a_first_by_name", lambda c: calls.append("a")),
    ]
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        assert migrations.migrate(conn, reg) == ["b_second_by_name", "a_first_by_name"]
        assert calls == ["b", "a"]
    finally:
        conn.close()


def test_failed_migration_rolls_back_and_records_nothing() -> None:
    def broken(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE half (x)")
        raise RuntimeError("boom")

    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        with pytest.raises(RuntimeError):
            migrations.migrate(conn, [migrations.Migration("broken", broken)])
        assert "half" not in _tables(conn)
        assert migrations.applied_migrations(conn) == []
    finally:
        conn.close()


def test_a_file_that_is_not_a_database(db_file: Path) -> None:
    db_file.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError) as info:
        open_db(db_file)
    assert "\n" not in str(info.value) and str(db_file) in str(info.value)
