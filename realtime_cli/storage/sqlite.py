"""How each journal record becomes rows: the SQL the writer thread runs, one record at a time.

`apply_record(conn, record)` does not open a transaction; the caller wraps it (the journal writer
runs one `BEGIN IMMEDIATE`/`COMMIT` per record, bulk loaders may group many). Upsert rules:

- ItemRecord is keyed by (session_id, local_id). A later record fills in fields: a None field
  (and a zero `audio_ms`, `created_at` or token count) keeps the stored value, `truncated`
  never goes back to false, and stored audio is replaced only when the record carries audio.
- ConnectionRecord is keyed by (session_id, index), with the same None-keeps rule.
- TurnRecord is keyed by (session_id, response_id); the later record wins.
- InterruptionRecord is idempotent on (session_id, item, kind, at).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sqlite3
import time
from typing import Any, TypeVar, cast

from realtime_cli.core.records import (
    ConnectionRecord,
    InterruptionRecord,
    ItemRecord,
    JournalRecord,
    SessionEnded,
    SessionFigures,
    SessionStarted,
    SessionStatus,
    TurnRecord,
)
from realtime_cli.secrets_policy import scrub_secrets
from realtime_cli.storage.liveness import this_host
from realtime_cli.text import without_lone_surrogates
from realtime_cli.usage import TOKEN_FIELDS, TokenUsage

TITLE_CHARS = 60


def config_json(config: dict[str, Any]) -> str:
    return without_lone_surrogates(
        json.dumps(scrub_secrets(config), sort_keys=True, default=str, ensure_ascii=False))


def make_title(text: str, limit: int = TITLE_CHARS) -> str:
    """The first words of `text`, at most `limit` characters, cut at a word boundary."""
    words = " ".join(text.split())
    if len(words) <= limit:
        return words
    cut = words[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"


class Owner:
    """The process writing: recorded on sessions it starts, for crash detection."""

    def __init__(self, pid: int | None = None, host: str | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.host = this_host() if host is None else host


_INT64 = (-(2**63), 2**63 - 1)


def _storable_value(value: Any) -> Any:
    """A field value SQLite takes: text without lone surrogates, integers within 64 bits
    (clamped), finite reals (else 0.0). A server's absurd number is kept as absurd, not lost."""
    if isinstance(value, str):
        return without_lone_surrogates(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return min(max(value, _INT64[0]), _INT64[1])
    if isinstance(value, float) and not math.isfinite(value):
        return 0.0
    if isinstance(value, TokenUsage):
        return _storable(value)
    return value


_Fields = TypeVar("_Fields", JournalRecord, TokenUsage)


def _storable(record: _Fields) -> _Fields:
    changes = {
        f.name: new
        for f in dataclasses.fields(record)
        if (new := _storable_value(old := getattr(record, f.name))) is not old
    }
    if not changes:
        return record
    storable: _Fields = dataclasses.replace(cast(Any, record), **changes)
    return storable


def apply_record(
    conn: sqlite3.Connection,
    record: JournalRecord,
    *,
    keep_audio: bool = True,
    owner: Owner | None = None,
    now: float | None = None,
) -> None:
    """Write one record (inside the caller's transaction)."""
    now = time.time() if now is None else now
    record = _storable(record)
    if isinstance(record, ItemRecord):
        _item(conn, record, keep_audio)
    elif isinstance(record, SessionStarted):
        _session_started(conn, record, owner or Owner(), now)
        return
    elif isinstance(record, TurnRecord):
        _turn(conn, record)
    elif isinstance(record, InterruptionRecord):
        _interruption(conn, record)
    elif isinstance(record, ConnectionRecord):
        _connection(conn, record)
    elif isinstance(record, SessionFigures):
        _figures(conn, record)
    elif isinstance(record, SessionEnded):
        _session_ended(conn, record, now)
        return
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"not a journal record: {type(record).__name__}")
    conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, record.session_id))


def _session_started(conn: sqlite3.Connection, r: SessionStarted, owner: Owner, now: float) -> None:
    conn.execute(
        """INSERT INTO sessions (id, created_at, updated_at, model, voice, instructions,
               config_json, status, owner_pid, owner_host, heartbeat_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET
               updated_at = excluded.updated_at, model = excluded.model,
               voice = excluded.voice, instructions = excluded.instructions,
               config_json = excluded.config_json, status = 'active', end_reason = NULL,
               ended_at = NULL, owner_pid = excluded.owner_pid,
               owner_host = excluded.owner_host, heartbeat_at = excluded.heartbeat_at""",
        (
            r.session_id,
            r.created_at,
            now,
            r.model,
            r.voice,
            r.instructions,
            config_json(r.config),
            owner.pid,
            owner.host,
            now,
        ),
    )


