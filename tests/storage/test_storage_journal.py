from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from realtime_cli.clock import ManualClock
from realtime_cli.core.records import (
    ConnectionRecord,
    InterruptionRecord,
    ItemKind,
    ItemRecord,
    SessionEnded,
    SessionStarted,
    SessionStatus,
    TurnRecord,
)
from realtime_cli.errors import StorageError
from realtime_cli.storage import liveness
from realtime_cli.storage.db import open_db
from realtime_cli.storage.journal import JournalWriter
from realtime_cli.storage.queries import load_items
from realtime_cli.usage import TokenUsage, TranscriptionUsage

from .synth import new_id, pcm, session_records


def _started(sid: str) -> SessionStarted:
    return SessionStarted(
        session_id=sid, created_at=100.0, model="gpt-realtime", voice="marin",
        instructions="hi", config={},
    )


def _item(sid: str, **kw: object) -> ItemRecord:
    base: dict[str, object] = dict(
        session_id=sid, local_id="a0", seq=1, kind=ItemKind.ASSISTANT, role="assistant"
    )
    base.update(kw)
    return ItemRecord(**base)  # type: ignore[arg-type]


def _row(db_file: Path, sql: str, *args: object) -> sqlite3.Row:
    conn = open_db(db_file)
    try:
        row: sqlite3.Row = conn.execute(sql, args).fetchone()
        return row
    finally:
        conn.close()


@pytest.fixture
def writer(db_file: Path) -> Iterator[JournalWriter]:
    w = JournalWriter(db_file)
    yield w
    w.close()


def test_item_upsert_fills_in_and_never_erases(db_file: Path, writer: JournalWriter) -> None:
    sid = new_id()
    writer.submit(_started(sid))
    writer.submit(
        _item(sid, server_id="item_1", created_at=101.0, audio_ms=2000, audio=pcm(2000),
              output_tokens=7, status="in_progress")
    )
    writer.submit(_item(sid, transcript="Sure, the weather is fine."))
    writer.submit(_item(sid, truncated=True, heard_text="Sure, the", audio_end_ms=800,
                        audio=pcm(800)))
    writer.submit(_item(sid, transcript="Sure, the weather is fine today."))  # late, untruncated
    writer.flush(5)
    conn = open_db(db_file)
    try:
        (item,) = load_items(conn, sid, with_audio=True)
    finally:
        conn.close()
    assert item.server_id == "item_1"
    assert item.transcript == "Sure, the weather is fine today."
    assert item.heard_text == "Sure, the"
    assert item.truncated is True  # a later default False does not undo the cut
    assert item.audio_end_ms == 800
    assert item.audio_ms == 2000
    assert item.created_at == 101.0
    assert item.output_tokens == 7
    assert item.status == "completed"
    assert item.audio is not None and len(item.audio) == 800 * 48


