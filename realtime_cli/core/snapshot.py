"""An immutable picture of the core for the dashboard and plain output.

Taken on the event loop between inputs, so a renderer on another thread (Rich's refresh
thread) never reads state that is changing under it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from realtime_cli.core.states import SessionState
from realtime_cli.usage import TokenUsage, TranscriptionUsage


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    role: str  # user | assistant | tool
    kind: str  # ItemKind value
    text: str
    heard_chars: int | None = None  # set when cut: text[:heard_chars] was heard
    interrupted: bool = False
    streaming: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreSnapshot:
    session_id: str
    model: str
    voice: str
    state: SessionState
    connected: bool
    connection_index: int
    reconnects: int
    rollovers: int
    expires_in_s: float | None
    elapsed_s: float
    muted: bool
    push_to_talk: bool
    ptt_open: bool
    transcript: tuple[TranscriptLine, ...] = ()
    turns_by_kind: dict[str, int] = field(default_factory=dict)
    interruptions_by_kind: dict[str, int] = field(default_factory=dict)
    last_latency_ms: float | None = None
    avg_latency_ms: float | None = None
    time_to_ready_ms: float | None = None
    tokens: TokenUsage = field(default_factory=TokenUsage)
    transcription: TranscriptionUsage = field(default_factory=TranscriptionUsage)
    errors: int = 0
    notice_level: str | None = None
    notice_text: str | None = None
    assistant_turns: int = 0
    user_turns: int = 0
