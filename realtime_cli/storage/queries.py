"""Reads: resolve an id prefix, list sessions, load one for show/export/resume, delete.

Every function takes an open connection except `load_session`, which opens the database itself
for `rt resume`. Stored rows come back as the same record types the core journals, so a resumed
session sees exactly what it wrote.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realtime_cli.core.records import (
    ConnectionRecord,
    InterruptionRecord,
    ItemKind,
    ItemRecord,
    SessionFigures,
    TurnRecord,
)
from realtime_cli.errors import StorageError, UnknownSessionError
from realtime_cli.storage.db import atomic, open_db
from realtime_cli.usage import TOKEN_FIELDS, TokenUsage, TranscriptionUsage

SHORT_ID = 8
_MAX_CANDIDATES = 5
_GLOB_SPECIAL = set("*?[]")


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSummary:
    """One row of `rt sessions list`: the turn counts and interruptions are the core's figures
    (`SessionFigures`), the audio and token totals are kept by triggers (see migrations.py)."""

    id: str
    created_at: float
    updated_at: float
    ended_at: float | None
    title: str | None
    model: str
    voice: str
    status: str
    end_reason: str | None
    user_turns: int
    assistant_turns: int
    tool_calls: int
    interruptions: int
    responses: int  # the responses stored (rows of `turns`), whatever they said
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    user_audio_ms: float
    assistant_audio_ms: float

    @property
    def short_id(self) -> str:
        return self.id[:SHORT_ID]

    @property
    def duration_s(self) -> float:
        end = self.ended_at if self.ended_at is not None else self.updated_at
        return max(0.0, end - self.created_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "short_id": self.short_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "ended_at": self.ended_at,
            "duration_s": round(self.duration_s, 3),
            "title": self.title,
            "model": self.model,
            "voice": self.voice,
            "status": self.status,
            "end_reason": self.end_reason,
            "user_turns": self.user_turns,
            "assistant_turns": self.assistant_turns,
            "tool_calls": self.tool_calls,
            "interruptions": self.interruptions,
            "responses": self.responses,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "user_audio_ms": self.user_audio_ms,
            "assistant_audio_ms": self.assistant_audio_ms,
        }


STATUS = "CASE WHEN failed THEN 'failed' ELSE status END AS status"  # see migration 0006


def _items_of(kinds: str, count: str = "COUNT(*)") -> str:
    return f"(SELECT {count} FROM items i WHERE i.session_id = s.id AND i.kind IN {kinds})"


_USER_ITEMS = _items_of("('user_audio', 'user_text')")
_ANSWERS = _items_of("('assistant')", "COUNT(DISTINCT i.response_id)")
_TOOL_CALL_ITEMS = _items_of("('tool_call')")
# Each count is the core's figure (table session_figures, LEFT JOINed as `f`). A session stored
# before the figures were (no row in session_figures) falls back to what its items and columns
# allow: one user item per utterance or typed message, one assistant turn per response with an
# assistant item, one item per tool call, and the interruptions its trigger counted. COALESCE
# evaluates its arguments lazily, so a session with figures never runs the item subqueries.
TURN_FIGURES = (
    f"COALESCE(f.user_turns, {_USER_ITEMS}) AS user_turns, "
    f"COALESCE(f.assistant_turns, {_ANSWERS}) AS assistant_turns, "
    f"COALESCE(f.tool_calls, {_TOOL_CALL_ITEMS}) AS tool_calls, "
    "COALESCE(f.speech_overlaps + f.cancel_requests + f.manual_cancels, s.interruptions) "
    "AS interruptions"
)
FIGURES_JOIN = "sessions s LEFT JOIN session_figures f ON f.session_id = s.id"
_SUMMARY_COLUMNS = (
    "s.id, s.created_at, s.updated_at, s.ended_at, s.title, s.model, s.voice, "
    f"{STATUS}, s.end_reason, {TURN_FIGURES}, s.turns AS responses, "
    "s.input_tokens, s.output_tokens, s.cached_tokens, s.user_audio_ms, s.assistant_audio_ms"
)


def _row(row: sqlite3.Row) -> dict[str, Any]:
    return {k: row[k] for k in row.keys()}


def _summary(row: sqlite3.Row) -> SessionSummary:
    return SessionSummary(**_row(row))


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSession:
    """A stored session as `rt resume` needs it (and `rt sessions show` builds on it)."""

    id: str
    created_at: float
    status: str
    title: str | None
    model: str
    voice: str
    instructions: str
    config: dict[str, Any]
    items: tuple[ItemRecord, ...]  # in seq order; audio only when loaded with_audio
    next_seq: int
    connection_count: int
    turn_count: int
    end_reason: str | None = None
    figures: SessionFigures | None = None  # what the runs so far counted, for the next to go on

    @property
    def short_id(self) -> str:
        return self.id[:SHORT_ID]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDetail:
    """Everything `rt sessions show` and the exports display."""

    summary: SessionSummary
    instructions: str
    config: dict[str, Any]
    items: tuple[ItemRecord, ...]
    audio_bytes: dict[str, int] = field(default_factory=dict)  # local_id -> stored PCM bytes
    turns: tuple[TurnRecord, ...] = ()
    interruptions: tuple[InterruptionRecord, ...] = ()
    connections: tuple[ConnectionRecord, ...] = ()
    figures: SessionFigures | None = None  # the core's figures; None for older sessions


def resolve_session_id(conn: sqlite3.Connection, id_or_prefix: str) -> str:
    """The full id of the one session whose id starts with `id_or_prefix` (like git).

    UnknownSessionError (one line, up to five candidates) when none or several match.
    """
    text = id_or_prefix.strip().lower()
    if not text or _GLOB_SPECIAL & set(text):
        raise UnknownSessionError(f"no session matches {id_or_prefix!r}")
    if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (text,)).fetchone():
        return text
    rows = conn.execute(
        "SELECT id FROM sessions WHERE id GLOB ? ORDER BY created_at DESC LIMIT ?",
        (text + "*", _MAX_CANDIDATES + 1),
    ).fetchall()
    ids = [str(r[0]) for r in rows]
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise UnknownSessionError(
            f"no session matches {id_or_prefix!r} (see `rt sessions list`)"
        )
    shown = ", ".join(_distinct_prefixes(ids[:_MAX_CANDIDATES]))
    more = ", …" if len(ids) > _MAX_CANDIDATES else ""
    raise UnknownSessionError(f"{id_or_prefix!r} is ambiguous: {shown}{more}")


def _distinct_prefixes(ids: list[str]) -> list[str]:
    """The shortest prefixes (at least SHORT_ID chars) that tell these ids apart."""
    width = SHORT_ID
    while width < max(len(i) for i in ids) and len({i[:width] for i in ids}) < len(ids):
        width += 1
    return [i[:width] for i in ids]


def list_sessions(conn: sqlite3.Connection, limit: int | None = 20) -> list[SessionSummary]:
    """Newest first; `limit=None` for all."""
    rows = conn.execute(
        f"SELECT {_SUMMARY_COLUMNS} FROM {FIGURES_JOIN} ORDER BY s.created_at DESC, s.id LIMIT ?",
        (-1 if limit is None else max(0, limit),),
    ).fetchall()
    return [_summary(r) for r in rows]


def get_summary(conn: sqlite3.Connection, session_id: str) -> SessionSummary:
    row = conn.execute(
        f"SELECT {_SUMMARY_COLUMNS} FROM {FIGURES_JOIN} WHERE s.id = ?", (session_id,)
    ).fetchone()
    if row is None:
        raise UnknownSessionError(f"no session {session_id}")
    return _summary(row)


_ITEM_COLUMNS = (
    "local_id, seq, kind, role, server_id, status, transcript, heard_text, truncated, "
    "audio_end_ms, audio_ms, call_id, name, arguments, output, response_id, created_at, "
    "completed_at, input_tokens, output_tokens"
)


def load_items(
    conn: sqlite3.Connection, session_id: str, *, with_audio: bool = False
) -> list[ItemRecord]:
    audio_col = ", a.pcm AS audio" if with_audio else ""
    join = (
        "LEFT JOIN item_audio a ON a.session_id = i.session_id AND a.local_id = i.local_id"
        if with_audio
        else ""
    )
    cols = ", ".join(f"i.{c}" for c in _ITEM_COLUMNS.split(", "))
    rows = conn.execute(
        f"SELECT {cols}{audio_col} FROM items i {join} WHERE i.session_id = ? ORDER BY i.seq",
        (session_id,),
    ).fetchall()
    items = []
    for r in rows:
        values = _row(r)
        values["kind"] = ItemKind(values["kind"])
        values["truncated"] = bool(values["truncated"])
        if with_audio and values["audio"] is not None:
            values["audio"] = bytes(values["audio"])
        items.append(ItemRecord(session_id=session_id, **values))
    return items


def load_detail(conn: sqlite3.Connection, session_id: str) -> SessionDetail:
    summary = get_summary(conn, session_id)
    extra = conn.execute(
        "SELECT instructions, config_json FROM sessions WHERE id = ?", (session_id,)
    ).fetchone()
    audio = conn.execute(
        "SELECT local_id, length(pcm) FROM item_audio WHERE session_id = ?", (session_id,)
    ).fetchall()
    return SessionDetail(
        summary=summary,
        instructions=extra["instructions"],
        config=_config(extra["config_json"]),
        items=tuple(load_items(conn, session_id)),
        audio_bytes={str(r[0]): int(r[1]) for r in audio},
        turns=tuple(_turns(conn, session_id)),
        interruptions=tuple(_interruptions(conn, session_id)),
        connections=tuple(_connections(conn, session_id)),
        figures=_figures(conn, session_id),
    )


def _figures(conn: sqlite3.Connection, session_id: str) -> SessionFigures | None:
    row = conn.execute("SELECT * FROM session_figures WHERE session_id = ?",
                       (session_id,)).fetchone()
    if row is None:
        return None
    values = _row(row)
    tokens = {k: values.pop(f"transcription_{k}") for k in TOKEN_FIELDS}
    seconds = values.pop("transcription_seconds")
    return SessionFigures(**values, transcription=TranscriptionUsage(
        tokens=TokenUsage.from_mapping(tokens), seconds=seconds))


def _config(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_TURN_COLUMNS = ("response_id", "turn_index", "status", "started_at", "duration_ms", "latency_ms",
                 "interrupted", "error", *TOKEN_FIELDS)


def _turns(conn: sqlite3.Connection, session_id: str) -> list[TurnRecord]:
    rows = conn.execute(
        f"""SELECT {", ".join(_TURN_COLUMNS)}
           FROM turns WHERE session_id = ? ORDER BY turn_index, started_at""",
        (session_id,),
    ).fetchall()
    out = []
    for r in rows:
        values = {k: r[k] for k in _TURN_COLUMNS if k not in TOKEN_FIELDS}
        values["interrupted"] = bool(values["interrupted"])
        out.append(TurnRecord(session_id=session_id, usage=TokenUsage.from_mapping(_row(r)),
                              **values))
    return out


def _interruptions(conn: sqlite3.Connection, session_id: str) -> list[InterruptionRecord]:
    rows = conn.execute(
        """SELECT item_local_id, kind, at, position_ms, heard_chars, user_text
           FROM interruptions WHERE session_id = ? ORDER BY at, id""",
        (session_id,),
    ).fetchall()
    return [InterruptionRecord(session_id=session_id, **_row(r)) for r in rows]


def _connections(conn: sqlite3.Connection, session_id: str) -> list[ConnectionRecord]:
    rows = conn.execute(
        """SELECT idx AS "index", reason, opened_at, server_session_id, expires_at, closed_at,
               close_code, close_reason
           FROM connections WHERE session_id = ? ORDER BY idx""",
        (session_id,),
    ).fetchall()
    return [ConnectionRecord(session_id=session_id, **_row(r)) for r in rows]


def load_session(
    db_path: str | os.PathLike[str], id_or_prefix: str, *, with_audio: bool = False
) -> StoredSession:
    """A stored session for `rt resume`: config, items in order, the next free seq.

    Raises UnknownSessionError for an unknown or ambiguous id, StorageError otherwise.
    """
    if not Path(db_path).exists():
        raise UnknownSessionError(f"no session matches {id_or_prefix!r} (no sessions stored)")
    conn = open_db(db_path)
    try:
        session_id = resolve_session_id(conn, id_or_prefix)
        row = conn.execute(
            f"""SELECT id, created_at, {STATUS}, title, model, voice, instructions, config_json,
                   end_reason, turns,
                   (SELECT COALESCE(MAX(seq) + 1, 0) FROM items WHERE session_id = s.id)
                       AS next_seq,
                   (SELECT COUNT(*) FROM connections WHERE session_id = s.id) AS connections
               FROM sessions s WHERE id = ?""",
            (session_id,),
        ).fetchone()
        items = load_items(conn, session_id, with_audio=with_audio)
        figures = _figures(conn, session_id)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read session {id_or_prefix}: {exc}") from None
    finally:
        conn.close()
    return StoredSession(
        id=row["id"],
        created_at=row["created_at"],
        status=row["status"],
        title=row["title"],
        model=row["model"],
        voice=row["voice"],
        instructions=row["instructions"],
        config=_config(row["config_json"]),
        items=tuple(items),
        next_seq=int(row["next_seq"]),
        connection_count=int(row["connections"]),
        turn_count=int(row["turns"]),
        end_reason=row["end_reason"],
        figures=figures,
    )


def delete_sessions(conn: sqlite3.Connection, session_ids: list[str]) -> int:
    """Delete sessions with everything they own; returns how many rows went."""
    with atomic(conn):
        deleted = 0
        for sid in session_ids:
            deleted += conn.execute("DELETE FROM sessions WHERE id = ?", (sid,)).rowcount
    try:
        conn.execute("PRAGMA incremental_vacuum").fetchall()  # give the audio's pages back to the disk
    except sqlite3.Error:
        pass  # space reuse is a nicety; the delete itself is done
    return deleted