def test_audio_replaced_only_when_given_and_skipped_when_off(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    sid = new_id()
    with JournalWriter(db) as w:
        w.submit(_started(sid))
        w.submit(_item(sid, audio=pcm(100)))
        w.submit(_item(sid, transcript="no audio in this one"))
    assert _row(db, "SELECT length(pcm) FROM item_audio")[0] == 100 * 48
    db2 = tmp_path / "b.sqlite3"
    with JournalWriter(db2, keep_audio=False) as w:
        w.submit(_started(sid))
        w.submit(_item(sid, audio=pcm(100), transcript="kept"))
    assert _row(db2, "SELECT COUNT(*) FROM item_audio")[0] == 0
    assert _row(db2, "SELECT transcript FROM items")[0] == "kept"


def test_totals_title_and_idempotent_rewrites(db_file: Path, writer: JournalWriter) -> None:
    records = session_records(turns=3)
    for r in records:
        writer.submit(r)
    for r in records:  # the same records again: upserts, no double counting
        if not isinstance(r, SessionStarted | SessionEnded):
            writer.submit(r)
    writer.flush(5)
    sid = records[0].session_id
    row = _row(
        db_file,
        "SELECT turns, interruptions, input_tokens, output_tokens, cached_tokens, "
        "user_audio_ms, assistant_audio_ms, title, status, end_reason FROM sessions WHERE id = ?",
        sid,
    )
    assert tuple(row) == (
        3,  # turns
        1,  # interruptions
        3000,  # input tokens
        1500,  # output tokens
        600,  # cached tokens
        3000.0,  # user audio: 3 x 1000 ms
        2000 + 2000 + 1240.0,  # assistant audio as heard: the last one cut at 1240 ms
        "Hello there, tell me about the weather in Paris",
        "ended",
        "user quit",
    )


def test_turn_rewrite_adjusts_token_totals(db_file: Path, writer: JournalWriter) -> None:
    sid = new_id()
    writer.submit(_started(sid))
    common = dict(session_id=sid, response_id="r", turn_index=0, started_at=1.0)
    writer.submit(
        TurnRecord(
            **common,  # type: ignore[arg-type]
            status="in_progress",
            duration_ms=0.0,
            latency_ms=250.0,
            usage=TokenUsage(input_tokens=10),
        )
    )
    writer.submit(
        TurnRecord(
            **common,  # type: ignore[arg-type]
            status="completed",
            duration_ms=900.0,
            latency_ms=None,  # not known again: keeps 250
            usage=TokenUsage(input_tokens=30, output_tokens=5),
        )
    )
    writer.flush(5)
    assert tuple(_row(db_file, "SELECT turns, input_tokens, output_tokens FROM sessions")) == (
        1, 30, 5)
    assert tuple(_row(db_file, "SELECT status, latency_ms FROM turns")) == ("completed", 250.0)


def test_a_failed_turn_keeps_its_error(db_file: Path, writer: JournalWriter) -> None:
    from realtime_cli.storage.queries import load_detail

    sid = new_id()
    writer.submit(_started(sid))
    writer.submit(TurnRecord(session_id=sid, response_id="r", turn_index=1, started_at=1.0,
                             status="failed", duration_ms=40.0, latency_ms=None,
                             error="rate_limit_exceeded: Rate limit reached for requests"))
    writer.flush(5)
    conn = open_db(db_file)
    try:
        [turn] = load_detail(conn, sid).turns
    finally:
        conn.close()
    assert (turn.status, turn.error) == ("failed", "rate_limit_exceeded: Rate limit reached for requests")


def test_figures_are_kept_and_a_failed_session_is_listed_as_failed(
        db_file: Path, writer: JournalWriter) -> None:
    from realtime_cli.core.records import SessionFigures
    from realtime_cli.storage.queries import list_sessions, load_detail

    sid = new_id()
    writer.submit(_started(sid))
    writer.submit(SessionFigures(session_id=sid, user_turns=1, assistant_turns=1))
    final = SessionFigures(session_id=sid, user_turns=2, assistant_turns=2, tool_calls=1,
                           manual_cancels=1, heard_fraction=0.25, errors=1, idle_s=3.5,
                           audio_heard_ms=1500.0, last_activity_at=120.0,
                           transcription=TranscriptionUsage(
                               tokens=TokenUsage(input_tokens=40, input_audio_tokens=40,
                                                 output_tokens=9, output_text_tokens=9),
                               seconds=2.5))
    writer.submit(final)
    writer.submit(SessionEnded(session_id=sid, ended_at=130.0, status=SessionStatus.FAILED,
                               reason="the answer failed: quota (insufficient_quota)"))
    writer.flush(5)
    conn = open_db(db_file)
    try:
        detail = load_detail(conn, sid)
        [listed] = list_sessions(conn)
    finally:
        conn.close()
    assert detail.figures == final
    assert (listed.status, listed.end_reason) == (
        "failed", "the answer failed: quota (insufficient_quota)")


def test_connection_upsert_keeps_earlier_fields(db_file: Path, writer: JournalWriter) -> None:
    sid = new_id()
    writer.submit(_started(sid))
    writer.submit(ConnectionRecord(session_id=sid, index=0, reason="initial", opened_at=1.0,
                                   server_session_id="sess_x", expires_at=3601.0))
    writer.submit(ConnectionRecord(session_id=sid, index=0, reason="initial", opened_at=1.0,
                                   closed_at=50.0, close_code=1000))
    writer.submit(ConnectionRecord(session_id=sid, index=1, reason="reconnect", opened_at=51.0))
    writer.flush(5)
    row = _row(db_file, "SELECT server_session_id, expires_at, closed_at, close_code "
                        "FROM connections WHERE idx = 0")
    assert tuple(row) == ("sess_x", 3601.0, 50.0, 1000)
    assert _row(db_file, "SELECT COUNT(*) FROM connections")[0] == 2


def test_interruption_is_idempotent(db_file: Path, writer: JournalWriter) -> None:
    sid = new_id()
    writer.submit(_started(sid))
    rec = InterruptionRecord(session_id=sid, item_local_id="a0", kind="speech_overlap", at=5.0,
                             position_ms=100, heard_chars=3)
    writer.submit(rec)
    writer.submit(rec)
    writer.flush(5)
    assert _row(db_file, "SELECT interruptions FROM sessions")[0] == 1


def test_a_later_record_of_the_same_interruption_rewrites_its_kind(
        db_file: Path, writer: JournalWriter) -> None:
    """A spoken "stop" is first journaled as speech over the assistant, then as what it was."""
    sid = new_id()
    writer.submit(_started(sid))
    rec = InterruptionRecord(session_id=sid, item_local_id="a0", kind="speech_overlap", at=5.0,
                             position_ms=100, heard_chars=3)
    writer.submit(rec)
    writer.submit(replace(rec, kind="cancel_request", user_text="stop"))
    writer.submit(rec.__class__(**{**asdict(rec), "kind": "cancel_request"}))  # idempotent too
    writer.flush(5)
    assert _row(db_file, "SELECT interruptions FROM sessions")[0] == 1
    assert tuple(_row(db_file, "SELECT kind, user_text FROM interruptions")) == (
        "cancel_request", "stop")


def test_errors_are_raised_on_flush_and_writing_goes_on(db_file: Path) -> None:
    w = JournalWriter(db_file)
    sid = new_id()
    w.submit(_item("f" * 32))  # no such session: a foreign key violation in the thread
    w.submit(_started(sid))
    w.submit(_item(sid, transcript="still written"))
    with pytest.raises(StorageError) as info:
        w.flush(5)
    assert "1 journal record(s) not saved" in str(info.value)
    assert "ItemRecord" in str(info.value) and "\n" not in str(info.value)
    w.flush(5)  # reported once
    w.submit(_item("e" * 32, local_id="x" * 40))  # id too long: CHECK constraint
    with pytest.raises(StorageError):
        w.close()
    assert _row(db_file, "SELECT transcript FROM items WHERE session_id = ?", sid)[0] == (
        "still written")


def test_submit_after_close_is_refused(db_file: Path) -> None:
    w = JournalWriter(db_file)
    w.close()
    w.close()  # twice is fine
    with pytest.raises(StorageError):
        w.submit(_started(new_id()))


def test_close_drains_everything_queued(db_file: Path) -> None:
    w = JournalWriter(db_file)
    sid = new_id()
    w.submit(_started(sid))
    for n in range(500):
        w.submit(_item(sid, local_id=f"i{n}", seq=n, transcript=str(n)))
    w.close()
    assert _row(db_file, "SELECT COUNT(*) FROM items")[0] == 500


def test_submit_never_waits_on_a_locked_database(db_file: Path) -> None:
    """Another process holding the write lock stalls the writer thread, not submit()."""
    w = JournalWriter(db_file)
    blocker = sqlite3.connect(db_file, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        sid = new_id()
        w.submit(_started(sid))
        for n in range(2000):
            w.submit(_item(sid, local_id=f"i{n}", seq=n, audio=pcm(20)))
        assert w.written == 0  # every submit returned while the writer waits on the lock
        with pytest.raises(StorageError, match="did not reach the disk"):
            w.flush(0.2)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    w.close()
    assert _row(db_file, "SELECT COUNT(*) FROM items")[0] == 2000


def test_heartbeat_refreshes_and_revives_own_session(db_file: Path, clock: ManualClock) -> None:
    w = JournalWriter(db_file, clock=clock)
    sid = new_id()

    def stored() -> tuple[str, float]:
        """The row as written, read without open_db (which would judge its liveness itself)."""
        with contextlib.closing(sqlite3.connect(db_file)) as conn:
            status, beat = conn.execute("SELECT status, heartbeat_at FROM sessions").fetchone()
        return str(status), float(beat)

    try:
        w.submit(_started(sid))
        w.flush(5)
        assert stored() == ("active", clock.wall())
        conn = open_db(db_file)
        try:
            conn.execute("UPDATE sessions SET status = 'crashed', heartbeat_at = 0")
        finally:
            conn.close()
        clock.advance(liveness.HEARTBEAT_S - 0.5)
        w.flush(5)
        assert stored() == ("crashed", 0.0)  # no heartbeat due yet
        clock.advance(0.5)
        w.flush(5)  # a heartbeat due before a flush is on disk when it returns
        assert stored() == ("active", clock.wall())
        clock.advance(liveness.HEARTBEAT_S)
        w.flush(5)
        assert stored() == ("active", clock.wall())
    finally:
        w.close()


def test_session_end_and_resume_restart(db_file: Path, writer: JournalWriter) -> None:
    sid = new_id()
    writer.submit(_started(sid))
    writer.submit(SessionEnded(session_id=sid, ended_at=200.0, status=SessionStatus.ENDED,
                               reason="quit"))
    writer.flush(5)
    assert tuple(_row(db_file, "SELECT status, ended_at FROM sessions")) == ("ended", 200.0)
    writer.submit(SessionStarted(session_id=sid, created_at=999.0, model="gpt-realtime-mini",
                                 voice="marin", instructions="x", config={}, resumed=True))
    writer.flush(5)
    row = _row(db_file, "SELECT status, ended_at, created_at, model, owner_pid FROM sessions")
    assert tuple(row)[:4] == ("active", None, 100.0, "gpt-realtime-mini")
    assert liveness.pid_alive(row["owner_pid"])
