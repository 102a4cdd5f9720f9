"""Synthetic sessions for the storage tests: build journal records, write them in bulk."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from realtime_cli.core.records import (
    ConnectionRecord,
    InterruptionRecord,
    ItemKind,
    ItemRecord,
    JournalRecord,
    SessionEnded,
    SessionStarted,
    SessionStatus,
    TurnRecord,
)
from realtime_cli.storage.db import atomic, open_db
from realtime_cli.storage.sqlite import apply_record
from realtime_cli.usage import TokenUsage

SECRET = "sk-test-SECRETVALUE-0123456789abcdef"
MS = 24 * 2  # bytes of PCM16 24 kHz mono per millisecond


def pcm(ms: int, value: int = 1) -> bytes:
    return value.to_bytes(2, "little", signed=True) * (24 * ms)


def new_id() -> str:
    return uuid.uuid4().hex


def session_records(
    *,
    session_id: str | None = None,
    created_at: float = 1_800_000_000.0,
    model: str = "gpt-realtime",
    turns: int = 2,
    interrupt_last: bool = True,
    audio: bool = True,
    ended: bool = True,
    first_words: str = "Hello there, tell me about the weather in Paris",
) -> list[JournalRecord]:
    """A plausible session: per turn a user audio item, an assistant item and turn metrics.

    Each user item lasts 1000 ms, each assistant item 2000 ms; with `interrupt_last` the last
    assistant item is cut at 1240 ms after "Sure, the weather".
    """
    sid = session_id or new_id()
    t = created_at
    out: list[JournalRecord] = [
        SessionStarted(
            session_id=sid,
            created_at=t,
            model=model,
            voice="marin",
            instructions="Be brief.",
            config={"model": model, "voice": "marin", "api_key": SECRET},
        ),
        ConnectionRecord(session_id=sid, index=0, reason="initial", opened_at=t),
    ]
    seq = 0
    for n in range(turns):
        cut = interrupt_last and n == turns - 1
        user_id, asst_id, resp = f"u{n}", f"a{n}", f"resp_{n}"
        out.append(
            ItemRecord(
                session_id=sid,
                local_id=user_id,
                seq=seq,
                kind=ItemKind.USER_AUDIO,
                role="user",
                created_at=t + 1 + 5 * n,
                audio_ms=1000,
                audio=pcm(1000, 100) if audio else None,
                transcript=first_words if n == 0 else f"question {n}",
            )
        )
        out.append(
            ItemRecord(
                session_id=sid,
                local_id=asst_id,
                seq=seq + 1,
                kind=ItemKind.ASSISTANT,
                role="assistant",
                response_id=resp,
                created_at=t + 2 + 5 * n,
                transcript="Sure, the weather is sunny and warm today.",
                heard_text="Sure, the weather" if cut else None,
                truncated=cut,
                audio_end_ms=1240 if cut else None,
                audio_ms=2000,
                audio=(pcm(1240, -200) if cut else pcm(2000, -200)) if audio else None,
            )
        )
        if cut:
            out.append(
                InterruptionRecord(
                    session_id=sid,
                    item_local_id=asst_id,
                    kind="speech_overlap",
                    at=t + 3.24 + 5 * n,
                    position_ms=1240,
                    heard_chars=17,
                )
            )
        out.append(
            TurnRecord(
                session_id=sid,
                response_id=resp,
                turn_index=n,
                status="cancelled" if cut else "completed",
                started_at=t + 2 + 5 * n,
                duration_ms=2000,
                latency_ms=300.0 + 100 * n,
                usage=TokenUsage(
                    input_tokens=1000,
                    output_tokens=500,
                    cached_tokens=200,
                    input_text_tokens=100,
                    input_audio_tokens=900,
                    output_text_tokens=100,
                    output_audio_tokens=400,
                    cached_text_tokens=50,
                    cached_audio_tokens=150,
                ),
                interrupted=cut,
            )
        )
        seq += 2
    if ended:
        out.append(
            ConnectionRecord(
                session_id=sid,
                index=0,
                reason="initial",
                opened_at=t,
                closed_at=t + 60,
                close_code=1000,
            )
        )
        out.append(
            SessionEnded(
                session_id=sid, ended_at=t + 60, status=SessionStatus.ENDED, reason="user quit"
            )
        )
    return out


def write_records(
    db_path: str | os.PathLike[str], records: list[JournalRecord], *, keep_audio: bool = True
) -> None:
    """Write records synchronously in one transaction (fast set-up, not the journal path)."""
    conn = open_db(Path(db_path))
    try:
        with atomic(conn):
            for record in records:
                apply_record(conn, record, keep_audio=keep_audio)
    finally:
        conn.close()


def make_session(db_path: str | os.PathLike[str], **kwargs: object) -> str:
    records = session_records(**kwargs)  # type: ignore[arg-type]
    write_records(db_path, records)
    return records[0].session_id
