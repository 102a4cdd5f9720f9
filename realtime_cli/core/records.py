"""What the session core asks to be journaled, as plain frozen values.

The core emits `Journal(record)` commands carrying these; the storage adapter
(`storage/sqlite.py`) writes them. Records are upserts keyed by ids, so a later record for the
same item (its transcript arrived, it was truncated) completes the earlier one. Wall-clock
times are epoch seconds (for people); durations are milliseconds. No record ever holds a secret.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from realtime_cli.usage import TokenUsage, TranscriptionUsage


class ItemKind(enum.StrEnum):
    USER_AUDIO = "user_audio"
    USER_TEXT = "user_text"
    ASSISTANT = "assistant"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"
    FAILED = "failed"  # ended by an error (its reason says which)
    CRASHED = "crashed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted:
    """A new stored session, or (resumed=True) a stored one continuing in this process."""

    session_id: str
    created_at: float
    model: str
    voice: str
    instructions: str
    config: dict[str, Any]
    resumed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionRecord:
    """One WebSocket connection of a session: the first, each reconnect and each rollover."""

    session_id: str
    index: int
    reason: str  # "initial" | "reconnect" | "rollover" | "resume"
    opened_at: float
    server_session_id: str | None = None
    expires_at: float | None = None
    closed_at: float | None = None
    close_code: int | None = None
    close_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemRecord:
    """One conversation item, upserted by `local_id` (<= 32 chars, used as item id on replay).

    `seq` orders items within the session. For assistant items `heard_text` is the part the user
    heard (the whole transcript unless truncated) and `audio_end_ms` the truncation point.
    `audio` is PCM16 24 kHz mono (assistant audio already cut at the truncation point), or None
    when audio keeping is off or nothing changed since the last record for this item.
    """

    session_id: str
    local_id: str
    seq: int
    kind: ItemKind
    role: str  # "user" | "assistant" | "tool"
    server_id: str | None = None
    status: str = "completed"  # "in_progress" | "completed" | "incomplete"
    transcript: str | None = None
    heard_text: str | None = None
    truncated: bool = False
    audio_end_ms: int | None = None
    audio_ms: float = 0.0
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    response_id: str | None = None
    created_at: float = 0.0
    completed_at: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    audio: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class InterruptionRecord:
    session_id: str
    item_local_id: str
    kind: str  # "speech_overlap" | "cancel_request" | "manual_cancel"
    at: float
    position_ms: int
    heard_chars: int
    user_text: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnRecord:
    """Metrics of one response (one assistant turn), written at `response.done`."""

    session_id: str
    response_id: str
    turn_index: int
    status: str  # completed | cancelled | incomplete | failed
    started_at: float
    duration_ms: float
    latency_ms: float | None  # end of user speech -> first audio delta
    usage: TokenUsage = TokenUsage()  # as `response.done` reported it, cached split included
    interrupted: bool = False
    error: str | None = None  # "code: message" of a failed response


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionFigures:
    """The session's figures as the core counts them, upserted by session at the end of each
    turn and at the end: one definition of each for the dashboard, the exit summary,
    `rt sessions show` and `rt stats`. Durations in ms unless named `_s`."""

    session_id: str
    user_turns: int = 0
    assistant_turns: int = 0
    tool_calls: int = 0
    speech_overlaps: int = 0  # interruptions by kind
    cancel_requests: int = 0
    manual_cancels: int = 0
    heard_fraction: float | None = None  # average over interrupted answers, 0..1
    errors: int = 0
    time_to_ready_ms: float | None = None
    audio_sent_ms: float = 0.0
    audio_received_ms: float = 0.0
    audio_heard_ms: float = 0.0
    idle_s: float = 0.0  # time ready and waiting for the user
    reconnects: int = 0
    rollovers: int = 0
    last_activity_at: float | None = None  # wall
    transcription: TranscriptionUsage = TranscriptionUsage()  # the input transcription's bill

    @property
    def interruptions(self) -> int:
        return self.speech_overlaps + self.cancel_requests + self.manual_cancels

    @property
    def interrupt_rate(self) -> float | None:
        return self.interruptions / self.assistant_turns if self.assistant_turns else None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEnded:
    session_id: str
    ended_at: float
    status: SessionStatus
    reason: str


JournalRecord = (
    SessionStarted | ConnectionRecord | ItemRecord | InterruptionRecord | TurnRecord
    | SessionFigures | SessionEnded
)
