"""Session metrics, updated by the core as events arrive and shown on the dashboard and at exit."""

from __future__ import annotations

from dataclasses import dataclass, field

from realtime_cli.core.records import SessionFigures
from realtime_cli.usage import TokenUsage, TranscriptionUsage


@dataclass(slots=True)
class SessionMetrics:
    created_at: float
    connected_at: float | None = None
    ready_at: float | None = None
    closed_at: float | None = None
    last_activity: float = 0.0  # monotonic: the last speech, answer, key or playback end
    turns_by_kind: dict[str, int] = field(default_factory=dict)
    interruptions_by_kind: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    protocol_violations: int = 0
    unknown_events: int = 0
    refused_moves: int = 0  # transitions the server's events asked for in the wrong state
    reconnects: int = 0
    rollovers: int = 0
    tokens: TokenUsage = field(default_factory=TokenUsage)
    transcription: TranscriptionUsage = field(default_factory=TranscriptionUsage)  # its own bill
    audio_ms_sent: float = 0.0
    audio_ms_received: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    heard_fractions: list[float] = field(default_factory=list)  # of each interrupted answer

    audio_ms_heard_before: float = 0.0  # by earlier runs of a resumed session
    idle_s_before: float = 0.0

    def go_on_from(self, prior: SessionFigures) -> None:
        """A resumed session counts on from what its earlier runs stored."""
        self.turns_by_kind = {"user_audio": prior.user_turns, "assistant": prior.assistant_turns,
                              "tool_call": prior.tool_calls}
        self.interruptions_by_kind = {k: n for k, n in (
            ("speech_overlap", prior.speech_overlaps), ("cancel_request", prior.cancel_requests),
            ("manual_cancel", prior.manual_cancels)) if n}
        if prior.heard_fraction is not None:  # the average stays weighted by interruptions
            self.heard_fractions = [prior.heard_fraction] * prior.interruptions
        self.errors, self.reconnects, self.rollovers = (prior.errors, prior.reconnects,
                                                        prior.rollovers)
        self.audio_ms_sent, self.audio_ms_received = (prior.audio_sent_ms,
                                                      prior.audio_received_ms)
        self.audio_ms_heard_before, self.idle_s_before = prior.audio_heard_ms, prior.idle_s
        self.transcription = prior.transcription

    @property
    def time_to_ready_ms(self) -> float | None:
        if self.ready_at is None:
            return None
        return (self.ready_at - self.created_at) * 1000.0

    def duration_s(self, now: float) -> float:
        return (self.closed_at if self.closed_at is not None else now) - self.created_at

    @property
    def user_turns(self) -> int:
        """What the user said or typed: one per committed utterance or typed message."""
        return self.turns_by_kind.get("user_audio", 0) + self.turns_by_kind.get("user_text", 0)

    @property
    def assistant_turns(self) -> int:
        """Responses that said something (a response with only tool calls is not one)."""
        return self.turns_by_kind.get("assistant", 0)

    @property
    def tool_calls(self) -> int:
        return self.turns_by_kind.get("tool_call", 0)

    @property
    def interrupt_rate(self) -> float | None:
        """Interruptions per assistant turn."""
        return self.interruptions / self.assistant_turns if self.assistant_turns else None

    @property
    def average_heard_fraction(self) -> float | None:
        f = self.heard_fractions
        return sum(f) / len(f) if f else None

    @property
    def interruptions(self) -> int:
        return sum(self.interruptions_by_kind.values())

    def count_turn(self, kind: str) -> None:
        self.turns_by_kind[kind] = self.turns_by_kind.get(kind, 0) + 1

    def count_interruption(self, kind: str) -> None:
        self.interruptions_by_kind[kind] = self.interruptions_by_kind.get(kind, 0) + 1

    def reclassify_interruption(self, old: str, new: str) -> None:
        """One interruption turned out to be another kind (a spoken "stop" over the assistant
        is first heard as speech over it): it still counts once."""
        if self.interruptions_by_kind.get(old, 0) > 0:
            self.interruptions_by_kind[old] -= 1
            if not self.interruptions_by_kind[old]:
                del self.interruptions_by_kind[old]
            self.count_interruption(new)

    @property
    def last_latency_ms(self) -> float | None:
        return self.latencies_ms[-1] if self.latencies_ms else None

    @property
    def average_latency_ms(self) -> float | None:
        return sum(self.latencies_ms) / len(self.latencies_ms) if self.latencies_ms else None
