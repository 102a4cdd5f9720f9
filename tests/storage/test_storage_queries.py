from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from realtime_cli.core.records import ItemKind
from realtime_cli.errors import UnknownSessionError
from realtime_cli.storage.queries import (
    delete_sessions,
    list_sessions,
    load_detail,
    load_session,
    resolve_session_id,
)

from .synth import make_session, pcm


def test_prefix_unique_ambiguous_unknown(db_file: Path, conn: sqlite3.Connection) -> None:
    a = make_session(db_file, session_id="abcdef01" + "0" * 24)
    b = make_session(db_file, session_id="abcdef01" + "1" * 24)
    c = make_session(db_file, session_id="12345678" + "2" * 24)
    assert resolve_session_id(conn, c) == c
    assert resolve_session_id(conn, "1234") == c
    assert resolve_session_id(conn, "ABCDEF010") == a  # case-insensitive
    assert resolve_session_id(conn, "abcdef011") == b
    with pytest.raises(UnknownSessionError) as info:
        resolve_session_id(conn, "abcd")
    msg = str(info.value)
    assert "ambiguous" in msg and "\n" not in msg
    assert "abcdef010" in msg and "abcdef011" in msg  # long enough to tell them apart
    for bad in ("ffff", "", "*", "abc[d]"):
        with pytest.raises(UnknownSessionError):
            resolve_session_id(conn, bad)


def test_ambiguity_lists_at_most_five(db_file: Path, conn: sqlite3.Connection) -> None:
    for n in range(8):
        make_session(db_file, session_id=f"aa{n:030x}")
    with pytest.raises(UnknownSessionError) as info:
        resolve_session_id(conn, "aa")
    assert str(info.value).count(", ") == 5  # five ids then an ellipsis


def test_list_newest_first_with_limit(db_file: Path, conn: sqlite3.Connection) -> None:
    ids = [make_session(db_file, created_at=1_800_000_000 + n) for n in range(5)]
    rows = list_sessions(conn, limit=3)
    assert [r.id for r in rows] == ids[::-1][:3]
    assert len(list_sessions(conn, limit=None)) == 5
    assert rows[0].duration_s == 60.0 and rows[0].status == "ended"


def test_load_session_for_resume(db_file: Path) -> None:
    sid = make_session(db_file, turns=2)
    stored = load_session(db_file, sid[:6])
    assert stored.id == sid
    assert (stored.model, stored.voice, stored.instructions) == ("gpt-realtime", "marin", "Be brief.")
    assert stored.config == {"model": "gpt-realtime", "voice": "marin"}  # the key was scrubbed
    assert [i.local_id for i in stored.items] == ["u0", "a0", "u1", "a1"]
    assert [i.kind for i in stored.items] == [ItemKind.USER_AUDIO, ItemKind.ASSISTANT] * 2
    assert stored.items[-1].truncated and stored.items[-1].heard_text == "Sure, the weather"
    assert all(i.audio is None for i in stored.items)
    assert stored.next_seq == 4
    assert stored.connection_count == 1 and stored.turn_count == 2
    with_audio = load_session(db_file, sid, with_audio=True)
    assert with_audio.items[0].audio == pcm(1000, 100)


def test_load_session_unknown(tmp_path: Path, db_file: Path) -> None:
    with pytest.raises(UnknownSessionError):
        load_session(tmp_path / "missing.sqlite3", "abc")
    make_session(db_file)
    with pytest.raises(UnknownSessionError):
        load_session(db_file, "zzzz")


def test_detail_and_delete_cascade(db_file: Path, conn: sqlite3.Connection) -> None:
    keep = make_session(db_file)
    gone = make_session(db_file)
    detail = load_detail(conn, gone)
    assert len(detail.items) == 4 and len(detail.turns) == 2
    assert len(detail.interruptions) == 1 and len(detail.connections) == 1
    assert detail.audio_bytes["a1"] == 1240 * 48
    assert delete_sessions(conn, [gone]) == 1
    for table in ("items", "item_audio", "turns", "interruptions", "connections"):
        n = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE session_id = ?", (gone,)).fetchone()
        assert n[0] == 0, table
    assert conn.execute("SELECT COUNT(*) FROM items WHERE session_id = ?", (keep,)).fetchone()[0]