def _session_ended(conn: sqlite3.Connection, r: SessionEnded, now: float) -> None:
    failed = r.status is SessionStatus.FAILED
    status = SessionStatus.ENDED if failed else r.status
    conn.execute(
        """UPDATE sessions SET status = ?, failed = ?, end_reason = ?, ended_at = ?,
               updated_at = ? WHERE id = ?""",
        (str(status), int(failed), r.reason, r.ended_at, now, r.session_id),
    )


FIGURE_COLUMNS = (
    *(f.name for f in dataclasses.fields(SessionFigures) if f.name != "transcription"),
    "transcription_seconds", *(f"transcription_{c}" for c in TOKEN_FIELDS),
)
_FIGURES_SQL = f"""
INSERT INTO session_figures ({", ".join(FIGURE_COLUMNS)})
VALUES ({", ".join(f":{c}" for c in FIGURE_COLUMNS)})
ON CONFLICT (session_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in FIGURE_COLUMNS if c != "session_id")}
"""


def figure_row(r: SessionFigures) -> dict[str, Any]:
    """The flat row of `session_figures`: the transcription's usage as prefixed columns."""
    row = {f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name != "transcription"}
    row["transcription_seconds"] = r.transcription.seconds
    row.update({f"transcription_{k}": v for k, v in r.transcription.tokens.as_dict().items()})
    return row


def _figures(conn: sqlite3.Connection, r: SessionFigures) -> None:
    conn.execute(_FIGURES_SQL, figure_row(r))


_ITEM_SQL = """
INSERT INTO items (session_id, local_id, seq, server_id, role, kind, status, transcript,
    heard_text, truncated, audio_end_ms, audio_ms, call_id, name, arguments, output,
    response_id, created_at, completed_at, input_tokens, output_tokens)
VALUES (:session_id, :local_id, :seq, :server_id, :role, :kind, :status, :transcript,
    :heard_text, :truncated, :audio_end_ms, :audio_ms, :call_id, :name, :arguments, :output,
    :response_id, :created_at, :completed_at, :input_tokens, :output_tokens)
ON CONFLICT (session_id, local_id) DO UPDATE SET
    seq = excluded.seq,
    role = excluded.role,
    kind = excluded.kind,
    status = excluded.status,
    server_id = COALESCE(excluded.server_id, server_id),
    transcript = COALESCE(excluded.transcript, transcript),
    heard_text = COALESCE(excluded.heard_text, heard_text),
    truncated = MAX(truncated, excluded.truncated),
    audio_end_ms = COALESCE(excluded.audio_end_ms, audio_end_ms),
    audio_ms = CASE WHEN excluded.audio_ms > 0 THEN excluded.audio_ms ELSE audio_ms END,
    call_id = COALESCE(excluded.call_id, call_id),
    name = COALESCE(excluded.name, name),
    arguments = COALESCE(excluded.arguments, arguments),
    output = COALESCE(excluded.output, output),
    response_id = COALESCE(excluded.response_id, response_id),
    created_at = CASE WHEN created_at > 0 THEN created_at ELSE excluded.created_at END,
    completed_at = COALESCE(excluded.completed_at, completed_at),
    input_tokens = CASE WHEN excluded.input_tokens != 0
        THEN excluded.input_tokens ELSE input_tokens END,
    output_tokens = CASE WHEN excluded.output_tokens != 0
        THEN excluded.output_tokens ELSE output_tokens END
"""


def _item(conn: sqlite3.Connection, r: ItemRecord, keep_audio: bool) -> None:
    conn.execute(
        _ITEM_SQL,
        {
            "session_id": r.session_id,
            "local_id": r.local_id,
            "seq": r.seq,
            "server_id": r.server_id,
            "role": r.role,
            "kind": str(r.kind),
            "status": r.status,
            "transcript": r.transcript,
            "heard_text": r.heard_text,
            "truncated": int(r.truncated),
            "audio_end_ms": r.audio_end_ms,
            "audio_ms": r.audio_ms,
            "call_id": r.call_id,
            "name": r.name,
            "arguments": r.arguments,
            "output": r.output,
            "response_id": r.response_id,
            "created_at": r.created_at,
            "completed_at": r.completed_at,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
        },
    )
    if keep_audio and r.audio is not None:
        pcm = r.audio[: len(r.audio) - len(r.audio) % 2]
        conn.execute(
            """INSERT INTO item_audio (session_id, local_id, pcm) VALUES (?, ?, ?)
               ON CONFLICT (session_id, local_id) DO UPDATE SET pcm = excluded.pcm""",
            (r.session_id, r.local_id, pcm),
        )
    text = r.transcript or r.heard_text
    if r.role == "user" and text and text.strip():
        conn.execute(
            "UPDATE sessions SET title = ? WHERE id = ? AND title IS NULL",
            (make_title(text), r.session_id),
        )


_TURN_COLUMNS = (
    "session_id", "response_id", "turn_index", "status", "started_at", "duration_ms",
    "latency_ms", "interrupted", "error", *TOKEN_FIELDS,
)
_TURN_SQL = f"""
INSERT INTO turns ({", ".join(_TURN_COLUMNS)})
VALUES ({", ".join(f":{c}" for c in _TURN_COLUMNS)})
ON CONFLICT (session_id, response_id) DO UPDATE SET
    turn_index = excluded.turn_index, status = excluded.status,
    started_at = excluded.started_at, duration_ms = excluded.duration_ms,
    latency_ms = COALESCE(excluded.latency_ms, latency_ms),
    interrupted = excluded.interrupted, error = excluded.error,
    {", ".join(f"{c} = excluded.{c}" for c in TOKEN_FIELDS)}
"""


def _turn(conn: sqlite3.Connection, r: TurnRecord) -> None:
    conn.execute(
        _TURN_SQL,
        {
            "session_id": r.session_id,
            "response_id": r.response_id,
            "turn_index": r.turn_index,
            "status": r.status,
            "started_at": r.started_at,
            "duration_ms": r.duration_ms,
            "latency_ms": r.latency_ms,
            "interrupted": int(r.interrupted),
            "error": r.error,
            **r.usage.as_dict(),
        },
    )


def _interruption(conn: sqlite3.Connection, r: InterruptionRecord) -> None:
    conn.execute(
        """INSERT INTO interruptions (session_id, item_local_id, kind, at,
               position_ms, heard_chars, user_text) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (session_id, item_local_id, at) DO UPDATE SET
               kind = excluded.kind, user_text = COALESCE(excluded.user_text, user_text)""",
        (r.session_id, r.item_local_id, r.kind, r.at, r.position_ms, r.heard_chars, r.user_text),
    )


def _connection(conn: sqlite3.Connection, r: ConnectionRecord) -> None:
    conn.execute(
        """INSERT INTO connections (session_id, idx, reason, opened_at, server_session_id,
               expires_at, closed_at, close_code, close_reason)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (session_id, idx) DO UPDATE SET
               reason = excluded.reason,
               opened_at = excluded.opened_at,
               server_session_id = COALESCE(excluded.server_session_id, server_session_id),
               expires_at = COALESCE(excluded.expires_at, expires_at),
               closed_at = COALESCE(excluded.closed_at, closed_at),
               close_code = COALESCE(excluded.close_code, close_code),
               close_reason = COALESCE(excluded.close_reason, close_reason)""",
        (
            r.session_id,
            r.index,
            r.reason,
            r.opened_at,
            r.server_session_id,
            r.expires_at,
            r.closed_at,
            r.close_code,
            r.close_reason,
        ),
    )


def heartbeat(conn: sqlite3.Connection, session_ids: list[str], owner: Owner, now: float) -> None:
    """Refresh our sessions' heartbeat; revive one a reader marked crashed while we were
    suspended (it is ours and we are alive)."""
    conn.executemany(
        """UPDATE sessions SET heartbeat_at = ?,
               status = CASE WHEN status = 'crashed' THEN 'active' ELSE status END,
               end_reason = CASE WHEN status = 'crashed' THEN NULL ELSE end_reason END
           WHERE id = ? AND owner_pid = ? AND owner_host = ? AND status != 'ended'""",
        [(now, sid, owner.pid, owner.host) for sid in session_ids],
    )
